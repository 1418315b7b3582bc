"""Rotary position embedding (RoPE) for queries and keys.

Why rotary and not the paper's axial embeddings: rotary has no learned table and no fixed
shape, so any length from 1 to `max_seq_len` works without the training length having to
factor into n1*n2; and q.k after rotation depends only on the *relative* offset, which is
what a model trained on 4K windows needs to make sense of 64K ones.

Convention: "rotate half" (GPT-NeoX style). Dimension i of the first half is paired with
dimension i + d/2; the pair is rotated by the angle position * base^(-2i/d). Angles are
computed in float64 so that positions near 2^17 keep full precision, then cast to fp32.
Rotation preserves vector length, so LSH keys may be normalised before or after it.
"""

from __future__ import annotations

import torch
from torch import nn

from reformer_cli.errors import InputError


class RotaryEmbedding(nn.Module):
    """Holds no parameters; caches the cos/sin tables of the longest length seen so far."""

    def __init__(self, d_head: int, base: float = 10000.0, max_seq_len: int = 131072):
        super().__init__()
        if d_head % 2:
            raise ValueError(f"rotary embedding needs an even head size, got {d_head}")
        self.d_head = d_head
        self.base = float(base)
        self.max_seq_len = max_seq_len
        self._cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def cos_sin(self, length: int, offset: int = 0, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """cos, sin tables for positions offset .. offset+length-1, each (length, d_head) fp32."""
        end = offset + length
        if end > self.max_seq_len:
            raise InputError(f"sequence position {end - 1} is beyond model.max_seq_len="
                             f"{self.max_seq_len}", "raise model.max_seq_len or use shorter input")
        device = torch.device("cpu") if device is None else torch.device(device)
        key = str(device)
        cached = self._cache.get(key)
        if cached is None or cached[0].shape[0] < end:
            size = max(end, 1024)
            half = self.d_head // 2
            inv_freq = self.base ** (-torch.arange(half, dtype=torch.float64) * 2.0 / self.d_head)
            angles = torch.arange(size, dtype=torch.float64)[:, None] * inv_freq[None, :]  # (size, d/2)
            angles = torch.cat([angles, angles], dim=-1)  # (size, d): both halves share angles
            cached = (angles.cos().float().to(device), angles.sin().float().to(device))
            self._cache[key] = cached
        return cached[0][offset:end], cached[1][offset:end]

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """Rotate x (..., L, d_head) as positions offset .. offset+L-1."""
        cos, sin = self.cos_sin(x.shape[-2], offset, x.device)
        return apply_rotary(x, cos, sin)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat([-second, first], dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x (..., L, d) rotated by the tables (L, d); the result keeps x's dtype."""
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return x * cos + rotate_half(x) * sin
