"""The bounded sample of a large corpus that SentencePiece trains on.

Blocks of whole lines at seeded random offsets, spread over the files in proportion to their
size, until SAMPLE_BYTES: the tokenizer sees every part of the corpus, but memory and time do
not grow with it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from reformer_cli.text.reading import SourceFile, decode_piece

SAMPLE_BYTES = 16 << 20
BLOCK_BYTES = 1 << 18


def draw_sample(sources: Sequence[SourceFile], encoding: str, seed: int,
                budget: int = SAMPLE_BYTES, splittable: bool = True) -> list[str]:
    """Texts of about `budget` bytes in all, drawn from the files with `seed`."""
    total = sum(source.size for source in sources)
    if total <= budget or not splittable:
        return _whole_files(sources, encoding, budget)
    ends = np.cumsum([source.size for source in sources])
    rng = np.random.default_rng([seed, total])
    offsets = np.sort(rng.integers(0, total, budget // BLOCK_BYTES))
    texts = []
    for offset in offsets.tolist():
        number = int(np.searchsorted(ends, offset, side="right"))
        local = offset - (int(ends[number - 1]) if number else 0)
        texts.append(_block(sources[number], local, encoding))
    return [text for text in texts if text]


def _block(source: SourceFile, start: int, encoding: str) -> str:
    """The whole lines inside BLOCK_BYTES from `start` (the line cut at `start` is dropped)."""
    with open(source.path, "rb") as file:
        file.seek(start)
        data = file.read(BLOCK_BYTES)
    first = 0 if start == 0 else data.find(b"\n") + 1
    last = data.rfind(b"\n") + 1 if start + len(data) < source.size else len(data)
    if first <= 0 and start > 0 or last <= first:
        return ""
    return decode_piece(data[first:last], source.path, encoding, start + first)


def _whole_files(sources: Sequence[SourceFile], encoding: str, budget: int) -> list[str]:
    texts, used = [], 0
    for source in sources:
        if used >= budget:
            break
        with open(source.path, "rb") as file:
            data = file.read()
        texts.append(decode_piece(data, source.path, encoding, 0))
        used += len(data)
    return texts
