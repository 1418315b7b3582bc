"""Quote markers (rule 2 of the package docstring).

Quote markers: `>`, `> >`, `>>` at the start of a line (after at most 3 spaces), with one
space after them. Not `>>>` (a Python prompt) nor `>=`; a line of markers alone only inside
a quote (a line next to it is quoted too), so a lone ">" closing an SGML declaration stays.

Pure functions: no files, no terminal.
"""

from __future__ import annotations

import re

from reformer_cli.text.furniture.spans import BLANK_LINE

# Quote markers at a line start: "> ", "> > ", ">>" (not a ">>>" prompt, not ">=").
QUOTE = r"(?! {0,3}>>>) {0,3}>(?: ?>)*(?!=) ?"
QUOTE_MARKERS = re.compile(f"^{QUOTE}", re.MULTILINE)
QUOTED_TEXT = re.compile(f"{QUOTE}[ \t]*[^\\s>]")  # matched at a line's start: a quoted line with text


def quote_marker_spans(text: str) -> list[tuple[int, int]]:
    """The quote markers at line starts (with one space after them). A line of markers alone
    counts only next to quoted text, an indented marker only where the next line is quoted,
    blank or missing: in "   > <stdin>(2)f()" / "   (Pdb) p x", an indented pdb session, ">"
    marks the current frame."""
    if ">" not in text:
        return []
    spans = []
    for match in QUOTE_MARKERS.finditer(text):
        line_end = text.find("\n", match.end())
        line_end = len(text) if line_end < 0 else line_end
        if not text[match.end():line_end].strip() and not _next_to_quoted_text(text, match.start(), line_end):
            continue
        if text[match.start()] == " " and line_end < len(text) \
                and not QUOTE_MARKERS.match(text, line_end + 1) and not BLANK_LINE.match(text, line_end + 1):
            continue
        spans.append(match.span())
    return spans


def _next_to_quoted_text(text: str, line_start: int, line_end: int) -> bool:
    previous_start = text.rfind("\n", 0, max(line_start - 1, 0)) + 1
    return (line_start > 0 and QUOTED_TEXT.match(text, previous_start, line_start - 1) is not None) \
        or (line_end < len(text) and QUOTED_TEXT.match(text, line_end + 1) is not None)
