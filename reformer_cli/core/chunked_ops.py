"""The shared core of local and LSH attention: chunks that attend to themselves and the
previous chunk, with masks computed from the ORIGINAL positions carried along.

Mask rules:
  hard: a key after the query (causal), a padding key, or a look-back that is disabled —
        probability exactly 0 (nothing leaks, not even gradients, so causality is exact);
  self: the query's own key gets the logit - 1e5 (SELF_MASK), i.e. a token attends to itself
        only when it has no other target (shared-QK makes q.k largest for the token itself).
        In fp32/fp64 exp(-1e5) is exactly 0, so the own key's weight is exactly 0 when any other
        key is allowed (in any hash round), and the token takes its own value when none is: the
        code implements that limit directly instead of adding -1e5 to a logit.

Positions are float32 in here (exact below 2^24) so one comparison per block writes the
allowed-mask as 0/1 floats, which then MULTIPLIES the exponentials: on the CPU, multiplying by a
float mask is ~6x faster than masked_fill with a bool mask, and it needs no "minus infinity"
logits (exp of very negative numbers takes a scalar slow path in PyTorch's vectorised exp). A
real token carries its position p, a padding token PADDING_OFFSET + p (beyond every real query,
yet ordered among padding tokens), a disabled look-back key DISABLED_POSITION (beyond all).

Softmax without a row maximum: keys are unit vectors scaled by `scale`, so every logit of query
i lies in [-m_i, m_i] with m_i = |q_i| * scale. When every m_i <= UNSHIFTED_BOUND, exp(logit)
can neither overflow nor underflow, and the max pass is skipped. Otherwise (very large queries,
rare) a first pass finds each row's largest allowed logit, which is subtracted, with clamping.

Hash rounds are combined inside: with `rows` (LSH) each block adds its UNnormalised sums
sum_j exp(l_ij) v_j and its denominators sum_j exp(l_ij) straight into the token's row, and
out = sums / denominators at the end. That is the paper's combination of rounds (each round's
output weighted by softmax over the rounds' log-sum-exps) without any per-round output,
un-sorting or weighting pass.

`chunked_attention` is a custom autograd Function in the spirit of FlashAttention: the forward
keeps no (chunks, c, 2c) tensor for the backward; the backward recomputes the scores from the
saved q, v and the per-row log of the softmax denominator. Both walk the chunks in blocks of
~1M logits, so every pass over a block's scores runs in cache and the memory is O(L * d) per
head. Keys (q scaled to unit length, times `scale`) are built per block and never stored whole;
the key gradient is folded into the query gradient block by block, and every gradient row a
block touches is written with one index_add.
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


def _blocks(n_total: int, chunk: int, scores_per_block: int):
    """(start, end) chunk ranges of ~scores_per_block logits. The first block is chunk 0 alone,
    so the copy with_previous makes for it stays small."""
    step = max(1, scores_per_block // (2 * chunk * chunk))
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


class _RowSums:
    """Sums into the rows a _Stream reads (the attention output, its denominators, the
    gradients of q and v), filled block by block in chunk order: `put` for chunks no earlier
    block has touched, `put_with_previous` for those plus the chunk before them. Through `rows`
    every write is an index_add (LSH rounds reach each source row several times, so the
    rounds are summed right here)."""

    def __init__(self, stream: _Stream, like: torch.Tensor, dtype: torch.dtype,
                 fill: float = 0.0):
        self.stream = stream
        self.tensor = (torch.empty_like(like, dtype=dtype) if stream.rows is None
                       else torch.full_like(like, fill, dtype=dtype))

    def _index_add(self, start: int, end: int, value: torch.Tensor) -> None:
        c = self.stream.chunk
        self.tensor.index_add_(0, self.stream.rows[start * c:end * c],
                               value.reshape((-1,) + self.tensor.shape[1:]).to(self.tensor.dtype))

    def put(self, start: int, end: int, value: torch.Tensor) -> None:
        """value (b, c, ...) for chunks start .. end-1."""
        if self.stream.rows is None:
            self.tensor[start:end] = value
        else:
            self._index_add(start, end, value)

    def put_with_previous(self, start: int, end: int, value: torch.Tensor) -> None:
        """value (b+1, c, ...) for chunks start-1 .. end-1; chunk start-1 (an earlier block's)
        is added to. For start == 0, value[0] belongs to the missing chunk -1 and is dropped."""
        if start == 0:
            self.put(0, end, value[1:])
        elif self.stream.rows is None:
            self.tensor[start - 1] += value[0]
            self.tensor[start:end] = value[1:]
        else:
            self._index_add(start - 1, end, value)

    def put_max(self, start: int, end: int, value: torch.Tensor) -> None:
        """The running maximum instead of the sum (the per-row shift of large logits)."""
        if self.stream.rows is None:
            self.tensor[start:end] = value
        else:
            c = self.stream.chunk
            value = value.reshape((-1,) + self.tensor.shape[1:])
            index = self.stream.rows[start * c:end * c]
            index = index.view((-1,) + (1,) * (value.dim() - 1)).expand_as(value)
            self.tensor.scatter_reduce_(0, index, value, "amax")


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
    keys = torch.mul(q_previous, key_scale_previous).to(q_previous.dtype)  # product in fp32
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
    """Maximum over the allowed keys other than the own one, (b, c, 1); -inf for rows with
    none."""
    masked = scores.masked_fill(allowed == 0, float("-inf"))
    masked.diagonal(offset=chunk, dim1=1, dim2=2).fill_(float("-inf"))
    return masked.amax(dim=-1, keepdim=True)


class _Blocks:
    """What every pass over the score blocks needs: the streams of q and of the key scales,
    the positions, the masks and the optional bias."""

    def __init__(self, queries, key_scales, query_positions, window_positions, causal,
                 extra_bias, accumulate):
        self.queries, self.key_scales = queries, key_scales
        self.query_positions, self.window_positions = query_positions, window_positions
        self.causal, self.extra_bias, self.accumulate = causal, extra_bias, accumulate

    def logits(self, start, end):
        """(q of chunks start-1 .. end-1 (b+1, c, d), their key scales (b+1, c, 1), their keys
        (b+1, c, d)), the logits (b, c, 2c) and the allowed mask (b, c|1, 2c) of chunks
        start .. end-1."""
        q_previous = self.queries.with_previous(start, end)
        scale_previous = self.key_scales.with_previous(start, end)
        keys, scores = _block_logits(q_previous, scale_previous, self.extra_bias, start, end,
                                     self.accumulate)
        allowed = _allowed(self.query_positions[start:end], self.window_positions[start:end],
                           self.causal, self.accumulate)
        return (q_previous, scale_previous, keys), scores, allowed

    def weights(self, start, end, subtract, clamp):
        """exp(logit - subtract) on the allowed keys, 0 elsewhere and on the own key;
        subtract (b, c, 1) or None. Returns (q_previous, scale_previous, keys) as in `logits`
        and the weights (b, c, 2c)."""
        previous, scores, allowed = self.logits(start, end)
        if subtract is not None:
            scores.sub_(subtract)
        if clamp:
            scores.clamp_(EXP_FLOOR, EXP_CEILING)
        weights = scores.exp_().mul_(allowed)
        weights.diagonal(offset=self.query_positions.shape[1], dim1=1, dim2=2).zero_()
        return previous, weights


ROWS_PER_PASS = 16384  # rows per slice of a row-wise pass (4 MiB at d = 64): stays in cache


def _row_dots(a: torch.Tensor, b: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """<a_i, b_i> for every row of two (..., d) tensors, as (..., 1) in `dtype`, a slice at a
    time (no (rows, d) product tensor)."""
    d = a.shape[-1]
    flat_a, flat_b = a.reshape(-1, d), b.reshape(-1, d)
    dots = torch.empty(flat_a.shape[0], 1, dtype=dtype, device=a.device)
    for start in range(0, flat_a.shape[0], ROWS_PER_PASS):
        rows = slice(start, start + ROWS_PER_PASS)
        dots[rows] = (flat_a[rows].to(dtype) * flat_b[rows].to(dtype)).sum(-1, keepdim=True)
    return dots.view(a.shape[:-1] + (1,))


class _ChunkedSharedQKAttention(torch.autograd.Function):
    """q, v: (N, c, d) in stream order, or source rows (R, d) read through `rows` (N*c,);
    positions float32 (N, c) and (N, 2c). Returns the attention output per ROW: (N, c, d), or
    (R, d) where every stream slot reading a row contributes to it (LSH: all hash rounds of a
    token, combined as one softmax). Processes SCORES_PER_BLOCK logits at a time; nothing of
    size (N, c, 2c) is held, no key tensor, and with `rows` no sorted copy of q or v and no
    per-round output either: each block adds its UNnormalised sums sum_j exp(l_ij) v_j and
    its denominators sum_j exp(l_ij) into the rows, and out = sums / denominators at the end.
    That is exactly the rounds weighted by softmax over their log-sum-exps (paper, sec. 2.2,
    with the duplicate correction as a bias), without ever storing a round's result."""

    @staticmethod
    def forward(ctx, q, v, rows, query_positions, window_positions, causal, scale, extra_bias,
                scores_per_block):
        n_total, chunk = query_positions.shape
        d = q.shape[-1]
        accumulate = score_dtype(q.dtype)
        # Everything below chooses its dtypes itself: under autocast, CUDA would run the norm
        # in fp32 (its fp32 list) while the CPU keeps it in q's dtype.
        with torch.autocast(q.device.type, enabled=False):
            norms = torch.linalg.vector_norm(q, dim=-1, keepdim=True,
                                             dtype=accumulate)  # (N, c, 1) or (R, 1)
            # keys = q * key_scale, |key| <= scale. Kept in fp32: for a zero (padding) query
            # scale / 1e-6 is beyond fp16's range, and inf * 0 would be NaN
            key_scale = scale / norms.clamp_min(1e-6)
            # fp16 values cannot hold exp(30): that dtype always takes the shifted path
            shifted = q.dtype == torch.float16 or (
                bool(norms.max() * scale > UNSHIFTED_BOUND) if n_total else False)
            queries, values = _Stream(q, rows, chunk), _Stream(v, rows, chunk)
            blocks = _Blocks(queries, _Stream(key_scale, rows, chunk), query_positions,
                             window_positions, causal, extra_bias, accumulate)
            row_scalars = norms  # only its shape, dtype and device are used
            shift = (_row_shifts(blocks, queries, row_scalars, scores_per_block) if shifted
                     else None)
            shifts = None if shift is None else _Stream(shift, rows, chunk)
            # sums in fp32 (fp64 for fp64), cast once at the end: one rounding, in any order
            sums = _RowSums(values, v, accumulate)
            totals = _RowSums(values, row_scalars, accumulate)
            for start, end in _blocks(n_total, chunk, scores_per_block):
                _, weights = blocks.weights(
                    start, end, None if shifts is None else shifts.chunks(start, end), shifted)
                sums.put(start, end, torch.bmm(weights.to(v.dtype),
                                               _windows(values.with_previous(start, end))))
                totals.put(start, end, weights.sum(dim=-1, keepdim=True))  # (b, c, 1)
        out, total = sums.tensor, totals.tensor
        alone = total == 0  # rows that may see no key but their own (in every round)
        total.masked_fill_(alone, 1.0)
        out = out.div_(total).to(v.dtype)
        alone_rows = alone.view(-1).nonzero().squeeze(1)
        out.view(-1, d).index_copy_(0, alone_rows, v.reshape(-1, d).index_select(0, alone_rows))
        log_total = total.log_()  # (N, c, 1) or (R, 1): log of each row's denominator
        if shift is not None:
            log_total += shift
        ctx.save_for_backward(q, v, rows, key_scale, query_positions, window_positions,
                              extra_bias, out, log_total, alone_rows)
        ctx.causal, ctx.scale, ctx.shifted = causal, scale, shifted
        ctx.scores_per_block = scores_per_block
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (q, v, rows, key_scale, query_positions, window_positions, extra_bias, out, log_total,
         alone_rows) = ctx.saved_tensors
        n_total, chunk = query_positions.shape
        d = q.shape[-1]
        accumulate = score_dtype(q.dtype)
        with torch.autocast(q.device.type, enabled=False):  # dtypes chosen here, as forward
            queries, values = _Stream(q, rows, chunk), _Stream(v, rows, chunk)
            blocks = _Blocks(queries, _Stream(key_scale, rows, chunk), query_positions,
                             window_positions, ctx.causal, extra_bias, accumulate)
            grad_out = grad_out.to(v.dtype).contiguous()
            # d out_i / d l_ij = p_ij (v_j - out_i): the row term <grad_out_i, out_i> per row
            row_term = _row_dots(grad_out, out, accumulate)
            grads, row_terms = _Stream(grad_out, rows, chunk), _Stream(row_term, rows, chunk)
            log_totals = _Stream(log_total, rows, chunk)
            grad_q = _RowSums(queries, q, accumulate)  # fp32 sums, cast once (as forward)
            grad_v = _RowSums(values, v, accumulate)
            for start, end in _blocks(n_total, chunk, ctx.scores_per_block):
                (q_previous, scale_previous, keys), probs = blocks.weights(
                    start, end, log_totals.chunks(start, end), ctx.shifted)  # (b, c, 2c)
                block_grad_out = grads.chunks(start, end)  # (b, c, d)
                # values: each window key's gradient, the windows folded back onto chunks
                # start-1 .. end-1
                window_grad_v = torch.bmm(probs.to(v.dtype).transpose(1, 2), block_grad_out)
                grad_v.put_with_previous(start, end, _fold_windows(window_grad_v, accumulate))
                grad_scores = torch.bmm(
                    block_grad_out, _windows(values.with_previous(start, end)).transpose(1, 2))
                grad_scores = grad_scores.to(accumulate).sub_(row_terms.chunks(start, end))
                grad_scores = grad_scores.mul_(probs).to(q.dtype)  # (b, c, 2c)
                # queries of chunks start-1 .. end-1: through the keys (keys = q * scale / |q|,
                # row by row) and, for chunks start .. end-1, as queries
                window_grad_keys = torch.bmm(grad_scores.transpose(1, 2), q_previous[1:])
                grad_q_block = _key_grad_to_query(q_previous, scale_previous,
                                                  _fold_windows(window_grad_keys, accumulate),
                                                  ctx.scale)  # (b+1, c, d)
                _add_bmm_(grad_q_block[1:], grad_scores, _windows(keys))
                grad_q.put_with_previous(start, end, grad_q_block)
        # a row alone in every round took its own value
        own_grad = grad_out.view(-1, d).index_select(0, alone_rows)
        grad_v.tensor.view(-1, d).index_add_(0, alone_rows, own_grad.to(accumulate))
        return grad_q.tensor.to(q.dtype), grad_v.tensor.to(v.dtype), None, None, None, None, None, None, None


def _row_shifts(blocks: _Blocks, queries: _Stream, like: torch.Tensor,
                scores_per_block: int) -> torch.Tensor:
    """The largest allowed logit of each row over all its stream slots (0 for rows with none),
    shaped like `like`: subtracted before exp when logits could overflow (huge queries)."""
    n_total, chunk = blocks.query_positions.shape
    shift = _RowSums(queries, like, like.dtype, fill=float("-inf"))
    for start, end in _blocks(n_total, chunk, scores_per_block):
        _, scores, allowed = blocks.logits(start, end)
        shift.put_max(start, end, _masked_row_max(scores, allowed, chunk))
    return shift.tensor.masked_fill_(torch.isinf(shift.tensor), 0.0)


def _fold_windows(windows: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(b, 2c, d) per-window values -> (b+1, c, d) per chunk in `dtype`: chunk i of the block
    receives the look-back half of window i and the self half of window i-1."""
    blocks, double, d = windows.shape
    chunk = double // 2
    folded = windows.new_empty(blocks + 1, chunk, d, dtype=dtype)
    folded[:-1] = windows[:, :chunk]
    folded[-1] = 0
    folded[1:] += windows[:, chunk:]
    return folded


def _add_bmm_(into: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """into += a @ b (batched), `into` possibly of a wider dtype than a and b."""
    if a.dtype == into.dtype:
        return into.baddbmm_(a, b)
    return into.add_(torch.bmm(a, b))


def _key_grad_to_query(q, key_scale, key_grad, scale):
    """The gradient through keys = q * s (s = key_scale = scale / |q|), row by row:
    dq = s (dk - u <u, dk>) with u = q / |q| = q s / scale,
    i.e. s dk - (s^3 / scale^2) <q, dk> q. In key_grad's dtype (the accumulation dtype)."""
    coefficient = (q * key_grad).sum(dim=-1, keepdim=True).mul_(key_scale.pow(3) / -scale ** 2)
    return (key_grad * key_scale).addcmul_(q, coefficient)


def chunked_attention(q: torch.Tensor, v: torch.Tensor,
                      positions: torch.Tensor, no_look_back: torch.Tensor,
                      causal: bool, scale: float,
                      extra_bias: torch.Tensor | None = None,
                      rows: torch.Tensor | None = None,
                      scores_per_block: int = SCORES_PER_BLOCK) -> torch.Tensor:
    """Shared-QK attention of each chunk to itself and the previous chunk; the keys are the
    queries scaled to unit length, logits = q . k / |k| * scale.

    q, v: (G, n, c, d) in stream order (G = batch*heads, n chunks of c); or, with `rows`
    (G*n*c,) int64, source rows (R, d) of which stream slot i reads row rows[i] (LSH passes
    its sort order, so the sorted stream is never materialised, and every row is read once
    per hash round).
    positions (G|1, n, c): encoded original positions (encode_positions) of the stream's tokens,
    all below DISABLED_POSITION.
    no_look_back (n,) bool: chunks that see only themselves (at least chunk 0).
    extra_bias: optional fp32 (G, n, c, 2c) added to the logits (LSH duplicate correction),
    never differentiated.
    Returns out (G, n, c, d) in stream order; with `rows`, out (R, d): for each row ONE
    softmax over the keys of all the slots that read it (a key met in two rounds counts twice,
    unless the duplicate correction's bias says otherwise), which equals the rounds' outputs
    weighted by softmax over their log-sum-exps. A row that may see no key but its own in
    every slot takes its own value (the self-mask rule).
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
    out = _ChunkedSharedQKAttention.apply(q, v, rows, query_positions, window_positions,
                                          causal, scale, extra_bias, scores_per_block)
    return out if rows is not None else out.view(groups, n_chunks, chunk, d)
