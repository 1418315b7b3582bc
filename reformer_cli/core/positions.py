"""Rotary position embedding (RoPE) for queries and keys.

Why rotary and not the paper's axial embeddings: rotary has no learned table and no fixed
shape, so any length from 1 to `max_seq_len` works without the training length having to
factor into n1*n2; and q.k after rotation depends only on the *relative* offset, which is
what a model trained on 4K windows needs to make sense of 64K ones.

Convention: interleaved pairs (RoFormer / GPT-J style). Dimensions 2i and 2i+1 form a pair,
rotated by the angle position * base^(-2i/d). Stored as complex numbers, a rotation is ONE
complex multiply per pair: about 6x faster on the CPU than the "rotate half" form, which needs
a concatenation, two products and a sum (and as many passes again in the backward).
Angles are computed in float64 so that positions near 2^17 keep full precision.
Rotation preserves vector length, so LSH keys may be normalised before or after it.
"""

from __future__ import annotations

import torch
from torch import nn

from reformer_cli.errors import InputError

# One table per (head size, base, device), shared by every layer and grown to the longest
# length seen: at 65,536 positions and d_head 64 it is 16 MiB, once rather than per layer.
_TABLES: dict[tuple[int, float, str], torch.Tensor] = {}


def rotation_table(d_head: int, base: float, length: int, device) -> torch.Tensor:
    """Unit complex numbers e^(i * position * base^(-2k/d)), (>= length, d_head/2) complex64."""
    key = (d_head, float(base), str(device))
    table = _TABLES.get(key)
    if table is None or table.shape[0] < length:
        size = max(length, 1024)
        inv_freq = float(base) ** (-torch.arange(d_head // 2, dtype=torch.float64) * 2.0 / d_head)
        angles = torch.arange(size, dtype=torch.float64)[:, None] * inv_freq[None, :]  # (size, d/2)
        table = torch.polar(torch.ones_like(angles), angles).to(torch.complex64).to(device)
        _TABLES[key] = table
    return table


class RotaryEmbedding(nn.Module):
    """Holds no parameters; the rotation table is shared (see rotation_table)."""

    def __init__(self, d_head: int, base: float = 10000.0, max_seq_len: int = 131072):
        super().__init__()
        if d_head % 2:
            raise ValueError(f"rotary embedding needs an even head size, got {d_head}")
        self.d_head = d_head
        self.base = float(base)
        self.max_seq_len = max_seq_len

    def rotations(self, length: int, offset: int = 0, device=None) -> torch.Tensor:
        """Rotations for positions offset .. offset+length-1, (length, d_head/2) complex64."""
        end = offset + length
        if end > self.max_seq_len:
            raise InputError(f"sequence position {end - 1} is beyond model.max_seq_len="
                             f"{self.max_seq_len}", "raise model.max_seq_len or use shorter input")
        device = torch.device("cpu") if device is None else torch.device(device)
        return rotation_table(self.d_head, self.base, end, device)[offset:end]

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """Rotate x (..., L, d_head) as positions offset .. offset+L-1."""
        return apply_rotary(x, self.rotations(x.shape[-2], offset, x.device))


def apply_rotary(x: torch.Tensor, rotations: torch.Tensor) -> torch.Tensor:
    """x (..., L, d) rotated by rotations (L, d/2) complex; the result keeps x's dtype and is
    contiguous. Computed in fp32 (complex64) for fp32/bf16/fp16 inputs, in fp64 for fp64."""
    complex_dtype = torch.complex128 if x.dtype == torch.float64 else torch.complex64
    real_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    pairs = x.to(real_dtype).reshape(*x.shape[:-1], x.shape[-1] // 2, 2)  # (..., L, d/2, 2)
    rotated = torch.view_as_complex(pairs) * rotations.to(complex_dtype)
    return torch.view_as_real(rotated).flatten(-2).to(x.dtype)  # (..., L, d)


def _head_pairs(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """(B, L, H*d) real, contiguous in the last dimension -> its (B, L, H, d/2) complex view."""
    batch, length, width = x.shape
    return torch.view_as_complex(x.view(batch, length, n_heads, width // n_heads // 2, 2))


class _RotateHeadsInPlace(torch.autograd.Function):
    """x (B, L, H*d) fp32/fp64, rotated in place head by head; the backward rotates the
    gradient back (conjugate rotations). A custom Function on the projection output itself
    (not on a view of it) so autograd needs no copy of the gradient to rebase a view."""

    @staticmethod
    def forward(ctx, x, rotations, n_heads):
        pairs = _head_pairs(x, n_heads)  # (B, L, H, d/2), a view of x
        pairs.mul_(rotations[:, None].to(pairs.dtype))
        ctx.mark_dirty(x)
        ctx.save_for_backward(rotations)
        ctx.n_heads = n_heads
        return x

    @staticmethod
    def backward(ctx, grad):
        (rotations,) = ctx.saved_tensors
        pairs = _head_pairs(grad.contiguous(), ctx.n_heads)
        unrotated = pairs * rotations[:, None].conj().to(pairs.dtype)
        return torch.view_as_real(unrotated).view(grad.shape), None, None


def rotate_heads_(x: torch.Tensor, rotations: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Rotary positions for a fresh projection output x (B, L, H*d) (heads side by side),
    rotations (L, d/2) complex. In place for fp32/fp64 (at 64K tokens a rotated copy is a
    fresh 64 MiB tensor per layer and pass); else (bf16/fp16 under autocast, or compiled) a
    rotated copy.
    Returns (B, L, H*d)."""
    batch, length, width = x.shape
    # a copy too under torch.compile, which cannot trace mark_dirty (and fuses the copy away)
    if x.dtype not in (torch.float32, torch.float64) or torch.compiler.is_compiling():
        heads = x.view(batch, length, n_heads, width // n_heads)
        return apply_rotary(heads, rotations[:, None]).view(batch, length, width)
    return _RotateHeadsInPlace.apply(x, rotations, n_heads)
