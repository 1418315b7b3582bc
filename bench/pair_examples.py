"""Preparing --task extract training examples from real pairs: one process against a pool, in
the same run (the examples are the same; tests/test_pair_pool.py checks that); then what `reformer
train` does at its first start (prepare with the pool, keep the examples in the data folder)
against a later start (--resume, another torchrun rank: read them back; tests/test_pair_cache.py
checks they are the same).

    .venv/bin/python bench/pair_examples.py [--data ../shared/data/summarization] [--pairs 600]
                                            [--workers 0]

The first `--pairs` RFCs of the train split, a SentencePiece tokenizer of 8,000 pieces trained
on them first (not timed), windows of 2,048 tokens as extract.yaml has; `--workers` 0 means
one per CPU core. Prints seconds and pairs per second of each way and the ratios.
"""

from __future__ import annotations

import argparse
import itertools
import json
import lzma
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from attention_speed import matmul_gflops  # noqa: E402  (bench/ is this script's folder)

from reformer_cli.config.load import load_run_config  # noqa: E402
from reformer_cli.data.extraction import ExtractionExamples  # noqa: E402
from reformer_cli.text.tokenizer import train_sentencepiece  # noqa: E402
from reformer_cli.training.setup import prepare_data  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "summarization"))
    parser.add_argument("--pairs", type=int, default=600)
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    path = Path(args.data) / "rfc_abstract.train.jsonl.xz"
    if not path.exists():
        print(f"no training pairs at {path}; pass --data", file=sys.stderr)
        return 2
    with lzma.open(path, "rt", encoding="utf-8") as file:
        records = [json.loads(line) for line in itertools.islice(file, args.pairs)]
    pairs = [(record["document"], record["reference"]) for record in records]
    tokenizer = train_sentencepiece([text for pair in pairs for text in pair], vocab_size=8000)
    workers = args.workers or os.cpu_count() or 1
    print(f"CPU: plain 1024x1024 fp32 matmul {matmul_gflops():.0f} GFLOP/s; {os.cpu_count()} "
          f"cores; {len(pairs)} RFC pairs, seq_len 2048")
    timings = {}
    for label, count in (("one process", 1), (f"{workers} processes", workers)):
        started = time.perf_counter()
        examples = ExtractionExamples(pairs, tokenizer, 2048, workers=count)
        timings[label] = time.perf_counter() - started
        print(f"{label:>14}: {timings[label]:6.1f} s, {len(pairs) / timings[label]:5.1f} pairs/s, "
              f"{len(examples):,} windows")
    one, pooled = timings.values()
    print(f"speed-up: {one / pooled:.2f}x")
    with tempfile.TemporaryDirectory(prefix="pair-examples-") as folder:
        jsonl = Path(folder) / "pairs.jsonl"
        jsonl.write_text("".join(json.dumps({"document": d, "summary": s}) + "\n" for d, s in pairs))
        config = load_run_config(None, ["data.task=extract", "data.seq_len=2048",
                                        "data.val_fraction=0.02", f"data.workers={workers}"])
        starts = {}
        for label in ("first start", "next start"):
            started = time.perf_counter()
            prepare_data([str(jsonl)], config, tokenizer, data_dir=Path(folder) / "data")
            starts[label] = time.perf_counter() - started
        size = sum(path.stat().st_size for path in (Path(folder) / "data").iterdir())
        print(f"reformer train's preparation: first start {starts['first start']:.1f} s (prepare "
              f"with {workers} processes and keep, {size / 1e6:.1f} MB), next start "
              f"{starts['next start']:.2f} s (reuse): {starts['first start'] / starts['next start']:.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
