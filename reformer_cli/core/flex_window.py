"""The GPU path of chunked shared-QK attention: torch's flex_attention over a stream of chunks.

Chosen WITHOUT measurement on a GPU (none was available when it was written): flex_attention
is maintained PyTorch code that compiles the pattern below into one fused Triton kernel for
the forward and one for the backward, and its result and gradients could be checked here, on
the CPU, against the same fp64 brute-force references as the chunked core (flex's reference
implementation runs the same graph: tests/test_flex_attention.py). A hand-written Triton kernel
could read q and v through the sort index without the sorted copies made here, but its
backward could only have been tested in Triton's CPU interpreter; it is the next step if
measurements show the copies matter.

The pattern, on a stream of S slots (LSH: the sorted (round, bucket, position) slots; local:
the tokens in order) cut into chunks of c, with `chunks_per_round` chunks per hash round:

    query slot i sees key slot j  iff  chunk(j) == chunk(i), or chunk(j) == chunk(i) - 1 and
                                       chunk(i) is not the first chunk of its round;
                                  and  (causal) position(j) <= position(i),
                                       (not causal) position(j) is not a padding position,
                                  and  j != i (the own key, see below).

`positions` are the ORIGINAL positions of the slots, encoded as in chunked_ops (a padding
token carries PADDING_OFFSET + p), so the masks are exactly those of the chunked core.

Own key: never attended here (the mask excludes it). A slot that may see no key at all then
gets output 0 and log-sum-exp -inf from flex, and the caller gives a token that saw no key in
ANY round its own value (flex_lsh.py, flex_local_attention): the exact limit of the paper's
-1e5 self-mask, as in the chunked core. (Adding -1e5 to the own logit instead would be exact
in the forward but not in the backward: around -1e5, fp32 steps by 0.008, so when flex's
backward recomputes that logit with rounding different from its forward's, a token alone in
a round gets exp(+-0.008) instead of 1 as its own weight: gradients off by up to 0.8%.)

How it maps onto flex_attention:
  block mask  built from the chunk structure alone (never by evaluating the mask on S x S
              pairs): query block i (SPARSE_BLOCK slots) needs the key blocks that cover its
              chunks and their look-back chunks, a contiguous range; the transposed lists (for
              the backward) come from the same ranges. Built on the CPU once per (S, chunk,
              chunks_per_round) and cached on the device: no host sync in the hot path.
  mask_mod    the rule above, reading the positions of both slots and, per chunk, whether
              it may look back (a tensor, not a constant of the length, so a new length
              does not by itself force a new compilation);
  score_mod   only for the optional duplicate correction of LSH (flex_lsh.py).
On CUDA the call runs through torch.compile (flex's fused kernels); elsewhere it runs eagerly,
which materialises the scores (tests only: the CPU keeps the chunked core, see `uses_flex`).
"""

from __future__ import annotations

import functools
import os

import torch

from reformer_cli.core.chunked_ops import PADDING_OFFSET, encode_positions, unit_keys
from reformer_cli.errors import ConfigError, ResourceError

SPARSE_BLOCK = 128  # flex's default block size; its kernels are tuned for it
PATH_VARIABLE = "REFORMER_ATTENTION_PATH"  # auto (default) | flex | chunked
RECOMPILE_LIMIT = 64  # compiled variants of flex: (local | lsh) x chunk x dtype x lengths


def uses_flex(device: torch.device) -> bool:
    """Whether local and LSH layers on `device` take this path: CUDA does, the CPU keeps the
    chunked core (tuned for it). REFORMER_ATTENTION_PATH=chunked forces the chunked core on
    a GPU too (for comparisons, or if a torch version's flex fails); =flex forces this path
    (on the CPU only forward passes run: torch has no CPU backward for flex)."""
    choice = os.environ.get(PATH_VARIABLE, "auto")
    if choice not in ("auto", "flex", "chunked"):
        raise ConfigError(f"{PATH_VARIABLE}={choice!r} is not a known attention path",
                          "use auto, flex or chunked")
    if choice != "auto":
        return choice == "flex"
    return torch.device(device).type == "cuda"


# ---- block mask: the chunk structure, without evaluating the mask ----------------------------

def window_block_ranges(n_slots: int, chunk: int, chunks_per_round: int,
                        block: int = SPARSE_BLOCK):
    """For each query block, the first and last key block its rows may need, (n_blocks,) int64
    each, on the CPU. Both are non-decreasing in the query block."""
    n_blocks = -(-n_slots // block)
    starts = torch.arange(n_blocks) * block
    ends = (starts + block).clamp(max=n_slots) - 1
    first_chunk, last_chunk = starts // chunk, ends // chunk
    has_look_back = (first_chunk % chunks_per_round != 0).long()
    lowest = (first_chunk - has_look_back) * chunk  # the look-back chunk of the first chunk
    highest = ((last_chunk + 1) * chunk).clamp(max=n_slots) - 1
    return lowest // block, highest // block


def _index_lists(low: torch.Tensor, high: torch.Tensor):
    """Column ranges [low_i, high_i] per row -> (counts (n,), indices (n, width)) int32, each
    row padded with valid columns (flex reads the first entry even of an empty row)."""
    counts = (high - low + 1).clamp(min=0)
    width = max(1, int(counts.max())) if counts.numel() else 1
    indices = low[:, None] + torch.arange(width)[None, :]
    indices = torch.minimum(indices, high.clamp(min=low)[:, None])
    return counts.to(torch.int32), indices.clamp(0, max(0, low.numel() - 1)).to(torch.int32)


def window_block_lists(n_slots: int, chunk: int, chunks_per_round: int,
                       block: int = SPARSE_BLOCK):
    """(kv_counts, kv_indices, q_counts, q_indices) of the block-sparse pattern, CPU int32:
    key blocks per query block (forward) and query blocks per key block (backward)."""
    kv_low, kv_high = window_block_ranges(n_slots, chunk, chunks_per_round, block)
    kv_counts, kv_indices = _index_lists(kv_low, kv_high)
    # key block j is needed by the query blocks i with kv_low[i] <= j <= kv_high[i]: a
    # contiguous range of i, since both bounds are non-decreasing in i
    columns = torch.arange(kv_low.numel())
    q_low = torch.searchsorted(kv_high, columns, side="left")
    q_high = torch.searchsorted(kv_low, columns, side="right") - 1
    q_counts, q_indices = _index_lists(q_low, q_high)
    return kv_counts, kv_indices, q_counts, q_indices


@functools.lru_cache(maxsize=16)
def _pattern(n_slots: int, chunk: int, chunks_per_round: int, device: torch.device):
    """The block lists as (1, 1, ...) tensors on `device` (shared by every batch row and
    head) and the per-chunk look-back flags (n_chunks,) bool, built once per shape."""
    lists = window_block_lists(n_slots, chunk, chunks_per_round, SPARSE_BLOCK)
    look_back = torch.arange(-(-n_slots // chunk)) % chunks_per_round != 0
    return tuple(t.to(device)[None, None] for t in lists), look_back.to(device)


def window_block_mask(n_slots: int, block_lists, mask_mod):
    """flex's BlockMask of the pattern: every listed block is partial (positions decide),
    so `mask_mod` runs on all of them."""
    from torch.nn.attention.flex_attention import BlockMask

    kv_counts, kv_indices, q_counts, q_indices = block_lists
    return BlockMask(seq_lengths=(n_slots, n_slots), kv_num_blocks=kv_counts,
                     kv_indices=kv_indices, full_kv_num_blocks=None, full_kv_indices=None,
                     q_num_blocks=q_counts, q_indices=q_indices, full_q_num_blocks=None,
                     full_q_indices=None, BLOCK_SIZE=(SPARSE_BLOCK, SPARSE_BLOCK),
                     mask_mod=mask_mod)


# ---- the element rules ----------------------------------------------------------------------

def window_mask_mod(chunk: int, look_back: torch.Tensor, causal: bool,
                    positions: torch.Tensor | None):
    """mask_mod of the pattern. look_back (n_chunks,) bool: chunks that see their previous
    chunk; positions (B, H, S) int32 encoded, or None when the slot index is the position
    (local attention without padding)."""

    def mask_mod(b, h, q_idx, kv_idx):
        q_chunk, kv_chunk = q_idx // chunk, kv_idx // chunk
        window = (kv_chunk == q_chunk) | ((kv_chunk == q_chunk - 1) & look_back[q_chunk])
        if positions is None:
            query_position, key_position = q_idx, kv_idx
        else:
            query_position, key_position = positions[b, h, q_idx], positions[b, h, kv_idx]
        if causal:
            visible = key_position <= query_position
        else:
            visible = key_position < PADDING_OFFSET
        return window & visible & (q_idx != kv_idx)

    return mask_mod


def duplicate_score_mod(slot_chunks: torch.Tensor):
    """score_mod of LSH's duplicate correction: slot_chunks (B, H, S, r) int32 is the chunk,
    within each round, of each slot's token; the logit gets - log(number of rounds in which
    the key's chunk is the query's own chunk or its look-back chunk)."""
    n_rounds = slot_chunks.shape[-1]

    def score_mod(score, b, h, q_idx, kv_idx):
        met = None
        for round_ in range(n_rounds):
            query_chunk = slot_chunks[b, h, q_idx, round_]
            key_chunk = slot_chunks[b, h, kv_idx, round_]
            here = (key_chunk == query_chunk) | ((key_chunk == query_chunk - 1)
                                                 & (query_chunk > 0))
            met = here.to(torch.int32) if met is None else met + here.to(torch.int32)
        return score - torch.log(met.clamp(min=1).to(score.dtype))

    return score_mod


# ---- the call -------------------------------------------------------------------------------

LSE_THROUGH_AUX = True  # False takes the older `return_lse` keyword (tests cover both)


def _flex_call(flex_attention, q, k, v, score_mod, block_mask, scale, with_lse):
    """flex_attention (eager or compiled), returning (out, natural-log lse or None) on every
    torch version: `return_aux=AuxRequest(lse=True)` where it exists (2.9+), else the older
    `return_lse=True`."""
    from torch.nn.attention import flex_attention as flex

    kwargs = dict(score_mod=score_mod, block_mask=block_mask, scale=scale)
    if not with_lse:
        return flex_attention(q, k, v, **kwargs), None
    if LSE_THROUGH_AUX and hasattr(flex, "AuxRequest"):
        out, aux = flex_attention(q, k, v, return_aux=flex.AuxRequest(lse=True), **kwargs)
        return out, aux.lse
    return flex_attention(q, k, v, return_lse=True, **kwargs)


def _flex_attention(device: torch.device):
    """flex_attention itself: compiled on CUDA (its fused kernels), eager elsewhere."""
    from torch.nn.attention.flex_attention import flex_attention

    return _compiled_flex_attention() if device.type == "cuda" else flex_attention


@functools.lru_cache(maxsize=1)
def _compiled_flex_attention():
    from torch.nn.attention.flex_attention import flex_attention

    config = torch._dynamo.config
    for name in ("recompile_limit", "cache_size_limit"):  # the name changed in torch 2.6
        if hasattr(config, name):
            setattr(config, name, max(getattr(config, name), RECOMPILE_LIMIT))
            break
    # dynamic=None: the first length compiles a static kernel, a second one a dynamic kernel
    # that later lengths can share
    return torch.compile(flex_attention)


def window_attention(q, k, v, positions, chunk: int, chunks_per_round: int, causal: bool,
                     scale: float, slot_chunks=None, with_lse: bool = True):
    """Chunk-window attention on a stream. q, k, v (B, H, S, d) in stream order (k unit
    length), positions (B, H, S) int32 encoded or None, slot_chunks see duplicate_score_mod.
    Returns out (B, H, S, d) in q's dtype and its log-sum-exp (B, H, S) fp32 (None unless
    with_lse): -inf, with output 0, for a slot that may see no key. Autocast is off inside:
    the caller chose the dtypes."""
    n_slots = q.shape[2]
    block_lists, look_back = _pattern(n_slots, chunk, chunks_per_round, q.device)
    mask_mod = window_mask_mod(chunk, look_back, causal, positions)
    block_mask = window_block_mask(n_slots, block_lists, mask_mod)
    score_mod = None if slot_chunks is None else duplicate_score_mod(slot_chunks)
    from torch._dynamo.exc import BackendCompilerFailed  # (dynamo: imported by flex anyway)

    with torch.autocast(q.device.type, enabled=False):
        try:
            return _flex_call(_flex_attention(q.device), q, k, v.to(q.dtype), score_mod,
                              block_mask, scale, with_lse)
        except BackendCompilerFailed as error:
            first = " ".join(str(error).split())[:200]
            raise ResourceError(f"flex_attention could not be compiled here: {first}",
                                f"set {PATH_VARIABLE}=chunked to use the chunked core on "
                                "this GPU") from error


def flex_local_attention(q: torch.Tensor, v: torch.Tensor, key_valid: torch.Tensor | None,
                         chunk: int, causal: bool, scale: float) -> torch.Tensor:
    """Local attention (each chunk sees itself and the previous one; the first chunk only
    itself). q (rotary applied), v (B, H, Lp, d) with Lp a multiple of `chunk`; key_valid
    (B, Lp) bool or None. Returns (B, H, Lp, d) in q's dtype; autocast is off inside."""
    batch, heads, padded_length, _ = q.shape
    positions = None
    if key_valid is not None:
        encoded = encode_positions(torch.arange(padded_length, device=q.device), key_valid)
        positions = encoded[:, None].expand(batch, heads, padded_length)
        positions = positions.to(torch.int32).contiguous()  # (B, H, Lp)
    with torch.autocast(q.device.type, enabled=False):
        out, lse = window_attention(q, unit_keys(q), v, positions, chunk,
                                    padded_length // chunk, causal, scale)
        alone = torch.isneginf(lse)[..., None]  # may see no key but its own: its own value
        return torch.where(alone, v.to(out.dtype), out)
