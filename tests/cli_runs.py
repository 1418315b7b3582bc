"""Running the `reformer` command inside the test process, and reading what a run wrote."""

from __future__ import annotations

import json
from pathlib import Path

from reformer_cli.cli import main


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
