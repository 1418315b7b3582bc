"""What `reformer eval` is given: pairs (document, reference) or held-out text. One home for
that decision: a file by its name (.jsonl, .jsonl.xz are pairs), stdin (`-`) by what it holds,
pairs when its first non-blank line is a JSON object with a "document"."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

PAIRS_SUFFIXES = (".jsonl", ".jsonl.xz")
STDIN = "-"


@dataclass(frozen=True)
class EvalInput:
    name: str  # as the user gave it: a path, or "-"
    is_pairs: bool
    stdin_data: bytes | None = None  # stdin can be read once: its bytes, read when deciding

    def records(self) -> list[dict]:
        """The (document, reference) records of a pairs input."""
        from reformer_cli.text.reading import read_summarization_records, summarization_records

        if self.stdin_data is None:
            return read_summarization_records(self.name)
        return summarization_records(self.stdin_data, "<stdin>")

    def text(self) -> str:
        """The held-out text of a text input."""
        from reformer_cli.text.reading import document_text, read_document

        if self.stdin_data is None:
            return read_document(self.name)
        return document_text(self.stdin_data, "stdin")


def eval_input(name: str) -> EvalInput:
    """The input `name` names, and whether it holds pairs (see the module doc)."""
    if name != STDIN:
        return EvalInput(name, name.lower().endswith(PAIRS_SUFFIXES))
    data = sys.stdin.buffer.read()
    return EvalInput(name, starts_like_pairs(data), data)


def starts_like_pairs(data: bytes) -> bool:
    """Whether the first non-blank line of `data` is a JSON object with a "document" field."""
    first_line = data.lstrip().split(b"\n", 1)[0]
    try:
        record = json.loads(first_line)  # bytes: UTF-8 (with or without BOM), -16 or -32
    except ValueError:  # not JSON, or not text at all
        return False
    return isinstance(record, dict) and "document" in record
