"""Blanking spans of a text while keeping its length: every character offset into it still holds."""

from __future__ import annotations

import re

BLANK_LINE = re.compile(r"[ \t]*\r?(?:\n|\Z)")  # matched at a line's start
LINE_CONTENT = re.compile(r"[^\r\n]")
INVISIBLE_BLANK = "\u2060"  # what inline markup is blanked with: normalise drops it


def blank_spans(text: str, spans: list[tuple[int, int]], blank: str = " ") -> str:
    """`text` with every character in the (start, end) `spans` but "\\n" and "\\r" turned into
    `blank`; the spans may overlap."""
    if not spans:
        return text
    pieces, position = [], 0
    for start, end in sorted(spans):
        start = max(start, position)
        if start < end:
            pieces += [text[position:start], LINE_CONTENT.sub(blank, text[start:end])]
            position = end
    pieces.append(text[position:])
    return "".join(pieces)


def line_start(text: str, position: int) -> int:
    return text.rfind("\n", 0, position) + 1
