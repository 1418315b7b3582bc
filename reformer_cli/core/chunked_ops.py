"""The shared core of local and LSH attention: chunks that attend to themselves and the
previous chunk, with masks computed from the ORIGINAL positions carried along.

Mask rules:
  hard: a key after the query (causal), a padding key, or a look-back that is disabled —
        probability exactly 0 (nothing leaks, not even gradients, so causality is exact);
  self: the query's own key gets the logit - 1e5 (SELF_MASK), i.e. a token attends to itself
        only when it has no other target (shared-QK makes q.k largest for the token itself).
        In fp32/fp64 exp(-1e5) is exactly 0, so the own key's weight is exactly 0 when any other
        key is allowed, and 1 (with log-sum-exp = own logit - 1e5) when none is: the code
        implements that limit directly instead of adding -1e5 to a logit.

Positions are float32 in here (exact below 2^24) so one comparison per block writes the
allowed-mask as 0/1 floats, which then MULTIPLIES the exponentials: on the CPU, multiplying by a
float mask is ~6x faster than masked_fill with a bool mask, and it needs no "minus infinity"
logits (exp of very negative numbers takes a scalar slow path in PyTorch's vectorised exp). A
real token carries its position p, a padding token PADDING_OFFSET + p (beyond every real query,
yet ordered among padding tokens), a disabled look-back key DISABLED_POSITION (beyond all).

Softmax without a row maximum: keys are unit vectors scaled by `scale`, so every logit of query
i lies in [-m_i, m_i] with m_i = |q_i| * scale. When every m_i <= UNSHIFTED_BOUND, exp(logit)
can neither overflow nor underflow, and the max pass is skipped. Otherwise (very large queries,
rare) the exact row maximum over the allowed keys is subtracted first, with clamping.

`chunked_attention` is a custom autograd Function in the spirit of FlashAttention: the forward
keeps no (chunks, c, 2c) tensor for the backward; the backward recomputes the scores from the
saved q, v and the per-row log of the softmax denominator. Both walk the chunks in blocks of
~1M logits, so every pass over a block's scores runs in cache and the memory is O(L * d) per
head. Keys (q scaled to unit length, times `scale`) are built per block and never stored whole;
the key gradient is folded into the query gradient block by block.
"""

from __future__ import annotations

import torch

HARD_MASK = -1e9  # additive mask for logits elsewhere (decoding); representable in fp32/bf16
SELF_MASK = -1e5  # the own key's logit offset (see above)
PADDING_OFFSET = 2 ** 22  # added to the position of a padding token; lengths must stay below
DISABLED_POSITION = 2 ** 24  # key position of a look-back that does not exist
UNSHIFTED_BOUND = 30.0  # exp(x) for |x| <= 30 (+ a few for sums) is safe in fp32
EXP_FLOOR, EXP_CEILING = -80.0, 80.0  # clamps of the shifted path: keep exp fast and finite
SCORES_PER_BLOCK = 2 ** 20  # logits per block (4 MiB fp32): a block's passes stay in cache


def encode_positions(positions: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """positions (..., L) int64 -> the same with PADDING_OFFSET added where valid is False."""
    if valid is None:
        return positions
    return torch.where(valid, positions, positions + PADDING_OFFSET)


def look_back(x: torch.Tensor) -> torch.Tensor:
    """(G, n, c, ...) -> (G, n, 2c, ...): each chunk preceded by the previous chunk (wrapping)."""
    return torch.cat([x.roll(1, dims=1), x], dim=2)


def window_key_positions(positions: torch.Tensor, no_look_back: torch.Tensor) -> torch.Tensor:
    """positions (G, n, c) encoded; no_look_back (n,) bool marks chunks whose look-back half
    must be ignored (the first chunk of a stream or of a round). Returns (G, n, 2c)."""
    chunk = positions.shape[-1]
    window = look_back(positions)  # (G, n, 2c)
    in_previous_half = torch.arange(2 * chunk, device=window.device) < chunk  # (2c,)
    disabled = no_look_back[:, None] & in_previous_half[None, :]  # (n, 2c)
    return window.masked_fill(disabled, DISABLED_POSITION)


def score_dtype(dtype: torch.dtype) -> torch.dtype:
    """Logits and softmax run in fp32 (fp64 stays fp64, for the reference tests)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _blocks(n_total: int, chunk: int):
    """(start, end) chunk ranges of ~SCORES_PER_BLOCK logits. The first block is chunk 0 alone,
    so the copy with_previous makes for it stays small."""
    step = max(1, SCORES_PER_BLOCK // (2 * chunk * chunk))
    starts = [0] + list(range(1, n_total, step)) if n_total else []
    return [(start, min(n_total, 1 if start == 0 else start + step)) for start in starts]


class _Stream:
    """The chunked stream (N, c, k) that attention walks: either a tensor already in stream
    order, or source rows (R, k) read through `rows` (N*c,) int64 (LSH: the sort order), so
    no sorted copy of the whole stream is ever made: each block gathers its own rows."""

    def __init__(self, tensor: torch.Tensor, rows: torch.Tensor | None, chunk: int):
        self.tensor, self.rows, self.chunk = tensor, rows, chunk

    def _read(self, start_row: int, end_row: int) -> torch.Tensor:
        return self.tensor.index_select(0, self.rows[start_row:end_row])

    def chunks(self, start: int, end: int) -> torch.Tensor:
        """Chunks start .. end-1, (b, c, k)."""
        if self.rows is None:
            return self.tensor[start:end]
        c = self.chunk
        return self._read(start * c, end * c).view(end - start, c, -1)

    def with_previous(self, start: int, end: int) -> torch.Tensor:
        """Chunks start-1 .. end-1, (b+1, c, k) contiguous. For start == 0 chunk 0 stands in
        for the missing chunk -1 (its look-back is always disabled)."""
        if start > 0:
            return self.chunks(start - 1, end).contiguous()
        return torch.cat([self.chunks(0, 1), self.chunks(0, end)], dim=0)


class _StreamGrad:
    """The gradient of a _Stream's tensor, filled block by block in chunk order: `put` for
    chunks no earlier block has touched, `add` for the rest (rows through the index: index_add,
    since LSH rounds read each source row several times)."""

    def __init__(self, stream: _Stream):
        self.stream = stream
        self.tensor = (torch.empty_like(stream.tensor) if stream.rows is None
                       else torch.zeros_like(stream.tensor))

    def _index_add(self, start: int, end: int, value: torch.Tensor) -> None:
        c = self.stream.chunk
        self.tensor.index_add_(0, self.stream.rows[start * c:end * c],
                               value.reshape(-1, value.shape[-1]))

    def put(self, start: int, end: int, value: torch.Tensor) -> None:
        if self.stream.rows is None:
            self.tensor[start:end] = value
        else:
            self._index_add(start, end, value)

    def add(self, start: int, end: int, value: torch.Tensor) -> None:
        if end <= start:
            return
        if self.stream.rows is None:
            self.tensor[start:end] += value
        else:
            self._index_add(start, end, value)


def _windows(with_previous: torch.Tensor) -> torch.Tensor:
    """(b+1, c, d) contiguous -> (b, 2c, d): each chunk preceded by the one before it, as a
    zero-copy overlapping view (bmm reads it directly)."""
    chunks, chunk, d = with_previous.shape
    return with_previous.as_strided((chunks - 1, 2 * chunk, d), (chunk * d, d, 1),
                                    with_previous.storage_offset())


def _block_logits(q_previous, key_scale_previous, extra_bias, start, end, dtype):
    """Keys of chunks start-1 .. end-1 (b+1, c, d) from their queries and key scales (also
    (b+1, c, ...)), built here and never stored whole, and the logits of chunks start .. end-1
    against their windows, (b, c, 2c) in `dtype`."""
    keys = q_previous * key_scale_previous
    scores = torch.bmm(q_previous[1:], _windows(keys).transpose(1, 2)).to(dtype)
    if extra_bias is not None:
        scores.add_(extra_bias[start:end])
    return keys, scores


def _allowed(query_positions, window_positions, causal, dtype):
    """0/1 mask of the keys a query may see, in the score dtype: (b, c, 2c) causal, else
    (b, 1, 2c) (only padding and disabled keys are excluded)."""
    if not causal:
        return torch.lt(window_positions, PADDING_OFFSET).to(dtype)[:, None, :]
    keys, queries = window_positions[:, None, :], query_positions[:, :, None]
    if query_positions.device.type != "cpu":
        return torch.le(keys, queries).to(dtype)
    # on the CPU, comparing straight into a float tensor is one pass instead of two
    blocks, chunk = query_positions.shape
    allowed = torch.empty(blocks, chunk, window_positions.shape[1], dtype=dtype)
    return torch.le(keys, queries, out=allowed)


def _masked_row_max(scores, allowed, chunk):
    """Maximum over the allowed keys other than the own one, (b, c, 1); 0 for rows with none."""
    masked = scores.masked_fill(allowed == 0, float("-inf"))
    masked.diagonal(offset=chunk, dim1=1, dim2=2).fill_(float("-inf"))
    row_max = masked.amax(dim=-1, keepdim=True)
    return torch.where(torch.isinf(row_max), torch.zeros_like(row_max), row_max)


class _ChunkedSharedQKAttention(torch.autograd.Function):
    """q, v: (N, c, d) in stream order, or source rows (R, d) read through `rows` (N*c,);
    positions float32 (N, c) and (N, 2c). Processes SCORES_PER_BLOCK logits at a time; nothing
    of size (N, c, 2c) is held, no (N, c, d) key tensor, and with `rows` no sorted copy of q
    or v either. Returns out (N, c, d) in stream order and lse (N, c)."""

    @staticmethod
    def forward(ctx, q, v, rows, query_positions, window_positions, causal, scale, extra_bias):
        n_total, chunk = query_positions.shape
        d = q.shape[-1]
        accumulate = score_dtype(q.dtype)
        norms = q.norm(dim=-1, keepdim=True)  # (N, c, 1) or (R, 1)
        key_scale = scale / norms.clamp_min(1e-6)  # keys = q * key_scale, |key| <= scale
        shifted = bool(norms.max() * scale > UNSHIFTED_BOUND) if n_total else False
        queries, values = _Stream(q, rows, chunk), _Stream(v, rows, chunk)
        key_scales = _Stream(key_scale, rows, chunk)
        out = v.new_empty(n_total, chunk, d)
        lse = torch.empty(n_total, chunk, dtype=accumulate, device=q.device)
        log_total = torch.empty_like(lse)  # log of each row's softmax denominator (+ shift)
        alone = torch.empty(n_total, chunk, dtype=torch.bool, device=q.device)  # self-only rows
        with torch.autocast(q.device.type, enabled=False):
            for start, end in _blocks(n_total, chunk):
                block = slice(start, end)
                _, scores = _block_logits(queries.with_previous(start, end),
                                          key_scales.with_previous(start, end), extra_bias,
                                          start, end, accumulate)
                own_logits = scores.diagonal(offset=chunk, dim1=1, dim2=2).clone()  # (b, c)
                allowed = _allowed(query_positions[block], window_positions[block], causal,
                                   accumulate)
                if shifted:
                    shift = _masked_row_max(scores, allowed, chunk)  # (b, c, 1)
                    weights = scores.sub_(shift).clamp_(EXP_FLOOR, EXP_CEILING).exp_()
                else:
                    weights = scores.exp_()  # |logit| <= UNSHIFTED_BOUND: no max pass needed
                weights.mul_(allowed)
                own = weights.diagonal(offset=chunk, dim1=1, dim2=2)
                own.zero_()
                total = weights.sum(dim=-1)  # (b, c)
                alone[block] = total == 0
                own.copy_(alone[block])  # the own key only when nothing else is allowed
                total.add_(alone[block])
                torch.bmm(weights.to(v.dtype), _windows(values.with_previous(start, end)),
                          out=out[block])
                out[block] /= total[..., None].to(v.dtype)
                log_total[block] = total.log_()
                if shifted:
                    log_total[block] += shift.squeeze(-1)
                lse[block] = torch.where(alone[block], own_logits + SELF_MASK, log_total[block])
        ctx.save_for_backward(q, v, rows, key_scale, query_positions, window_positions,
                              extra_bias, out, log_total, alone)
        ctx.causal, ctx.scale, ctx.shifted = causal, scale, shifted
        return out, lse

    @staticmethod
    def backward(ctx, grad_out, grad_lse):
        (q, v, rows, key_scale, query_positions, window_positions, extra_bias, out, log_total,
         alone) = ctx.saved_tensors
        n_total, chunk = query_positions.shape
        accumulate = score_dtype(q.dtype)
        queries, values = _Stream(q, rows, chunk), _Stream(v, rows, chunk)
        key_scales = _Stream(key_scale, rows, chunk)
        grad_out = grad_out.to(v.dtype).contiguous()
        grad_q, grad_v = _StreamGrad(queries), _StreamGrad(values)
        with torch.autocast(q.device.type, enabled=False):
            for start, end in _blocks(n_total, chunk):
                block = slice(start, end)
                q_previous = queries.with_previous(start, end)  # (b+1, c, d)
                scale_previous = key_scales.with_previous(start, end)
                q_block, block_grad_out = q_previous[1:], grad_out[block]
                keys, scores = _block_logits(q_previous, scale_previous, extra_bias, start, end,
                                             accumulate)
                key_window = _windows(keys)  # (b, 2c, d)
                probs = scores.sub_(log_total[block, :, None])
                if ctx.shifted:
                    probs.clamp_(EXP_FLOOR, EXP_CEILING)
                probs = probs.exp_().mul_(_allowed(query_positions[block],
                                                   window_positions[block], ctx.causal,
                                                   accumulate))
                probs.diagonal(offset=chunk, dim1=1, dim2=2).copy_(alone[block])  # (b, c, 2c)
                # d out/d logits = probs * (grad_probs - <grad_out, out>); d lse/d logits = probs
                row_term = (block_grad_out.to(accumulate) * out[block].to(accumulate)).sum(-1)
                row_term -= grad_lse[block].to(accumulate)  # (b, c)
                probs_v = probs.to(v.dtype)
                # values: the self half belongs to chunks start..end-1 (not touched by earlier
                # blocks), the look-back half to chunks start-1..end-2
                grad_v.put(start, end, torch.bmm(probs_v[:, :, chunk:].transpose(1, 2),
                                                 block_grad_out))
                previous_v = torch.bmm(probs_v[:, :, :chunk].transpose(1, 2), block_grad_out)
                grad_v.add(max(start - 1, 0), end - 1, previous_v if start else previous_v[1:])
                grad_scores = torch.bmm(
                    block_grad_out, _windows(values.with_previous(start, end)).transpose(1, 2))
                grad_scores = grad_scores.to(accumulate).sub_(row_term[..., None])
                grad_scores = grad_scores.mul_(probs).to(q.dtype)  # (b, c, 2c)
                grad_q.put(start, end, torch.bmm(grad_scores, key_window))
                # keys of chunks start-1..end-1: self halves and look-back halves, turned into
                # query gradients through keys = q * scale / |q| (row by row, so linear)
                key_grad = torch.bmm(grad_scores.transpose(1, 2), q_block)  # (b, 2c, d)
                from_keys = torch.zeros_like(q_previous)  # (b+1, c, d)
                from_keys[1:] = key_grad[:, chunk:]
                from_keys[:-1] += key_grad[:, :chunk]
                from_keys = _key_grad_to_query(q_previous, scale_previous, from_keys, ctx.scale)
                if start > 0:
                    grad_q.add(start - 1, end, from_keys)
                else:  # row 0 stands in for the missing chunk -1 (disabled: zero gradient)
                    grad_q.add(0, end, from_keys[1:])
        return grad_q.tensor, grad_v.tensor, None, None, None, None, None, None


def _key_grad_to_query(q, key_scale, key_grad, scale):
    """The gradient through keys = q * key_scale (key_scale = scale / |q|), row by row:
    dq = (scale / |q|) (dk - u <u, dk>) with u = q / |q| the unit key."""
    unit = q * (key_scale / scale)
    radial = (unit * key_grad).sum(dim=-1, keepdim=True)
    return (key_grad - unit * radial) * key_scale


def chunked_attention(q: torch.Tensor, v: torch.Tensor,
                      positions: torch.Tensor, no_look_back: torch.Tensor,
                      causal: bool, scale: float,
                      extra_bias: torch.Tensor | None = None,
                      rows: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Shared-QK attention of each chunk to itself and the previous chunk; the keys are the
    queries scaled to unit length, logits = q . k / |k| * scale.

    q, v: (G, n, c, d) in stream order (G = batch*heads, n chunks of c); or, with `rows`
    (G*n*c,) int64, source rows (R, d) of which stream slot i reads row rows[i] (LSH passes
    its sort order so the sorted stream is never materialised).
    positions (G|1, n, c): encoded original positions (encode_positions) of the stream's tokens,
    all below DISABLED_POSITION.
    no_look_back (n,) bool: chunks that see only themselves (at least chunk 0).
    extra_bias: optional fp32 (G, n, c, 2c) added to the logits (LSH duplicate correction),
    never differentiated.
    Returns out (G, n, c, d) in stream order and the log-sum-exp of each query's logits
    (G, n, c), fp32.
    """
    if rows is None:
        groups, n_chunks, chunk, d = q.shape
    else:
        n_chunks, chunk, d = positions.shape[1], positions.shape[2], q.shape[-1]
        groups = rows.numel() // (n_chunks * chunk)
    flat = groups * n_chunks
    if n_chunks * chunk >= PADDING_OFFSET:
        raise ValueError(f"chunked attention handles streams below {PADDING_OFFSET} positions")
    no_look_back = no_look_back.clone()
    no_look_back[0] = True  # its predecessor in the flat stream belongs to another group
    positions = positions.to(torch.float32).expand(groups, n_chunks, chunk)  # exact < 2^24
    window_positions = window_key_positions(positions, no_look_back).reshape(flat, 2 * chunk)
    query_positions = positions.reshape(flat, chunk)
    if extra_bias is not None:
        extra_bias = extra_bias.detach().reshape(flat, chunk, 2 * chunk)
    if rows is None:
        q, v = q.reshape(flat, chunk, d).contiguous(), v.reshape(flat, chunk, d).contiguous()
    else:
        q, v = q.contiguous(), v.contiguous()
    out, lse = _ChunkedSharedQKAttention.apply(q, v, rows, query_positions, window_positions,
                                               causal, scale, extra_bias)
    return out.view(groups, n_chunks, chunk, d), lse.view(groups, n_chunks, chunk)
