"""Token sequences the samplers read windows from: an in-memory array, or shards on disk read
through numpy.memmap, so resident memory holds only the pages the windows touch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np


class ArrayTokens:
    """Token ids held in memory (tests, small tools)."""

    def __init__(self, tokens: np.ndarray):
        self.tokens = np.asarray(tokens)

    def __len__(self) -> int:
        return len(self.tokens)

    def take(self, starts: np.ndarray, length: int) -> np.ndarray:
        """(B, length) int64: the `length` tokens from each start."""
        offsets = np.asarray(starts, dtype=np.int64)[:, None] + np.arange(length)[None, :]
        return self.tokens[offsets].astype(np.int64)

    def to_array(self) -> np.ndarray:
        return self.tokens


class ShardedTokens:
    """The concatenation of spans of shard files, memory-mapped; windows may cross shard ends.

    `spans`: (path, first token, token count) in order.
    """

    def __init__(self, spans: Sequence[tuple[Path, int, int]], dtype: str):
        kept = [(Path(path), int(first), int(count)) for path, first, count in spans if count > 0]
        dtype = np.dtype(dtype).newbyteorder("<")
        self.parts = [np.memmap(path, dtype=dtype, mode="r", offset=first * dtype.itemsize,
                                shape=(count,)) for path, first, count in kept]
        self.ends = np.cumsum([count for _, _, count in kept], dtype=np.int64)  # end of each part

    def __len__(self) -> int:
        return int(self.ends[-1]) if len(self.ends) else 0

    def take(self, starts: np.ndarray, length: int) -> np.ndarray:
        """(B, length) int64: the `length` tokens from each start, across shard ends."""
        rows = np.empty((len(starts), length), dtype=np.int64)
        for row, start in enumerate(np.asarray(starts, dtype=np.int64).tolist()):
            rows[row] = self.slice(start, start + length)
        return rows

    def slice(self, begin: int, end: int) -> np.ndarray:
        """Tokens [begin, end) as one array (a copy when it spans several shards)."""
        pieces = []
        part = int(np.searchsorted(self.ends, begin, side="right"))
        while begin < end:
            part_start = int(self.ends[part - 1]) if part else 0
            stop = min(end, int(self.ends[part]))
            pieces.append(self.parts[part][begin - part_start:stop - part_start])
            begin, part = stop, part + 1
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)

    def to_array(self) -> np.ndarray:
        """Every token in memory: for tests and small corpora only."""
        return self.slice(0, len(self)) if len(self) else np.zeros(0, dtype=np.int64)


def as_token_sequence(tokens) -> ArrayTokens | ShardedTokens:
    return tokens if isinstance(tokens, (ArrayTokens, ShardedTokens)) else ArrayTokens(tokens)
