"""Attention layers with one interface:
    forward(hidden (B, L, D), padding_mask (B, L) | None, buckets=None) -> (out (B, L, D), buckets)
where only LSH layers use and return buckets (None elsewhere; see lsh_attention.py).

  full   exact attention, separate Q, K, V, through scaled_dot_product_attention (the baseline)
  naive  the same parameters and result, with the (L, L) score matrix materialised
         (only as memprofile's "plain transformer" row)
  local  shared-QK chunked attention: each chunk sees itself and the previous chunk
  lsh    shared-QK LSH attention (lsh_attention.py)

Each layer owns its input/output projections and applies rotary positions to queries and keys.
No LayerNorm and no dropout inside: the reversible block does those.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from reformer_cli.config.model import ModelConfig
from reformer_cli.core.chunked_ops import (
    HARD_MASK,
    SCORES_PER_BLOCK,
    chunked_attention,
    encode_positions,
    score_dtype,
    unit_keys,
)
from reformer_cli.core.flex_window import flex_local_attention, uses_flex
from reformer_cli.core.positions import RotaryEmbedding, rotate_heads_


class AttentionBase(nn.Module):
    """Attributes shared by every attention type."""

    def __init__(self, config: ModelConfig, layer_index: int):
        super().__init__()
        self.config = config
        self.layer_index = layer_index
        self.n_heads = config.n_heads
        self.d_head = config.d_head
        self.causal = config.causal
        self.rotary = RotaryEmbedding(config.d_head, config.rotary_base, config.max_seq_len)

    def rotated(self, projected: torch.Tensor) -> torch.Tensor:
        """Rotary positions 0 .. L-1 applied to a fresh projection output (B, L, H*d), in
        place where the dtype allows (nothing else may read `projected`)."""
        rotations = self.rotary.rotations(projected.shape[1], 0, projected.device)
        return rotate_heads_(projected, rotations, self.n_heads)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self.n_heads, self.d_head).transpose(1, 2)  # (B, H, L, d)

    def merge_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, length, _ = x.shape
        return x.transpose(1, 2).reshape(batch, length, self.n_heads * self.d_head)  # (B, L, D)


def mask_value(dtype: torch.dtype) -> float:
    """HARD_MASK where the dtype can hold it (fp32, bf16), the most negative finite fp16 else."""
    return max(HARD_MASK, torch.finfo(dtype).min)


class FullAttention(AttentionBase):
    """Exact attention with separate Q, K, V projections via scaled_dot_product_attention."""

    def __init__(self, config: ModelConfig, layer_index: int):
        super().__init__(config, layer_index)
        d_model = config.d_model
        self.query = nn.Linear(d_model, d_model, bias=False)
        self.key = nn.Linear(d_model, d_model, bias=False)
        self.value = nn.Linear(d_model, d_model, bias=False)
        self.output = nn.Linear(d_model, d_model, bias=False)

    def project(self, hidden: torch.Tensor):
        q = self.split_heads(self.rotated(self.query(hidden)))  # (B, H, L, d)
        k = self.split_heads(self.rotated(self.key(hidden)))
        v = self.split_heads(self.value(hidden))
        return q, k, v

    def additive_mask(self, padding_mask, length, dtype, device):
        """None, or an additive (B|1, 1, L|1, L) mask: causal and/or padding keys. Additive
        (not boolean) so a fully masked padding row gives a uniform softmax, never NaN."""
        if padding_mask is None:
            return None
        allowed = padding_mask.to(device=device, dtype=torch.bool)[:, None, None, :]  # (B,1,1,L)
        if self.causal:
            causal = torch.ones(length, length, dtype=torch.bool, device=device).tril()
            allowed = allowed & causal  # (B, 1, L, L): only when padding is given
        zeros = torch.zeros(allowed.shape, dtype=dtype, device=device)
        return zeros.masked_fill(~allowed, mask_value(dtype))

    def forward(self, hidden: torch.Tensor, padding_mask: torch.Tensor | None = None,
                buckets: None = None):
        q, k, v = self.project(hidden)
        mask = self.additive_mask(padding_mask, hidden.shape[1], q.dtype, q.device)
        if mask is None:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.output(self.merge_heads(out)), None


class NaiveAttention(FullAttention):
    """FullAttention with the (B, H, L, L) score matrix written out (memory baseline)."""

    def forward(self, hidden: torch.Tensor, padding_mask: torch.Tensor | None = None,
                buckets: None = None):
        q, k, v = self.project(hidden)
        length = hidden.shape[1]
        scores = torch.matmul(q, k.transpose(-1, -2)).to(score_dtype(q.dtype))  # (B, H, L, L)
        scores = scores / math.sqrt(self.d_head)
        mask = self.additive_mask(padding_mask, length, scores.dtype, q.device)
        if mask is not None:
            scores = scores + mask
        elif self.causal:
            future = torch.ones(length, length, dtype=torch.bool, device=q.device).triu(1)
            scores = scores.masked_fill(future, HARD_MASK)
        probs = torch.softmax(scores, dim=-1).to(v.dtype)
        return self.output(self.merge_heads(torch.matmul(probs, v))), None


def pad_to_length(hidden: torch.Tensor, padding_mask: torch.Tensor | None, padded_length: int):
    """Pad (B, L, D) at the end to (B, Lp, D), Lp = padded_length; returns (hidden, key_valid
    (B, Lp) or None when every position is real)."""
    batch, length, _ = hidden.shape
    extra = padded_length - length
    if extra:
        hidden = F.pad(hidden, (0, 0, 0, extra))
    if padding_mask is None and not extra:
        return hidden, None
    valid = torch.ones(batch, padded_length, dtype=torch.bool, device=hidden.device)
    valid[:, length:] = False
    if padding_mask is not None:
        valid[:, :length] = padding_mask.to(device=hidden.device, dtype=torch.bool)
    return hidden, valid


class SharedQKAttention(AttentionBase):
    """Projections of the shared-QK layers (local and LSH): keys are the unit-length queries
    (normalised inside chunked_attention; its module docstring has the notation, the masks and
    the identities the kernel relies on).

    Logit scale: q . k_unit / sqrt(d_head), i.e. |q| cos(angle) / sqrt(d_head)."""

    def __init__(self, config: ModelConfig, layer_index: int):
        super().__init__(config, layer_index)
        d_model = config.d_model
        self.query_key = nn.Linear(d_model, d_model, bias=False)
        self.value = nn.Linear(d_model, d_model, bias=False)
        self.output = nn.Linear(d_model, d_model, bias=False)
        self.scale = 1.0 / math.sqrt(config.d_head)
        # logits chunked_attention computes at once: a speed knob only (tests shrink it so
        # that every score block boundary is crossed)
        self.scores_per_block = SCORES_PER_BLOCK

    @staticmethod
    def unit_keys(q: torch.Tensor) -> torch.Tensor:
        """The keys of shared-QK attention (the same formula chunked_attention uses)."""
        return unit_keys(q)


class LocalAttention(SharedQKAttention):
    """Chunks of chunk_length attend to themselves and the previous chunk (the first chunk
    only to itself); O(L * 2c) per head."""

    def forward(self, hidden: torch.Tensor, padding_mask: torch.Tensor | None = None,
                buckets: None = None):
        batch, length, _ = hidden.shape
        chunk = self.config.chunk_length
        hidden, key_valid = pad_to_length(hidden, padding_mask, self.config.padded_length(length))
        padded_length = hidden.shape[1]
        n_chunks = padded_length // chunk
        groups = batch * self.n_heads

        q = self.split_heads(self.rotated(self.query_key(hidden)))  # (B, H, Lp, d)
        v = self.split_heads(self.value(hidden))
        if uses_flex(hidden.device):  # the GPU path (flex_window.py)
            out = flex_local_attention(q, v, key_valid, chunk, self.causal, self.scale)
            return self.output(self.merge_heads(out[:, :, :length])), None
        chunked = (groups, n_chunks, chunk, self.d_head)

        positions = torch.arange(padded_length, device=hidden.device)
        if key_valid is None:
            positions = positions.view(1, n_chunks, chunk)
        else:  # (B, Lp) -> (B*H, n, c), padding tokens encoded beyond every real query
            positions = encode_positions(positions, key_valid)[:, None]
            positions = positions.expand(batch, self.n_heads, padded_length)
            positions = positions.reshape(groups, n_chunks, chunk)
        no_look_back = torch.zeros(n_chunks, dtype=torch.bool, device=hidden.device)
        no_look_back[0] = True  # the first chunk has no predecessor (no wrap-around)
        out = chunked_attention(q.reshape(chunked), v.reshape(chunked), positions,
                                no_look_back, self.causal, self.scale,
                                scores_per_block=self.scores_per_block)
        out = out.view(batch, self.n_heads, padded_length, self.d_head)[:, :, :length]
        return self.output(self.merge_heads(out)), None
