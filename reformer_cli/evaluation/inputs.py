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
    encoding: str | None = None  # None: what the bytes say (UTF-8, or UTF-16/32)

    def records(self) -> list[dict]:
        """The (document, reference) records of a pairs input."""
        from reformer_cli.text.reading import read_summarization_records, summarization_records

        if self.stdin_data is None:
            return read_summarization_records(self.name, self.encoding)
        return summarization_records(self.stdin_data, "<stdin>", self.encoding)

    def text(self) -> str:
        """The held-out text of a text input."""
        from reformer_cli.text.reading import document_text, read_document

        if self.stdin_data is None:
            return read_document(self.name, self.encoding)
        return document_text(self.stdin_data, "stdin", self.encoding)


def eval_input(name: str, encoding: str | None = None) -> EvalInput:
    """The input `name` names, and whether it holds pairs (see the module doc)."""
    if name != STDIN:
        return EvalInput(name, name.lower().endswith(PAIRS_SUFFIXES), encoding=encoding)
    data = sys.stdin.buffer.read()
    return EvalInput(name, starts_like_pairs(data, encoding), data, encoding)


def starts_like_pairs(data: bytes, encoding: str | None = None) -> bool:
    """Whether the first non-blank line of `data` (read by `encoding`, None: what its bytes
    say) is a JSON object with a "document" field."""
    from reformer_cli.text.encodings import auto_encoding

    try:
        text = data.decode(encoding or auto_encoding(data), errors="replace")
        record = json.loads(text.lstrip("\ufeff").lstrip().split("\n", 1)[0])
    except ValueError:  # not JSON, or not text at all (or a codec that cannot replace: idna)
        return False
    return isinstance(record, dict) and "document" in record
