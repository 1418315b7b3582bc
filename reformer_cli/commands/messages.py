"""The commands' one writer on stderr: notes (progress, timings, warnings) and one-line errors.

stdout carries only the product (generated text, the summary, a table or JSON), so
`reformer continue doc.txt > out.txt` works.
"""

from __future__ import annotations

import sys


def note(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def error(message: str) -> None:
    """One line, red on a terminal: the CLI's form of every ReformerError."""
    prefix = "\x1b[31merror:\x1b[0m " if sys.stderr.isatty() else "error: "
    note(prefix + message)
