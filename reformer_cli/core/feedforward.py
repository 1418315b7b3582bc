"""The feed-forward sub-layer, applied a few positions at a time.

The feed-forward acts on every position alone, so running it on `chunk_size` positions at a time
gives the same result while only a (B, chunk_size, d_ff) hidden tensor exists at once instead of
(B, L, d_ff) -- at L = 64K and d_ff = 4096 that tensor alone would be 1 GiB in fp32.

The whole sub-layer is position-wise (pre-LayerNorm, Linear, GELU, dropout, Linear, dropout), so
the reversible backward can recompute and differentiate it chunk by chunk too (see
`reversible.py`); `chunk_slices` and `forward_chunk` are public for that reason. Dropout draws its
masks chunk after chunk in a fixed order, so a recompute that replays the RNG state and walks the
same chunks in the same order reproduces them exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from reformer_cli.config.model import ModelConfig


class ChunkedFeedForward(nn.Module):
    """LayerNorm -> Linear(d_model, d_ff) -> GELU -> dropout -> Linear(d_ff, d_model) -> dropout."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.norm = nn.LayerNorm(config.d_model)
        self.linear_in = nn.Linear(config.d_model, config.d_ff)
        self.linear_out = nn.Linear(config.d_ff, config.d_model)
        self.dropout = config.dropout
        self.chunk_size = config.ff_chunk_size  # 0 = the whole sequence at once

    def chunk_slices(self, length: int) -> list[slice]:
        """The position ranges processed one after another (the last one may be shorter)."""
        step = self.chunk_size if self.chunk_size > 0 else max(length, 1)
        return [slice(start, min(start + step, length)) for start in range(0, length, step)]

    def forward_chunk(self, hidden: torch.Tensor) -> torch.Tensor:
        """The sub-layer on a block of positions: (B, k, d_model) -> (B, k, d_model)."""
        inner = F.gelu(self.linear_in(self.norm(hidden)))  # (B, k, d_ff)
        inner = F.dropout(inner, self.dropout, self.training)
        return F.dropout(self.linear_out(inner), self.dropout, self.training)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """(B, L, d_model) -> (B, L, d_model), `chunk_size` positions at a time."""
        slices = self.chunk_slices(hidden.shape[1])
        if len(slices) <= 1:
            return self.forward_chunk(hidden)
        return torch.cat([self.forward_chunk(hidden[:, part]) for part in slices], dim=1)
