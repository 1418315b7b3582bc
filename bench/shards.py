"""Token shards on a large English corpus: encode speed, restart time, peak memory, torchrun.

    .venv/bin/python bench/shards.py                  # a 2,000 MB corpus (needs ~10 GB of /tmp)
    .venv/bin/python bench/shards.py --size-mb 100    # a quick check

The corpus is paragraphs of the shared English books (../shared/data/lm/*.en.txt) drawn at
random with a seed, written to a temporary folder in files of 64 MB. Reported:
- encode MB/s with the byte tokenizer and with SentencePiece (trained first on the bounded
  sample; its training time is shown apart), in 1 and 2 processes;
- the second `reformer train` on the same files: seconds from launch to its first step;
- the peak resident memory (VmHWM) of a short training run at a tenth of the size and at the
  full size, both on prepared shards;
- two torchrun processes on a fresh shard folder: one encode (rank 0), both train.
Not run by CI; numbers depend on the machine and on how busy it is.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from reformer_cli.config.run import DataConfig
from reformer_cli.shards.prepare import ShardOptions, prepare_shards

REPO = Path(__file__).resolve().parent.parent
BOOKS = REPO.parent / "shared" / "data" / "lm"
FILE_BYTES = 64 << 20
TINY_YAML = """\
model: {d_model: 64, n_heads: 2, d_ff: 128, n_layers: 2, layer_types: [local, lsh], chunk_length: 64}
data: {seq_len: 256}
train: {steps: 10, batch_size: 2, warmup_steps: 1, eval_every: 0, eval_batches: 1, log_every: 1,
        checkpoint_every: 0, device: cpu}
"""
# Run `reformer train` and report this process's peak resident memory on the last stderr line.
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent at fork.
PEAK_WRAPPER = """\
import sys
from reformer_cli.cli import main
try:
    main(sys.argv[1:])
finally:
    peak = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]
    sys.stderr.write(f'peak_rss_kib {peak}\\n')
"""
ENV = dict(os.environ, COLUMNS="200")


def build_corpus(folder: Path, size_mb: float, books: Path, seed: int) -> Path:
    """English paragraphs drawn at random (with `seed`) until `size_mb` MB, in 64 MB files."""
    paragraphs = [p.strip() for book in sorted(books.glob("*.en.txt"))
                  for p in book.read_text(encoding="utf-8").split("\n\n") if len(p.strip()) > 40]
    if not paragraphs:
        raise SystemExit(f"no English books (*.en.txt) in {books}")
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    target, written, number = int(size_mb * 1e6), 0, 0
    while written < target:
        with open(folder / f"part-{number:04d}.txt", "w", encoding="utf-8") as file:
            in_file = 0
            while in_file < FILE_BYTES and written + in_file < target:
                text = "\n\n".join(paragraphs[i] for i in rng.integers(0, len(paragraphs), 2000)) + "\n\n"
                file.write(text)
                in_file += len(text.encode("utf-8"))
        written, number = written + in_file, number + 1
    return folder


def corpus_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir())


def encode_speed(corpus: Path, work: Path, tokenizer: str, workers: int, given=None) -> tuple[float, object]:
    folder = Path(tempfile.mkdtemp(dir=work, prefix=f"enc-{tokenizer}-{workers}-"))
    data = DataConfig(tokenizer=tokenizer, vocab_size=4000)
    start = time.perf_counter()
    shards = prepare_shards([str(corpus)], data, 0, folder, tokenizer=given,
                            options=ShardOptions(workers=workers))
    seconds = time.perf_counter() - start
    subprocess.run(["rm", "-rf", str(folder)], check=True)
    return corpus_bytes(corpus) / seconds / 1e6, shards.tokenizer


def train_command(corpus: Path, cache: Path, config: Path, out: Path, *extra) -> list[str]:
    return [str(corpus), "--config", str(config), "--tokenizer", "byte", "--data-cache", str(cache),
            "--out", str(out), *map(str, extra)]


def seconds_to_first_step(args: list[str]) -> float:
    """Launch `reformer train`, return the seconds until it logs its first step."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "reformer_cli", "train", *args],
                               stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=ENV)
    first = None
    for line in process.stderr:
        if first is None and line.startswith("step 1/"):
            first = time.perf_counter() - start
    if process.wait() != 0 or first is None:
        raise SystemExit(f"reformer train failed: {args}")
    return first


def peak_rss_mib(args: list[str]) -> float:
    result = subprocess.run([sys.executable, "-c", PEAK_WRAPPER, "train", *args], capture_output=True,
                            text=True, env=ENV)
    if result.returncode != 0:
        raise SystemExit(result.stderr[-2000:])
    return int(result.stderr.strip().splitlines()[-1].split()[1]) / 1024


def torchrun(args: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                             "--nproc_per_node", "2", "-m", "reformer_cli", "train", *args],
                            capture_output=True, text=True, env=dict(ENV, OMP_NUM_THREADS="1"))
    if result.returncode != 0:
        raise SystemExit(result.stderr[-3000:])
    return time.perf_counter() - start, result.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=float, default=2000)
    parser.add_argument("--books", type=Path, default=BOOKS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=None, help="temporary folder (default: /tmp)")
    args = parser.parse_args()
    # Imported here, not at the top: the encoding processes re-import this script, and torch
    # would slow each one's start.
    from attention_speed import matmul_gflops  # bench/ is this script's folder

    print(f"CPU: {os.cpu_count()} cores, 1024^2 fp32 matmul {matmul_gflops():.0f} GFLOP/s")
    with tempfile.TemporaryDirectory(dir=args.work, prefix="shards-bench-") as temp:
        work = Path(temp)
        config = work / "tiny.yaml"
        config.write_text(TINY_YAML)
        full = build_corpus(work / "full", args.size_mb, args.books, args.seed)
        tenth = build_corpus(work / "tenth", args.size_mb / 10, args.books, args.seed + 1)
        print(f"corpus: {corpus_bytes(full) / 1e6:,.0f} MB in {len(list(full.iterdir()))} files")

        rows = []
        for workers in (1, 2):
            rows.append(("byte", workers, encode_speed(full, work, "byte", workers)[0]))
        start = time.perf_counter()
        sentencepiece = prepare_shards([str(tenth)], DataConfig(vocab_size=4000), 0, work / "sp-train",
                                       options=ShardOptions(small_corpus_bytes=0)).tokenizer
        print(f"SentencePiece (4,000 pieces) trained on its sample and encoding a tenth: "
              f"{time.perf_counter() - start:.1f} s")
        for workers in (1, 2):
            sentencepiece.encode_threads = 1  # one core per process: "1 process" means one core
            rows.append(("sentencepiece", workers, encode_speed(full, work, "sentencepiece", workers,
                                                                sentencepiece)[0]))
        print(f"\n{'tokenizer':<15}{'processes':>10}{'encode MB/s':>13}")
        for tokenizer, workers, speed in rows:
            print(f"{tokenizer:<15}{workers:>10}{speed:>13.1f}")

        cache = work / "cache-full"
        first = seconds_to_first_step(train_command(full, cache, config, work / "run-1", "--steps", "1"))
        second = seconds_to_first_step(train_command(full, cache, config, work / "run-2", "--steps", "1"))
        print(f"\nfirst run to its first step (encodes, byte): {first:.1f} s; second run: {second:.1f} s")

        small_cache = work / "cache-tenth"
        subprocess.run([sys.executable, "-m", "reformer_cli", "train",
                        *train_command(tenth, small_cache, config, work / "prep", "--prepare-only")],
                       check=True, capture_output=True, env=ENV)
        small = peak_rss_mib(train_command(tenth, small_cache, config, work / "rss-tenth"))
        large = peak_rss_mib(train_command(full, cache, config, work / "rss-full"))
        print(f"peak RSS of a 10-step run: {corpus_bytes(tenth) / 1e6:,.0f} MB corpus {small:,.0f} MiB, "
              f"{corpus_bytes(full) / 1e6:,.0f} MB corpus {large:,.0f} MiB")

        seconds, stderr = torchrun(train_command(full, work / "cache-torchrun", config, work / "run-ddp",
                                                 "--steps", "2"))
        encodes = stderr.count("encoded ")
        print(f"torchrun, 2 processes, fresh shard folder: {seconds:.1f} s in all, "
              f"{encodes} encode report(s) (rank 0 prepares, rank 1 maps)")


if __name__ == "__main__":
    main()
