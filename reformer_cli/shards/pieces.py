"""Cutting files into pieces that encode independently: byte ranges, each cut just after a line
end (text/tokenizer.py `cut_after_newlines` does the same for a text in memory).

Why after a line end: no SentencePiece piece contains a newline (see text/tokenizer.py), so the
ids of consecutive pieces concatenate to the ids of the whole text; a UTF-8 newline byte is never
inside a character, and a CR LF pair is never split.
"""

from __future__ import annotations

from dataclasses import dataclass

from reformer_cli.text.reading import SourceFile

PIECE_BYTES = 16 << 20  # one worker's bytes at a time: bounds its memory
LINE_SEARCH_BYTES = 1 << 16  # how far past a target cut to look for a line end


@dataclass(frozen=True)
class Piece:
    """Bytes [start, end) of a file; the last piece of a file is followed by the separator."""

    path: str
    start: int
    end: int
    last: bool


def plan_pieces(source: SourceFile, piece_bytes: int = PIECE_BYTES,
                splittable: bool = True) -> list[Piece]:
    """The pieces of one file, each about `piece_bytes` long. `splittable` False (UTF-16/32,
    where a newline byte can sit inside a character) keeps the file whole."""
    cuts = [0]
    if splittable:
        with open(source.path, "rb") as file:
            while cuts[-1] + piece_bytes < source.size:
                cuts.append(_cut_near(file, cuts[-1] + piece_bytes))
    cuts.append(source.size)
    return [Piece(source.path, start, end, last=end == source.size)
            for start, end in zip(cuts, cuts[1:]) if end > start]


def _cut_near(file, target: int) -> int:
    """The offset just after the first line end at or after `target`; without one nearby, the
    start of the character at `target` (never between CR and LF)."""
    file.seek(target)
    window = file.read(LINE_SEARCH_BYTES)
    newline = window.find(b"\n")
    if newline >= 0:
        return target + newline + 1
    skip = 0
    while skip < min(4, len(window)) and window[skip] & 0xC0 == 0x80:
        skip += 1  # a UTF-8 continuation byte: cut at the start of the next character
    cut = target + skip if skip < min(4, len(window)) else target
    file.seek(cut - 1)
    return cut - 1 if file.read(1) == b"\r" else cut

