"""Preparing --task extract training examples from real pairs: one process against a pool, in
the same run (the examples are the same; tests/test_pair_pool.py checks that).

    .venv/bin/python bench/pair_examples.py [--data ../shared/data/summarization] [--pairs 600]
                                            [--workers 0]

The first `--pairs` RFCs of the train split, a SentencePiece tokenizer of 8,000 pieces trained
on them first (not timed), windows of 2,048 tokens as extract.yaml has; `--workers` 0 means
one per CPU core. Prints seconds and pairs per second of each way and the ratio.
"""

from __future__ import annotations

import argparse
import itertools
import json
import lzma
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from attention_speed import matmul_gflops  # noqa: E402  (bench/ is this script's folder)

from reformer_cli.data.extraction import ExtractionExamples  # noqa: E402
from reformer_cli.text.tokenizer import train_sentencepiece  # noqa: E402


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
    return 0


if __name__ == "__main__":
    sys.exit(main())
