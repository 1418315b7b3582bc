"""The commands' one writer on stderr: notes (progress, timings, warnings) and one-line errors;
and the console their tables are printed to on stdout.

stdout carries only the product (generated text, the summary, a table or JSON), so
`reformer continue doc.txt > out.txt` works.
"""

from __future__ import annotations

import sys

# Piped or redirected, a table is as wide as its cells: rich would cut them at the width it
# assumes (80 columns, or $COLUMNS) with "…". A terminal's own width still applies.
UNCUT_WIDTH = 1 << 16


def note(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def error(message: str) -> None:
    """One line, red on a terminal: the CLI's form of every ReformerError."""
    prefix = "\x1b[31merror:\x1b[0m " if sys.stderr.isatty() else "error: "
    note(prefix + message)


def table_console():
    """A rich Console on stdout for a command's table (see UNCUT_WIDTH)."""
    from rich.console import Console

    return Console(file=sys.stdout, width=None if sys.stdout.isatty() else UNCUT_WIDTH)
