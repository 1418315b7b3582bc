"""Subtitle cue furniture (rule 4 of the package docstring).

Subtitles (SRT, WebVTT), when at least MIN_TIMING_LINES lines are cue timings
("00:00:01,000 --> 00:00:04,000", "00:01.000 --> 00:04.000 align:start"): the WEBVTT header
(its line and the lines up to the first blank one), NOTE, STYLE and REGION blocks, cue
timing lines, the line before a timing line when it is a number (an SRT index) or follows a
blank line (a WebVTT identifier, "intro"), and tags in cue text (`<v Bob>`, `</v>`,
`<c.yellow>`, `<i>`, `<b>`, `<u>`, `<font ...>`, `<00:00:05.000>`, `{\\an8}`). Then, so that
consecutive cues are one block (the segmenter joins the wrapped lines of a block into prose,
and a sentence is no longer cut where a cue ends), every run of line ends with only blank
or blanked lines between them becomes spaces but for its LAST "\\n": "cue one\\n\\n2\\n
00:00:02,000 --> ...\\ncue two" becomes "cue one" + spaces + "\\ncue two". Only there does a
"\\n" (or "\\r") become a space.

Pure functions: no files, no terminal.
"""

from __future__ import annotations

import re

from reformer_cli.text.furniture.spans import BLANK_LINE

MIN_TIMING_LINES = 3  # fewer cue timings than this: text that quotes one, not a subtitle file
TIMESTAMP = r"(?:\d+:)?\d{2}:\d{2}[,.]\d{3}"  # "00:00:01,000" (SRT), "00:01.000" (WebVTT)
TIMING_LINE = re.compile(f"^[ \t]*{TIMESTAMP}[ \t]+-->[ \t]+{TIMESTAMP}(?:[ \t\r][^\n]*)?$", re.MULTILINE)
CUE_INDEX = re.compile(r"[ \t]*\d+[ \t]*\r?")  # the whole line before a timing line
# A header or NOTE/STYLE/REGION block: its line and the lines after it up to a blank one.
VTT_BLOCK = re.compile(r"(?:\A\ufeff?WEBVTT|^(?:(?<=\n\n)|(?<=\n\r\n))(?:NOTE|STYLE|REGION))"
                       r"(?:[ \t][^\n]*)?\r?$(?:\n(?![^\n]*-->)[ \t]*\S[^\n]*)*", re.MULTILINE)
CUE_TAG = re.compile(r"</?(?:[vcibu]|lang|ruby|rt|font)(?:\.[\w.-]+)*(?:[ \t][^<>\n]*)?>"
                     r"|<(?:\d+:)?\d{2}:\d{2}\.\d{3}>|\{\\an?\d+\}", re.IGNORECASE)
CUE_GAP = re.compile(r"\n(?:[ \t\r]*\n)+")  # line ends with only blank lines between them


def subtitle_spans(text: str) -> list[tuple[int, int]]:
    """The cue furniture of an SRT or WebVTT file; nothing for text with fewer cue timings."""
    if "-->" not in text:
        return []
    timings = [match.span() for match in TIMING_LINE.finditer(text)]
    if len(timings) < MIN_TIMING_LINES:
        return []
    spans = list(timings)
    for timing_start, _ in timings:
        if timing_start >= 2:  # the line before: a cue index ("12"), a WebVTT identifier, or text
            index_start = text.rfind("\n", 0, timing_start - 1) + 1
            alone = index_start < 2 or BLANK_LINE.match(text, text.rfind("\n", 0, index_start - 1) + 1)
            if CUE_INDEX.fullmatch(text, index_start, timing_start - 1) \
                    or (alone and "-->" not in text[index_start:timing_start]):
                spans.append((index_start, timing_start - 1))
    spans += [match.span() for match in VTT_BLOCK.finditer(text)]
    spans += [match.span() for match in CUE_TAG.finditer(text)]
    return spans
