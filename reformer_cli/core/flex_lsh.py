"""LSH attention on the GPU: the sorted stream through flex_attention (flex_window.py).

The same attention as lsh_attention.py + chunked_ops.py (that module's docstring has the
steps and the rules), computed with few large kernels instead of blocks of small ones:

  1. one stable sort of the r*L keys (round*b + bucket)*L + position per head, as there;
  2. q and v gathered into sorted order, (B, H, r*L, d) (index_select through one flat index;
     its backward sums each token's r slots with gathers, in fp32, cast once: no atomics);
     keys = the sorted q scaled to unit length;
  3. flex_attention on the stream: chunks of c see their own and the previous chunk of the
     same round, hard masks from the original positions, never the own key; it returns each
     slot's output and log-sum-exp (-inf where a slot saw nothing);
  4. the rounds combined per token: out = sum_r softmax_r(lse_r) out_r, which is one
     softmax over every round's keys (a key met in two rounds counted twice unless the
     duplicate correction, a score_mod here, subtracts log(times met)). Computed with gathers
     in fp32, cast once; its backward sends each slot w_r dO and, through its lse,
     w_r <dO, out_r - out> (derivation in _CombineRounds). A token that saw no key in any
     round takes its own value (the chunked core's rule, the limit of the -1e5 self-mask).
Flex's own backward (fused) differentiates step 3, including the lse's gradient.

Memory: the sorted q, k, v and the per-slot output are r*L*d per head each, and flex keeps
them for its backward. Above STREAM_ELEMENTS_PER_PASS elements per stream tensor the heads go
in passes, each recomputed in its backward (_RecomputedPass), so one pass's copies live at a
time (1M tokens, 12 heads, 4 rounds: 12 passes of ~0.5 GiB per bf16 tensor).

Not measured on a GPU: see flex_window.py for the choice and what is tested where.
"""

from __future__ import annotations

import torch

from reformer_cli.core.chunked_ops import encode_positions, unit_keys
from reformer_cli.core.flex_window import window_attention

STREAM_ELEMENTS_PER_PASS = 2 ** 28  # sorted elements per tensor per pass (512 MiB in bf16)
ROWS_PER_SLICE = 2 ** 20  # rows per slice of the combine's backward (its fp32 temporaries)


def _accumulate_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


class SortedLayout:
    """Where every (round, token) of every head sits in the sorted stream.

    rows    (G*S,) int64: for stream slot s of group g = b*H + h, the row (b*L + t)*H + h of
            the token-major (B*L*H, d) tensors (t = the slot's token); reading q through it
            gives the sorted stream (B, H, S, d).
    unsort  (r, B*L*H) int64: for round r and token-major row (b, t, h), the stream slot
            g*S + s holding (r, t): the inverse of `rows`, one round at a time.
    token   (G, S) int64: the original position of every slot.
    undo    (G, S) int64: slot of (round r, token t) at r*L + t.
    """

    def __init__(self, buckets: torch.Tensor, n_buckets: int):
        batch, heads, n_hashes, length = buckets.shape
        groups, stream = batch * heads, n_hashes * length
        device = buckets.device
        positions = torch.arange(length, device=device)
        round_offsets = torch.arange(n_hashes, device=device)[:, None] * n_buckets  # (r, 1)
        sort_key = (buckets + round_offsets) * length + positions  # (B, H, r, L)
        order = sort_key.view(groups, stream).sort(dim=-1, stable=True).indices  # (G, S)
        self.token = order % length
        self.undo = torch.empty_like(order).scatter_(
            1, order, torch.arange(stream, device=device).expand(groups, stream))
        group = torch.arange(groups, device=device)
        group_row = (group // heads) * length * heads + group % heads  # row of token 0
        self.rows = (self.token * heads + group_row[:, None]).reshape(-1)
        slots = self.undo + (group * stream)[:, None]  # (G, r*L) flat slots
        self.unsort = slots.view(batch, heads, n_hashes, length).permute(2, 0, 3, 1)
        self.unsort = self.unsort.reshape(n_hashes, -1)  # (r, B*L*H)
        self.shape = (batch, heads, n_hashes, length)

    def sorted_positions(self, key_valid: torch.Tensor | None) -> torch.Tensor:
        """(B, H, S) int32: each slot's original position, encoded (padding beyond all)."""
        batch, heads, n_hashes, length = self.shape
        token = self.token.view(batch, heads, n_hashes * length)
        if key_valid is None:
            return token.to(torch.int32)
        encoded = encode_positions(torch.arange(length, device=token.device), key_valid)
        encoded = encoded[:, None].expand(batch, heads, length)  # (B, H, L)
        return encoded.gather(2, token).to(torch.int32)

    def slot_chunks(self, chunk: int) -> torch.Tensor:
        """(B, H, S, r) int32: for every slot, the chunk (within each round) of its token."""
        batch, heads, n_hashes, length = self.shape
        groups = batch * heads
        rank = self.undo.view(groups, n_hashes, length)
        rank = rank - torch.arange(n_hashes, device=rank.device)[:, None] * length
        chunk_of = rank // chunk  # (G, r, L): chunk of token t in round r
        token = self.token.view(groups, 1, -1).expand(groups, n_hashes, -1)
        per_slot = chunk_of.gather(2, token)  # (G, r, S)
        return per_slot.permute(0, 2, 1).reshape(batch, heads, -1, n_hashes).to(torch.int32)


class _ToStream(torch.autograd.Function):
    """Token-major rows (N, d) -> stream rows (G*S, d) through layout.rows. Backward: each
    token's gradient is the sum of its r slots' gradients, gathered round by round through
    layout.unsort and summed in fp32 (deterministic, no atomic adds), cast once."""

    @staticmethod
    def forward(ctx, token_rows, rows, unsort):
        ctx.save_for_backward(unsort)
        return token_rows.index_select(0, rows)

    @staticmethod
    def backward(ctx, grad):
        (unsort,) = ctx.saved_tensors
        grad = grad.contiguous()
        total = grad.index_select(0, unsort[0]).to(_accumulate_dtype(grad.dtype))
        for round_ in range(1, unsort.shape[0]):
            total += grad.index_select(0, unsort[round_])
        return total.to(grad.dtype), None, None


class _CombineRounds(torch.autograd.Function):
    """Stream outputs (G*S, d) and log-sum-exps (G*S,) -> token-major rows (N, d):
    out_t = sum_r w_rt out_rt with w_rt = softmax over the rounds r of lse_rt; a token whose
    lse is -inf in every round (it may see no key but its own) takes its own value v_t.
    A round where the token saw nothing (lse -inf, output 0) gets weight exactly 0.

    Backward, for the slot of (r, t), with dO = dL/dout_t:
        dL/dout_rt = w_rt dO
        dL/dlse_rt = sum_r' dO . out_r't dw_r't/dlse_rt = w_rt dO . (out_rt - out_t)
    (dw_r't/dlse_rt = w_r't ([r'=r] - w_rt)), and dL/dv_t = dO for the tokens alone. Read per
    slot through layout.rows, in slices of ROWS_PER_SLICE slots, in fp32, with the weights
    rebuilt exactly as the forward made them."""

    @staticmethod
    def forward(ctx, stream_out, stream_lse, token_values, rows, unsort):
        accumulate = _accumulate_dtype(stream_out.dtype)
        lse = stream_lse.to(accumulate).index_select(0, unsort.reshape(-1))
        lse = lse.view(unsort.shape)  # (r, N)
        largest = lse.amax(dim=0)  # (N,)
        alone = torch.isneginf(largest)
        largest = largest.masked_fill(alone, 0.0)
        weights = (lse - largest).exp_()  # 0 for the rounds that saw nothing
        total = weights.sum(dim=0).masked_fill_(alone, 1.0)  # (N,), at least 1
        weights /= total
        out = None
        for round_ in range(unsort.shape[0]):
            part = stream_out.index_select(0, unsort[round_]).to(accumulate)
            part *= weights[round_, :, None]
            out = part if out is None else out.add_(part)
        out = torch.where(alone[:, None], token_values.to(accumulate), out)
        out = out.to(stream_out.dtype)
        ctx.save_for_backward(stream_out, stream_lse, rows, largest, total, alone, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        stream_out, stream_lse, rows, largest, total, alone, out = ctx.saved_tensors
        accumulate = largest.dtype
        grad = grad.contiguous()
        grad_out = torch.empty_like(stream_out)
        grad_lse = torch.empty(stream_lse.shape, dtype=accumulate, device=grad.device)
        for start in range(0, rows.numel(), ROWS_PER_SLICE):
            part = slice(start, start + ROWS_PER_SLICE)
            token_rows = rows[part]
            weight = (stream_lse[part].to(accumulate) - largest.index_select(0, token_rows))
            weight = weight.exp_().div_(total.index_select(0, token_rows))  # (n,)
            token_grad = grad.index_select(0, token_rows).to(accumulate)  # (n, d)
            grad_out[part] = token_grad * weight[:, None]
            difference = stream_out[part].to(accumulate) - out.index_select(0, token_rows)
            grad_lse[part] = (token_grad * difference).sum(-1) * weight
        grad_values = grad * alone[:, None].to(grad.dtype)
        return grad_out, grad_lse.to(stream_lse.dtype), grad_values, None, None


def _lsh_heads(q, v, buckets, key_valid, n_buckets, chunk, causal, scale,
               duplicate_correction):
    """flex_lsh_attention for all the heads given (one pass)."""
    batch, length, heads, d = q.shape
    layout = SortedLayout(buckets, n_buckets)
    stream = buckets.shape[2] * length
    q_stream = _ToStream.apply(q.reshape(-1, d), layout.rows, layout.unsort)
    v_stream = _ToStream.apply(v.reshape(-1, d), layout.rows, layout.unsort)
    q_stream = q_stream.view(batch, heads, stream, d)
    v_stream = v_stream.view(batch, heads, stream, d)
    slot_chunks = layout.slot_chunks(chunk) if duplicate_correction else None
    out, lse = window_attention(q_stream, unit_keys(q_stream), v_stream,
                                layout.sorted_positions(key_valid), chunk, length // chunk,
                                causal, scale, slot_chunks)  # (B, H, S, d), (B, H, S)
    merged = _CombineRounds.apply(out.reshape(-1, d), lse.reshape(-1), v.reshape(-1, d),
                                  layout.rows, layout.unsort)  # (B*L*H, d)
    return merged.view(batch, length, heads, d)


class _RecomputedPass(torch.autograd.Function):
    """One pass of heads that keeps nothing but its inputs: the backward runs the pass again
    with autograd and differentiates it. (torch.utils.checkpoint would do, but its
    non-reentrant form gives wrong query gradients around flex_attention with a score_mod
    in torch 2.13's reference implementation, and its reentrant form refuses
    torch.autograd.grad, which the reversible backward uses.)"""

    @staticmethod
    def forward(ctx, q, v, buckets, key_valid, settings):
        ctx.save_for_backward(q, v, buckets, key_valid)
        ctx.settings = settings
        return _lsh_heads(q, v, buckets, key_valid, *settings)

    @staticmethod
    def backward(ctx, grad):
        q, v, buckets, key_valid = ctx.saved_tensors
        q, v = q.detach().requires_grad_(True), v.detach().requires_grad_(True)
        with torch.enable_grad():
            out = _lsh_heads(q, v, buckets, key_valid, *ctx.settings)
        grad_q, grad_v = torch.autograd.grad(out, (q, v), grad)
        return grad_q, grad_v, None, None, None


def heads_per_pass(batch: int, heads: int, stream: int, d_head: int) -> int:
    """How many heads one pass sorts at once (all, unless the copies would be large)."""
    per_head = batch * stream * d_head
    return max(1, min(heads, STREAM_ELEMENTS_PER_PASS // max(1, per_head)))


def flex_lsh_attention(q: torch.Tensor, v: torch.Tensor, buckets: torch.Tensor,
                       key_valid: torch.Tensor | None, n_buckets: int, chunk: int,
                       causal: bool, scale: float,
                       duplicate_correction: bool = False) -> torch.Tensor:
    """Shared-QK LSH attention through flex_attention.

    Args:
        q: (B, L, H, d) queries, rotary applied, token-major (as the LSH layer makes them);
           L a multiple of `chunk`. Keys are q / |q|; logits q . k * scale.
        v: (B, L, H, d) values (cast to q's dtype).
        buckets: (B, H, r, L) int64 in [0, n_buckets): round r's bucket of every token.
        key_valid: (B, L) bool, False for padding tokens (never attended), or None.
        duplicate_correction: subtract log(number of rounds in which a pair met).
    Returns:
        (B, L, H, d) in q's dtype: per token one softmax over every round's attended keys.
    Autocast is off inside: the dtypes are the caller's.
    """
    batch, length, heads, d = q.shape
    n_hashes = buckets.shape[2]
    settings = (n_buckets, chunk, causal, scale, duplicate_correction and n_hashes > 1)
    per_pass = heads_per_pass(batch, heads, n_hashes * length, d)
    v = v.to(q.dtype)
    with torch.autocast(q.device.type, enabled=False):
        if per_pass >= heads:
            return _lsh_heads(q, v, buckets, key_valid, *settings)
        outputs = []
        for start in range(0, heads, per_pass):
            part = slice(start, start + per_pass)
            # each pass keeps only its output; its sorted copies are rebuilt in the backward
            outputs.append(_RecomputedPass.apply(q[:, :, part], v[:, :, part],
                                                 buckets[:, part], key_valid, settings))
        return torch.cat(outputs, dim=2)
