"""Page furniture in paginated text: the running headers, footers and page numbers that RFCs
and text taken out of PDFs (pdftotext) carry on every page. Left in, "RFC 2869  RADIUS
Extensions  June 2000" opens the sentence that goes on after each page break, and "Rigney
[Page 12]" becomes a heading every fifty lines.

A line is furniture when it is
- an RFC-style footer (it ends with "[Page N]"), or the RFC's running header right after one;
- next to a form feed (the last line before one, the first at or after one), or the first
  line after such a footer, and either a page number or a line whose shape (digits
  aside) recurs in those places (a running header or footer).
Furniture is blanked with spaces of the same length, so every character offset into the text
still holds, and a sentence cut by the page break becomes one line again.

Pure functions: no files, no terminal.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter

FOOTER = re.compile(r"\[Page \d+\]\s*$")
RFC_HEADER = re.compile(r"\s*(?:RFC \d+|Internet-Draft)\s")  # "RFC 2869   RADIUS Extensions   June 2000"
PAGE_NUMBER = re.compile(r"^\s*(?:-\s*\d+\s*-|(?:page\s+)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?)\s*$",
                         re.IGNORECASE)
SENTENCE_STOPS = ".!?:;。！？；："
MAX_FURNITURE_CHARS = 120  # a longer line is text, whatever its place


def _shape(line: str) -> str:
    return re.sub(r"\d+", "#", " ".join(line.split())).lower()


def furniture_lines(lines: list[str]) -> set[int]:
    """Indexes of the lines of one text (split on "\\n", form feeds kept) that are furniture."""
    content = [i for i, line in enumerate(lines) if line.replace("\f", "").strip()]
    footers = {i for i in content if FOOTER.search(lines[i])
               and len(lines[i].strip()) <= MAX_FURNITURE_CHARS}
    breaks = [i for i, line in enumerate(lines) if "\f" in line]
    candidates: set[int] = set()
    headers = set()
    # A rank below is a place among the content lines: that of the line, or of the next one.
    for footer in footers:  # the next page's running header follows its footer
        rank = bisect_left(content, footer + 1)
        candidates.update(content[rank:rank + 1])
        headers.update(i for i in content[rank:rank + 1] if RFC_HEADER.match(lines[i].replace("\f", "")))
    for page_break in breaks:  # the line before a form feed and the line at or after it
        rank = bisect_left(content, page_break)
        candidates.update(content[max(0, rank - 1):rank + 1])
    candidates = {i for i in candidates - footers if len(lines[i].strip()) <= MAX_FURNITURE_CHARS}
    shapes = Counter(_shape(lines[i]) for i in candidates)
    return footers | headers | {i for i in candidates if shapes[_shape(lines[i])] >= 2
                                or PAGE_NUMBER.match(lines[i].replace("\f", ""))}


def blank_page_furniture(text: str) -> str:
    """`text` with its page furniture and form feeds turned into spaces (same length). Where a
    page break cuts a sentence (the line before it ends without a stop, the line after starts
    in lower case), the line ends in between become spaces too, so the two halves are one line."""
    if "\f" not in text and "[Page " not in text:
        return text
    lines = text.split("\n")
    found = furniture_lines(lines)
    blanked = [" " * len(line) if i in found else line.replace("\f", " ")
               for i, line in enumerate(lines)]
    joined = [False] * len(lines)  # joined[i]: the line end after line i becomes a space
    previous = None  # the last line with text
    gap_has_furniture = False
    for i, line in enumerate(blanked):
        if i in found:
            gap_has_furniture = True
        elif line.strip():
            if previous is not None and gap_has_furniture and line.lstrip()[:1].islower() \
                    and blanked[previous].rstrip()[-1] not in SENTENCE_STOPS:
                for between in range(previous, i):
                    joined[between] = True
            previous, gap_has_furniture = i, False
    pieces = []
    for i, line in enumerate(blanked):
        pieces.append(line)
        if i < len(lines) - 1:
            pieces.append(" " if joined[i] else "\n")
    return "".join(pieces)
