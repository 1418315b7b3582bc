"""How the chunked attention kernel (chunked_ops.py, whose docstring has the notation) reads
chunks of a per-slot tensor and writes sums back into it, for the two kinds of stream."""

from __future__ import annotations

import torch


class Stream:
    """How the kernel reads chunks of a per-slot tensor and writes sums back into it. Two
    kinds with one interface, chosen once per call: ContiguousStream (the tensor is
    (N, c, k) in stream order) and GatheredStream (source rows (R, k) read through the sort
    index, so no sorted copy of the stream is ever made). Writes go chunk range by chunk
    range in stream order: `add` for chunks no earlier score block touched, `add_with_previous`
    for those plus the chunk before them (which an earlier score block did touch)."""

    def __init__(self, chunk: int):
        self.chunk = chunk

    def read_with_previous(self, tensor: torch.Tensor, start: int, end: int) -> torch.Tensor:
        """Chunks start-1 .. end-1, (b+1, c, k) contiguous. For start == 0 chunk 0 stands in
        for the missing chunk -1 (its look-back is always disabled)."""
        if start > 0:
            return self.read(tensor, start - 1, end).contiguous()
        return torch.cat([self.read(tensor, 0, 1), self.read(tensor, 0, end)], dim=0)

    def add_with_previous(self, into: torch.Tensor, start: int, end: int,
                          value: torch.Tensor) -> None:
        """value (b+1, c, ...) for chunks start-1 .. end-1, added to `into`. For start == 0,
        value[0] belongs to the missing chunk -1 and is dropped."""
        if start == 0:
            self.add(into, 0, end, value[1:])
        else:
            self._add_including_previous(into, start, end, value)


class ContiguousStream(Stream):
    """Slot tensors (N, c, k) in stream order: every slot is written exactly once (plus the
    look-back half added into the chunk before), so sums need no initial fill."""

    def read(self, tensor, start, end):
        """Chunks start .. end-1, (b, c, k)."""
        return tensor[start:end]

    def sums_like(self, like, dtype, fill=0.0):
        return torch.empty_like(like, dtype=dtype)

    def add(self, into, start, end, value):
        into[start:end] = value

    def _add_including_previous(self, into, start, end, value):
        into[start - 1] += value[0]
        into[start:end] = value[1:]

    def running_max(self, into, start, end, value):
        into[start:end] = value


class GatheredStream(Stream):
    """Source rows (R, k) read through the sort index (N*c,): slot i is row sort_index[i].
    LSH rounds reach each row several times, so every write is an index_add (the rounds are
    summed right there)."""

    def __init__(self, sort_index: torch.Tensor, chunk: int):
        super().__init__(chunk)
        self.sort_index = sort_index

    def _index(self, start, end):
        return self.sort_index[start * self.chunk:end * self.chunk]

    def read(self, tensor, start, end):
        """Chunks start .. end-1, (b, c, k)."""
        return tensor.index_select(0, self._index(start, end)).view(end - start, self.chunk, -1)

    def sums_like(self, like, dtype, fill=0.0):
        return torch.full_like(like, fill, dtype=dtype)

    def add(self, into, start, end, value):
        into.index_add_(0, self._index(start, end),
                        value.reshape((-1,) + into.shape[1:]).to(into.dtype))

    def _add_including_previous(self, into, start, end, value):
        self.add(into, start - 1, end, value)

    def running_max(self, into, start, end, value):
        value = value.reshape((-1,) + into.shape[1:])
        index = self._index(start, end).view((-1,) + (1,) * (value.dim() - 1))
        into.scatter_reduce_(0, index.expand_as(value), value, "amax")
