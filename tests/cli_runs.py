"""Running the `reformer` command inside the test process, and reading what a run wrote."""

from __future__ import annotations

import json
from pathlib import Path

from reformer_cli.cli import main

# A model small enough for a training step in milliseconds on the CPU (byte tokenizer).
TINY_TRAIN_FLAGS = ["--seq-len", "128", "--tokenizer", "byte", "--set", "model.d_model=32",
                    "--set", "model.n_layers=2", "--set", "model.d_ff=64", "--set", "model.n_heads=2",
                    "--set", "model.chunk_length=32", "--set", "train.device=cpu"]


def write_pydoc_corpus(folder: Path, chars: int) -> Path:
    """corpus.txt in `folder`: the first `chars` characters of Python's pydoc topics."""
    from pydoc_data.topics import topics

    path = Path(folder) / "corpus.txt"
    path.write_text("\n\n".join(topics[key] for key in sorted(topics))[:chars])
    return path


def run_cli(capsys, *args) -> tuple[int, str, str]:
    """`reformer ARGS` in-process; returns (exit code, stdout, stderr)."""
    try:
        main([str(arg) for arg in args])
        code = 0
    except SystemExit as done:
        code = done.code
    out, err = capsys.readouterr()
    return code, out, err


def read_metrics(run: Path) -> list[dict]:
    """The records of a run's metrics.jsonl, in order."""
    return [json.loads(line) for line in (Path(run) / "metrics.jsonl").read_text().splitlines()]
