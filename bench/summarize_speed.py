"""Wall time of `reformer summarize` on one long document, start-up included (a fresh process each
time, as a user runs it): the default (the model shipped for English) beside the model-free method.

The document: the longest RFC in ../shared/data/summarization's English files, cut to --words
words at a line break; without that data, Python's pydoc topics cut the same way.

    .venv/bin/python bench/summarize_speed.py [--words 30000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import lzma
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from pydoc_data.topics import topics

from attention_speed import matmul_gflops  # bench/ is this script's folder

from reformer_cli.shipped_models import shipped_summarizer

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "summarization"
METHODS = {"default (shipped model)": [], "extractive (model-free)": ["--method", "extractive"]}


def long_text() -> tuple[str, str]:
    """(source, text) of the longest English document available."""
    documents = []
    for path in (DATA / "rfc_abstract.dev.jsonl", DATA / "rfc_abstract.train.jsonl.xz"):
        if path.exists():
            opener = lzma.open if path.suffix == ".xz" else open
            with opener(path, "rt", encoding="utf-8") as lines:
                records = [json.loads(line) for line in lines]
            documents += [(f"{path.name}: {record.get('id', '?')}", record["document"])
                          for record in records]
    if documents:
        return max(documents, key=lambda item: len(item[1].split()))
    return "pydoc topics", "\n\n".join(topics[key] for key in sorted(topics))


def cut_to_words(text: str, words: int) -> str:
    kept, count = [], 0
    for line in text.splitlines():
        count += len(line.split())
        if count > words:
            break
        kept.append(line)
    return "\n".join(kept)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=30000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    source, text = long_text()
    text = cut_to_words(text, args.words)
    print(f"document: {source}, {len(text.split()):,} words; shipped model: "
          f"{shipped_summarizer('en') or 'none'}")
    print(f"CPU: plain 1024x1024 fp32 matmul {matmul_gflops():.0f} GFLOP/s")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "document.txt"
        path.write_text(text, encoding="utf-8")
        for label, extra in METHODS.items():
            seconds = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                result = subprocess.run([sys.executable, "-m", "reformer_cli", "summarize", str(path),
                                         "--max-words", "200", *extra], capture_output=True, text=True)
                seconds.append(time.perf_counter() - started)
                if result.returncode != 0:
                    print(f"{label}: failed: {result.stderr.strip()}", file=sys.stderr)
                    return 1
            method = result.stderr.strip().splitlines()[-1]
            print(f"{label:26} median {statistics.median(seconds):6.2f} s  "
                  f"(runs: {', '.join(f'{s:.2f}' for s in seconds)})  [{method}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
