"""Shared-QK LSH self-attention (Kitaev et al. 2020), O(rounds * L * chunk) per head.

Steps of one forward (B batch, H heads, L padded length, r rounds, b buckets, c chunk):
  1. project: q (B, H, L, d) from one matrix; keys are q / |q|; values separately.
  2. hash q (detached, BEFORE rotary, so buckets depend on content only): per head and round
     a Gaussian rotation R (d, b/2), bucket = argmax([qR, -qR]). Large b is factorised
     (b = b1 * b2, one argmax per factor) so R stays small.
  3. ONE sort of the r*L integer keys (round*b + bucket)*L + position: rounds never mix and
     ties inside a bucket keep position order. q, v are read in that order through one
     index, block by block (no sorted copy).
  4. cut the sorted stream into chunks of c; each attends to itself and the previous chunk of
     the SAME round. The first chunk of each round only looks at itself (no wrap-around), so
     within a round no key is ever counted twice.
  5. masks on the ORIGINAL positions carried along: causal (hard), padding (hard), self (soft).
  6. combine the rounds with weights softmax_r(lse_r) (lse_r: the round's log-sum-exp). That
     equals ONE softmax over all the rounds' attended keys (a key met in two rounds counted
     twice), which is how it is computed: every block adds its unnormalised sums and
     denominators into the token's row, so un-sorting costs nothing extra (derivation:
     "Hash rounds, combined as ONE softmax" in chunked_ops.py).
     Optional duplicate correction subtracts log(N_ij), N_ij = number of rounds in which key j
     is in query i's attended set (paper, section 2.2 / trax).
Logit scale: q . (k / |k|) / sqrt(d_head).
"""

from __future__ import annotations

import torch

from reformer_cli.config.model import ModelConfig
from reformer_cli.core.attention import SharedQKAttention, pad_to_length
from reformer_cli.core.chunked_ops import chunked_attention, encode_positions, look_back
from reformer_cli.core.flex_lsh import flex_lsh_attention
from reformer_cli.core.flex_window import uses_flex
from reformer_cli.errors import InputError

FACTORISE_ABOVE = 64  # bucket counts above this are hashed as b1 * b2


def default_bucket_count(padded_length: int, chunk_length: int) -> int:
    """About 2 * L / c, rounded down to a power of two, at least 2."""
    target = max(2, (2 * padded_length) // chunk_length)
    return 2 ** (target.bit_length() - 1)


def bucket_factors(n_buckets: int) -> list[int]:
    """[b] or [b1, b2] with b1 * b2 = b (both even powers of two) for large powers of two."""
    if n_buckets <= FACTORISE_ABOVE or n_buckets & (n_buckets - 1):
        return [n_buckets]
    exponent = n_buckets.bit_length() - 1
    first = 2 ** ((exponent + 1) // 2)
    return [first, n_buckets // first]


def draw_rotations(n_heads: int, d_head: int, n_hashes: int, factors: list[int],
                   device, seed: int | None = None) -> torch.Tensor:
    """Random rotations (H, d, r, sum(factors)/2) fp32, always drawn on the CPU and then moved,
    so a seed means the same rotations on every device (a model trained on a GPU hashes alike
    on the CPU). With a seed: a private generator, so the global RNG is untouched; without:
    the global CPU RNG (fresh each forward)."""
    shape = (n_heads, d_head, n_hashes, sum(factors) // 2)
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator).to(device)


HASH_POSITIONS_PER_BLOCK = 4096  # positions hashed at a time: the projections stay small


def hash_vectors(vectors: torch.Tensor, rotations: torch.Tensor, factors: list[int],
                 positions_per_block: int = HASH_POSITIONS_PER_BLOCK) -> torch.Tensor:
    """Angular LSH. vectors (B, H, L, d), rotations (H, d, r, sum(f)/2) -> buckets (B, H, r, L)
    int64 in [0, prod(factors)). Works for a single new token too (L = 1). Hashed
    `positions_per_block` positions at a time: at 64K tokens the whole projection would be a
    fresh ~100 MiB tensor. Always fp32 with autocast off, so a token falls in the same bucket in
    training (under autocast) as at generation (without)."""
    length = vectors.shape[2]
    with torch.autocast(vectors.device.type, enabled=False):
        if length <= positions_per_block:
            return _hash_block(vectors, rotations, factors)
        return torch.cat([_hash_block(vectors[:, :, start:start + positions_per_block],
                                      rotations, factors)
                          for start in range(0, length, positions_per_block)], dim=-1)


def _hash_block(vectors, rotations, factors):
    projected = torch.einsum("bhld,hdrk->bhrlk", vectors.detach().float(), rotations.float())
    buckets = None
    start = 0
    for factor in factors:
        part = projected[..., start:start + factor // 2]
        # argmax over [part, -part] without building it: the largest of max and -min
        # (ties go to the first half, as argmax of the concatenation would)
        largest, largest_index = part.max(dim=-1)  # (B, H, r, l)
        smallest, smallest_index = part.min(dim=-1)
        index = torch.where(largest >= -smallest, largest_index, smallest_index + factor // 2)
        buckets = index if buckets is None else buckets * factor + index
        start += factor // 2
    return buckets


class LSHSelfAttention(SharedQKAttention):
    """Shared-QK LSH attention; same interface as the other attention layers."""

    def __init__(self, config: ModelConfig, layer_index: int):
        super().__init__(config, layer_index)
        self.n_hashes = config.n_hashes  # may be raised at evaluation

    def bucket_count(self, padded_length: int) -> int:
        if self.config.n_buckets:
            return self.config.n_buckets
        return default_bucket_count(padded_length, self.config.chunk_length)

    def rotation_seed(self) -> int | None:
        seed = self.config.hash_seed
        return None if seed is None else seed * 1_000_003 + self.layer_index

    def forward(self, hidden: torch.Tensor, padding_mask: torch.Tensor | None = None,
                buckets: torch.Tensor | None = None):
        """hidden (B, L, D) -> (output (B, L, D), the buckets used (B, H, r, Lp)). Given
        `buckets` (those a forward of the same input returned) are used instead of hashing: the
        reversible recompute must attend exactly as the recorded forward did."""
        batch, length, _ = hidden.shape
        hidden, key_valid = pad_to_length(hidden, padding_mask, self.config.padded_length(length))
        padded_length = hidden.shape[1]
        heads, d = self.n_heads, self.d_head

        # Token-major layout (B, Lp, H, d) throughout: the projections are views, and the
        # rounds are summed straight into the layout the output projection reads.
        projected = self.query_key(hidden)  # (B, Lp, H*d)
        v = self.value(hidden).view(batch, padded_length, heads, d)  # (B, Lp, H, d)

        n_buckets = self.bucket_count(padded_length)
        factors = bucket_factors(n_buckets)
        n_hashes = self.n_hashes if buckets is None else buckets.shape[2]
        # Drawn even when the buckets are given, so the recompute consumes the global RNG
        # exactly as the recorded forward did (dropout replay depends on it).
        rotations = draw_rotations(heads, d, n_hashes, factors, hidden.device,
                                   self.rotation_seed())
        if buckets is None:
            qk = projected.detach().view(batch, padded_length, heads, d).transpose(1, 2)
            buckets = hash_vectors(qk, rotations, factors)  # (B, H, r, Lp)
        elif tuple(buckets.shape) != (batch, heads, n_hashes, padded_length):
            raise InputError(f"buckets have shape {tuple(buckets.shape)}, expected "
                             f"{(batch, heads, n_hashes, padded_length)}",
                             "pass the buckets a forward of the same input returned")
        buckets = buckets.detach().to(hidden.device)

        q = self.rotated(projected).view(batch, padded_length, heads, d)  # (B, Lp, H, d)
        out = self.attend_sorted(q, v, buckets, key_valid, n_buckets)  # (B, Lp, H*d)
        return self.output(out[:, :length]), buckets

    def attend_sorted(self, q, v, buckets, key_valid, n_buckets):
        """Sort by (round, bucket, position), attend in chunks, un-sort and combine rounds.
        q, v (B, Lp, H, d); buckets (B, H, r, Lp). Returns (B, Lp, H*d)."""
        batch, padded_length, heads, d = q.shape
        groups, n_hashes = batch * heads, buckets.shape[2]
        chunk = self.config.chunk_length
        if uses_flex(q.device):  # the GPU path (flex_lsh.py)
            out = flex_lsh_attention(q, v, buckets, key_valid, n_buckets, chunk, self.causal,
                                     self.scale, self.config.duplicate_correction)
            return out.view(batch, padded_length, heads * d)
        stream = n_hashes * padded_length
        n_chunks = stream // chunk
        device = q.device

        positions = torch.arange(padded_length, device=device)
        round_offsets = torch.arange(n_hashes, device=device)[:, None] * n_buckets  # (r, 1)
        sort_key = (buckets + round_offsets) * padded_length + positions  # (B, H, r, Lp)
        _, order = sort_key.view(groups, stream).sort(dim=-1, stable=True)  # (G, r*Lp)
        token = order % padded_length  # original position of each stream slot

        # Row of (group g = b*H + h, token t) in the token-major (B*Lp*H, d) view: (b*Lp+t)*H+h.
        # One flat index reads q and v in sorted order and later scatters the rounds back.
        group = torch.arange(groups, device=device)
        group_base = ((group // heads) * padded_length * heads + group % heads)[:, None]  # (G, 1)
        flat_index = (token * heads + group_base).reshape(-1)  # (G*r*Lp,)

        encoded = encode_positions(positions, key_valid)  # (Lp,) or (B, Lp)
        if key_valid is None:
            sorted_positions = encoded[token]  # (G, r*Lp)
        else:
            encoded = encoded[:, None].expand(batch, heads, padded_length).reshape(groups, -1)
            sorted_positions = encoded.gather(1, token)
        sorted_positions = sorted_positions.view(groups, n_chunks, chunk)
        chunks_per_round = padded_length // chunk
        no_look_back = torch.arange(n_chunks, device=device) % chunks_per_round == 0

        extra_bias = None
        if self.config.duplicate_correction and n_hashes > 1:
            undo = torch.empty_like(order)  # inverse permutation: stream slot of (round, token)
            undo.scatter_(1, order, torch.arange(stream, device=device).expand(groups, stream))
            extra_bias = self.duplicate_log_counts(token, undo, n_chunks, chunk, n_hashes,
                                                   padded_length)

        # q and v are read in sorted order through flat_index, block by block (no sorted copy),
        # and every round's result is summed straight back into the token-major rows
        merged = chunked_attention(q.reshape(-1, d), v.reshape(-1, d), sorted_positions,
                                   no_look_back, self.causal, self.scale, extra_bias,
                                   rows=flat_index,
                                   scores_per_block=self.scores_per_block)  # (B*Lp*H, d)
        return merged.view(batch, padded_length, heads * d)

    @staticmethod
    def duplicate_log_counts(token, undo, n_chunks, chunk, n_hashes, padded_length):
        """-log N_ij for every (query, window key) pair, (G, n, c, 2c) fp32, where N_ij counts
        the rounds in which key j lies in query i's chunk or in its look-back chunk."""
        groups = token.shape[0]
        rank = undo.view(groups, n_hashes, padded_length)
        rank = rank - torch.arange(n_hashes, device=undo.device)[:, None] * padded_length
        chunk_of = (rank // chunk).transpose(1, 2)  # (G, Lp, r): chunk index within each round
        query_chunks = chunk_of.gather(1, token[..., None].expand(-1, -1, n_hashes))
        query_chunks = query_chunks.view(groups, n_chunks, chunk, n_hashes)
        key_chunks = look_back(query_chunks)[:, :, None]  # (G, n, 1, 2c, r)
        query_chunks = query_chunks[:, :, :, None]  # (G, n, c, 1, r)
        met = (key_chunks == query_chunks) | ((key_chunks == query_chunks - 1) & (query_chunks > 0))
        counts = met.sum(dim=-1).clamp_min(1)  # (G, n, c, 2c)
        return -torch.log(counts.float())
