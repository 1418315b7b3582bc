"""The shared core of local and LSH attention: chunks that attend to themselves and the
previous chunk, with masks computed from the ORIGINAL positions carried along.

Notation and layout
  G        groups: batch * heads, flattened; each group is one stream
  slot     one place of a stream; n chunks of c slots per group, N = G * n chunks in all
  window   the 2c keys a chunk attends to: the previous chunk, then its own
  score block  consecutive chunks whose logits are computed at once (`scores_per_block`
           logits, so every pass over them stays in cache); block 0 is chunk 0 alone, and
           each block also reads the chunk before its first one
  row      one d-vector of a source tensor (R, d): one token of one head
  sort index  `rows` (N*c,) int64, LSH only: slot i reads row rows[i] of q and v, and its
           output and gradients are added back into that row (a gathered stream); without
           it the stream is q, v themselves (a contiguous stream, local attention); both
           kinds read and write through one interface (chunk_streams.py)
  accumulation dtype  fp32 (fp64 for fp64): logits, softmax and every sum

      q, v rows (R, d):    row 0   row 1   row 2   ...          (token-major, LSH)
                              ^       ^ read through the sort index, added back the same way
      stream (N, c, d):  | chunk 0 | chunk 1 | chunk 2 | chunk 3 | ... | chunk N-1 |
      window of chunk 2:           [ chunk 1 | chunk 2 ]    2c keys, logits (c, 2c)
      score blocks:      [ 0 ]     [ 1 .. s ]            [ s+1 .. 2s ] ...

Mask rules:
  hard: a key after the query (causal), a padding key, or a look-back that is disabled (the
        first chunk of a stream or of an LSH round) -- probability exactly 0 (nothing leaks,
        not even gradients, so causality is exact);
  self: the query's own key gets the logit - 1e5 (SELF_MASK), i.e. a token attends to itself
        only when it has no other target (shared-QK makes q.k largest for the token itself).
        In fp32/fp64 exp(-1e5) is exactly 0, so the own key's weight is exactly 0 when any other
        key is allowed (in any hash round), and the token takes its own value when none is: the
        code implements that limit directly instead of adding -1e5 to a logit.

Positions are float32 in here (exact below 2^24) so one comparison per score block writes the
allowed-mask as 0/1 floats, which then MULTIPLIES the exponentials: on the CPU that is much
faster than masked_fill with a bool mask, and it needs no "minus infinity" logits (exp of very
negative numbers takes a scalar slow path in PyTorch's vectorised exp). A real token carries
its position p, a padding token PADDING_OFFSET + p (beyond every real query, yet ordered among
padding tokens), a disabled look-back key DISABLED_POSITION (beyond all).

Softmax without a row maximum: keys are unit vectors scaled by `scale`, so every logit of query
i lies in [-m_i, m_i] with m_i = |q_i| * scale. When every m_i <= UNSHIFTED_BOUND, exp(logit)
can neither overflow nor underflow, and the max pass is skipped. Otherwise (very large queries,
rare) a first pass finds each row's largest allowed logit, which is subtracted, with clamping.

Hash rounds, combined as ONE softmax. Query i meets key set K_r in round r, with logits l_j.
The round's output is o_r = S_r / Z_r with S_r = sum_{j in K_r} e^{l_j} v_j, Z_r =
sum_{j in K_r} e^{l_j}, lse_r = log Z_r. The paper (sec. 2.2) weights rounds by
w_r = e^{lse_r} / sum_s e^{lse_s} = Z_r / Z, Z = sum_s Z_s, so
    sum_r w_r o_r = sum_r (Z_r / Z) (S_r / Z_r) = (sum_r S_r) / Z,
one softmax over all the rounds' keys (a key met in two rounds counts twice, unless the
duplicate correction's bias removes it). So every slot adds its unnormalised S and Z into its
row and out = S / Z at the end: no per-round output, no un-sorting, no weighting pass.

The backward identity. With p_ij = e^{l_ij} / Z_i and o_i = sum_j p_ij v_j (all rounds):
dv_j = sum_i p_ij do_i; dp_ij = do_i . v_j; and through the softmax
dl_ij = p_ij (dp_ij - sum_k p_ik dp_ik) = p_ij (do_i . v_j - do_i . o_i), since
sum_k p_ik v_k = o_i. In matrix form dS = P o (dO V^T - rowsum(dO o O)) (o: elementwise):
one row term <do_i, o_i> per row, and p_ij = exp(l_ij - log Z_i) from the saved log Z_i.

`chunked_attention` is a custom operator in the spirit of FlashAttention: the forward
keeps no (N, c, 2c) tensor for the backward; the backward recomputes the logits from the saved
q, v and each row's log Z. Both walk the stream one score block at a time, so the memory is
O(L * d) per head. Keys (q scaled to unit length, times `scale`) are built per score block and
never stored whole; the key gradient is folded into the query gradient one score block at a
time, and every gradient row a score block touches is written with one index_add. Sums are
kept in the accumulation dtype and cast to q's dtype once (one rounding in bf16, any order).
"""

from __future__ import annotations

import torch

from reformer_cli.core.chunk_streams import ContiguousStream, GatheredStream, Stream

HARD_MASK = -1e9  # additive mask for logits elsewhere (decoding); representable in fp32/bf16
SELF_MASK = -1e5  # the own key's logit offset (see above)
PADDING_OFFSET = 2 ** 22  # added to the position of a padding token; lengths must stay below
DISABLED_POSITION = 2 ** 24  # key position of a look-back that does not exist
UNSHIFTED_BOUND = 30.0  # exp(x) for |x| <= 30 (+ a few for sums) is safe in fp32
EXP_FLOOR, EXP_CEILING = -80.0, 80.0  # clamps of the shifted path: keep exp fast and finite
SCORES_PER_BLOCK = 2 ** 20  # default logits per score block (4 MiB fp32): stays in cache
VECTORS_PER_SLICE = 16384  # d-vectors per slice of a row-wise dot product (4 MiB at d = 64)
MIN_NORM = 1e-6  # |q| is clamped to this: a zero (padding) query gets a finite key scale


def encode_positions(positions: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """positions (..., L) int64 -> the same with PADDING_OFFSET added where valid is False."""
    if valid is None:
        return positions
    return torch.where(valid, positions, positions + PADDING_OFFSET)


def unit_keys(q: torch.Tensor) -> torch.Tensor:
    """Shared-QK keys q / max(|q|, MIN_NORM) in q's dtype (differentiable): what the kernel
    computes inside, for the decoding cache and the flex path."""
    return q / q.norm(dim=-1, keepdim=True).clamp_min(MIN_NORM).to(q.dtype)


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
    """The accumulation dtype for inputs of `dtype`: logits, softmax and sums run in fp32
    (fp64 stays fp64, for the reference tests)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _score_blocks(n_total: int, chunk: int, scores_per_block: int):
    """(start, end) chunk ranges of ~scores_per_block logits. The first score block is chunk 0
    alone, so the copy read_with_previous makes for it stays small."""
    step = max(1, scores_per_block // (2 * chunk * chunk))
    starts = [0] + list(range(1, n_total, step)) if n_total else []
    return [(start, min(n_total, 1 if start == 0 else start + step)) for start in starts]


def _windows(with_previous: torch.Tensor) -> torch.Tensor:
    """(b+1, c, d) contiguous -> (b, 2c, d): each chunk preceded by the one before it, as a
    zero-copy overlapping view (bmm reads it directly)."""
    chunks, chunk, d = with_previous.shape
    return with_previous.as_strided((chunks - 1, 2 * chunk, d), (chunk * d, d, 1),
                                    with_previous.storage_offset())


def _allowed(query_positions, window_positions, causal, dtype):
    """0/1 mask of the keys a query may see, in the accumulation dtype: (b, c, 2c) causal,
    else (b, 1, 2c) (only padding and disabled keys are excluded)."""
    if not causal:
        return torch.lt(window_positions, PADDING_OFFSET).to(dtype)[:, None, :]
    keys, queries = window_positions[:, None, :], query_positions[:, :, None]
    if query_positions.device.type != "cpu":
        return torch.le(keys, queries).to(dtype)
    # on the CPU, comparing straight into a float tensor is one pass instead of two
    chunks, chunk = query_positions.shape
    allowed = torch.empty(chunks, chunk, window_positions.shape[1], dtype=dtype)
    return torch.le(keys, queries, out=allowed)


def _masked_query_max(logits, allowed, chunk):
    """Each query's largest logit over the allowed keys other than its own, (b, c, 1); -inf
    for queries with none."""
    masked = logits.masked_fill(allowed == 0, float("-inf"))
    masked.diagonal(offset=chunk, dim1=1, dim2=2).fill_(float("-inf"))
    return masked.amax(dim=-1, keepdim=True)


class _WindowScores:
    """Logits and softmax weights of a score block's chunks against their windows: what every
    pass over the stream needs (q and the key scales, the positions, the bias)."""

    def __init__(self, stream: Stream, q, key_scale, query_positions, window_positions,
                 causal, extra_bias, accumulation_dtype):
        self.stream, self.q, self.key_scale = stream, q, key_scale
        self.query_positions, self.window_positions = query_positions, window_positions
        self.causal, self.extra_bias = causal, extra_bias
        self.accumulation_dtype = accumulation_dtype

    def logits(self, start, end):
        """For chunks start .. end-1 of the stream: (q of chunks start-1 .. end-1 (b+1, c, d),
        their key scales (b+1, c, 1), their keys (b+1, c, d)), the logits (b, c, 2c) and the
        allowed mask (b, c|1, 2c), both in the accumulation dtype. The keys are built here
        and never stored whole."""
        q_previous = self.stream.read_with_previous(self.q, start, end)
        scale_previous = self.stream.read_with_previous(self.key_scale, start, end)
        keys = torch.mul(q_previous, scale_previous).to(q_previous.dtype)  # product in fp32
        logits = torch.bmm(q_previous[1:], _windows(keys).transpose(1, 2))
        logits = logits.to(self.accumulation_dtype)
        if self.extra_bias is not None:
            logits.add_(self.extra_bias[start:end])
        allowed = _allowed(self.query_positions[start:end], self.window_positions[start:end],
                           self.causal, self.accumulation_dtype)
        return (q_previous, scale_previous, keys), logits, allowed

    def weights(self, start, end, subtract, clamp):
        """exp(logit - subtract) on the allowed keys, 0 elsewhere and on the own key;
        subtract (b, c, 1) or None. Returns (q_previous, scale_previous, keys) as in `logits`
        and the weights (b, c, 2c)."""
        previous, logits, allowed = self.logits(start, end)
        if subtract is not None:
            logits.sub_(subtract)
        if clamp:
            logits.clamp_(EXP_FLOOR, EXP_CEILING)
        weights = logits.exp_().mul_(allowed)
        weights.diagonal(offset=self.query_positions.shape[1], dim1=1, dim2=2).zero_()
        return previous, weights


def _row_dots(a: torch.Tensor, b: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """<a_i, b_i> for every d-vector of two (..., d) tensors, as (..., 1) in `dtype`, a slice
    at a time (no full-size product tensor)."""
    d = a.shape[-1]
    flat_a, flat_b = a.reshape(-1, d), b.reshape(-1, d)
    dots = torch.empty(flat_a.shape[0], 1, dtype=dtype, device=a.device)
    for start in range(0, flat_a.shape[0], VECTORS_PER_SLICE):
        part = slice(start, start + VECTORS_PER_SLICE)
        dots[part] = (flat_a[part].to(dtype) * flat_b[part].to(dtype)).sum(-1, keepdim=True)
    return dots.view(a.shape[:-1] + (1,))


# The kernel has its own backward and two entry points that run the same two functions:
# under torch.compile a custom operator (torch.library), one opaque call instead of a trace
# into its data-dependent loops; eagerly a plain autograd.Function, because a custom op's
# first call imports torch._dynamo, a large start-up cost in time and memory for every
# process that never compiles.
_FORWARD_SCHEMA = ("(Tensor q, Tensor v, Tensor? sort_index, Tensor query_positions, "
                   "Tensor window_positions, Tensor? extra_bias, bool causal, float scale, "
                   "int scores_per_block) -> (Tensor, Tensor, Tensor, Tensor, Tensor)")
_BACKWARD_SCHEMA = ("(Tensor grad_out, Tensor q, Tensor v, Tensor? sort_index, "
                    "Tensor key_scale, Tensor query_positions, Tensor window_positions, "
                    "Tensor? extra_bias, Tensor out, Tensor log_total, Tensor alone, "
                    "Tensor shifted, bool causal, float scale, int scores_per_block) "
                    "-> (Tensor, Tensor)")


def _attention_forward(q, v, sort_index, query_positions, window_positions, extra_bias,
                       causal, scale, scores_per_block):
    """q, v: (N, c, d) slots of a contiguous stream, or rows (R, d) read through the sort
    index; positions float32 (N, c) and (N, 2c). Returns the output per row, (N, c, d) or
    (R, d): with a sort index, every slot reading a row contributes to it (LSH: all hash rounds
    of a token, one softmax; see "Hash rounds" in the module docstring); and for the backward
    each row's log Z, key scale and "alone" flag ((N, c, 1) or (R, 1)) and whether the shifted
    softmax ran (0-dim bool). Nothing of size (N, c, 2c) is held, no key tensor, and no sorted
    copy of q or v."""
    n_total, chunk = query_positions.shape
    d = q.shape[-1]
    accumulation_dtype = score_dtype(q.dtype)
    stream = ContiguousStream(chunk) if sort_index is None else GatheredStream(
        sort_index, chunk)
    # Every dtype below is chosen here: under autocast, CUDA would run the norm in fp32
    # (its fp32 list) while the CPU keeps it in q's dtype.
    with torch.autocast(q.device.type, enabled=False):
        norms = torch.linalg.vector_norm(q, dim=-1, keepdim=True,
                                         dtype=accumulation_dtype)  # (N, c, 1) or (R, 1)
        # keys = q * key_scale, |key| <= scale. Kept in fp32: for a zero (padding) query
        # scale / MIN_NORM is beyond fp16's range, and inf * 0 would be NaN
        key_scale = scale / norms.clamp_min(MIN_NORM)
        # fp16 values cannot hold exp(30): that dtype always takes the shifted path
        shifted = q.dtype == torch.float16 or (
            bool(norms.max() * scale > UNSHIFTED_BOUND) if n_total else False)
        scores = _WindowScores(stream, q, key_scale, query_positions, window_positions,
                               causal, extra_bias, accumulation_dtype)
        shift = (_row_shifts(scores, norms, scores_per_block) if shifted else None)
        sums = stream.sums_like(v, accumulation_dtype)  # S, cast once at the end
        totals = stream.sums_like(norms, accumulation_dtype)  # Z
        for start, end in _score_blocks(n_total, chunk, scores_per_block):
            subtract = None if shift is None else stream.read(shift, start, end)
            _, weights = scores.weights(start, end, subtract, shifted)  # (b, c, 2c)
            values = _windows(stream.read_with_previous(v, start, end))  # (b, 2c, d)
            stream.add(sums, start, end, torch.bmm(weights.to(v.dtype), values))
            stream.add(totals, start, end, weights.sum(dim=-1, keepdim=True))  # (b, c, 1)
    alone = totals == 0  # rows that may see no key but their own (in every round)
    totals.masked_fill_(alone, 1.0)
    out = sums.div_(totals).to(v.dtype)
    alone_rows = alone.view(-1).nonzero().squeeze(1)
    out.view(-1, d).index_copy_(0, alone_rows, v.reshape(-1, d).index_select(0, alone_rows))
    log_total = totals.log_()  # (N, c, 1) or (R, 1): log Z of each row
    if shift is not None:
        log_total += shift
    return out, log_total, key_scale, alone, torch.tensor(shifted, device=q.device)


_forward_op = torch.library.custom_op("reformer::chunked_attention_forward",
                                      _attention_forward, mutates_args=(),
                                      schema=_FORWARD_SCHEMA)


@_forward_op.register_fake
def _(q, v, sort_index, query_positions, window_positions, extra_bias, causal, scale,
      scores_per_block):
    per_row = dict(size=q.shape[:-1] + (1,), dtype=score_dtype(q.dtype))
    return (torch.empty_like(v), q.new_empty(**per_row), q.new_empty(**per_row),
            q.new_empty(q.shape[:-1] + (1,), dtype=torch.bool), q.new_empty((), dtype=torch.bool))


def _attention_backward(grad_out, q, v, sort_index, key_scale, query_positions,
                        window_positions, extra_bias, out, log_total, alone, shifted, causal,
                        scale, scores_per_block):
    """dS = P o (dO V^T - rowsum(dO o O)) (module docstring), score block by score block.
    Returns (grad q, grad v)."""
    shifted = bool(shifted)
    alone_rows = alone.view(-1).nonzero().squeeze(1)
    n_total, chunk = query_positions.shape
    d = q.shape[-1]
    accumulation_dtype = score_dtype(q.dtype)
    stream = ContiguousStream(chunk) if sort_index is None else GatheredStream(
        sort_index, chunk)
    with torch.autocast(q.device.type, enabled=False):  # dtypes chosen here, as forward
        scores = _WindowScores(stream, q, key_scale, query_positions, window_positions,
                               causal, extra_bias, accumulation_dtype)
        grad_out = grad_out.to(v.dtype).contiguous()
        row_term = _row_dots(grad_out, out, accumulation_dtype)  # <do_i, o_i>
        grad_q = stream.sums_like(q, accumulation_dtype)  # cast once at the end
        grad_v = stream.sums_like(v, accumulation_dtype)
        for start, end in _score_blocks(n_total, chunk, scores_per_block):
            (q_previous, scale_previous, keys), probs = scores.weights(
                start, end, stream.read(log_total, start, end), shifted)  # (b, c, 2c)
            grad_out_chunks = stream.read(grad_out, start, end)  # (b, c, d)
            # dv: each window key's gradient, folded back onto chunks start-1 .. end-1
            window_grad_v = torch.bmm(probs.to(v.dtype).transpose(1, 2), grad_out_chunks)
            stream.add_with_previous(grad_v, start, end,
                                     _fold_windows(window_grad_v, accumulation_dtype))
            values = _windows(stream.read_with_previous(v, start, end))  # (b, 2c, d)
            grad_logits = torch.bmm(grad_out_chunks, values.transpose(1, 2))
            grad_logits = grad_logits.to(accumulation_dtype).sub_(
                stream.read(row_term, start, end))
            grad_logits = grad_logits.mul_(probs).to(q.dtype)  # (b, c, 2c)
            # dq of chunks start-1 .. end-1: through the keys (keys = q * scale / |q|,
            # row by row) and, for chunks start .. end-1, as queries
            window_grad_keys = torch.bmm(grad_logits.transpose(1, 2), q_previous[1:])
            grad_q_chunks = _key_grad_to_query(
                q_previous, scale_previous,
                _fold_windows(window_grad_keys, accumulation_dtype), scale)
            _add_bmm_(grad_q_chunks[1:], grad_logits, _windows(keys))  # (b+1, c, d)
            stream.add_with_previous(grad_q, start, end, grad_q_chunks)
    # a row alone in every round took its own value
    own_grad = grad_out.view(-1, d).index_select(0, alone_rows)
    grad_v.view(-1, d).index_add_(0, alone_rows, own_grad.to(accumulation_dtype))
    return grad_q.to(q.dtype), grad_v.to(v.dtype)


_backward_op = torch.library.custom_op("reformer::chunked_attention_backward",
                                       _attention_backward, mutates_args=(),
                                       schema=_BACKWARD_SCHEMA)


@_backward_op.register_fake
def _(grad_out, q, v, sort_index, key_scale, query_positions, window_positions, extra_bias,
      out, log_total, alone, shifted, causal, scale, scores_per_block):
    return torch.empty_like(q), torch.empty_like(v)


def _save_for_backward(ctx, inputs, output):
    q, v, sort_index, query_positions, window_positions, extra_bias, causal, scale, \
        scores_per_block = inputs
    out, log_total, key_scale, alone, shifted = output
    ctx.save_for_backward(q, v, sort_index, key_scale, query_positions, window_positions,
                          extra_bias, out, log_total, alone, shifted)
    ctx.causal, ctx.scale, ctx.scores_per_block = causal, scale, scores_per_block


def _input_gradients(ctx, grad_out, backward=_attention_backward):
    """The gradients of the forward's 9 inputs (only q and v have one)."""
    (q, v, sort_index, key_scale, query_positions, window_positions, extra_bias, out,
     log_total, alone, shifted) = ctx.saved_tensors
    grad_q, grad_v = backward(
        grad_out, q, v, sort_index, key_scale, query_positions, window_positions, extra_bias,
        out, log_total, alone, shifted, ctx.causal, ctx.scale, ctx.scores_per_block)
    return grad_q, grad_v, None, None, None, None, None, None, None


_forward_op.register_autograd(
    lambda ctx, grad_out, *_: _input_gradients(ctx, grad_out, _backward_op),
    setup_context=_save_for_backward)


class _EagerAttention(torch.autograd.Function):
    """The same forward and backward without the custom operators (see above)."""

    @staticmethod
    def forward(ctx, *inputs):
        output = _attention_forward(*inputs)
        _save_for_backward(ctx, inputs, output)
        ctx.mark_non_differentiable(*output[1:])
        return output

    @staticmethod
    def backward(ctx, grad_out, *_):
        return _input_gradients(ctx, grad_out)


def _row_shifts(scores: _WindowScores, like: torch.Tensor,
                scores_per_block: int) -> torch.Tensor:
    """The largest allowed logit of each row over all its slots (0 for rows with none), shaped
    like `like`: subtracted before exp when logits could overflow (huge queries)."""
    n_total, chunk = scores.query_positions.shape
    stream = scores.stream
    shift = stream.sums_like(like, like.dtype, fill=float("-inf"))
    for start, end in _score_blocks(n_total, chunk, scores_per_block):
        _, logits, allowed = scores.logits(start, end)
        stream.running_max(shift, start, end, _masked_query_max(logits, allowed, chunk))
    return shift.masked_fill_(torch.isinf(shift), 0.0)


def _fold_windows(windows: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(b, 2c, d) per-window values -> (b+1, c, d) per chunk in `dtype`: chunk i of the score
    block receives the look-back half of window i and the own half of window i-1."""
    chunks, double, d = windows.shape
    chunk = double // 2
    folded = windows.new_empty(chunks + 1, chunk, d, dtype=dtype)
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
    """Shared-QK attention of each chunk to its window (itself and the previous chunk); the
    keys are the queries scaled to unit length, logits = q . k / |k| * scale. Notation,
    layout and the identities used: the module docstring.

    q, v: (G, n, c, d) in stream order; or, with the sort index `rows` (G*n*c,) int64, rows
    (R, d) of which slot i reads row rows[i] (LSH passes its sort order, so the sorted stream
    is never materialised, and every row is read once per hash round).
    positions (G|1, n, c): encoded original positions (encode_positions) of the slots' tokens,
    all below DISABLED_POSITION.
    no_look_back (n,) bool: chunks that see only themselves (at least chunk 0).
    extra_bias: optional fp32 (G, n, c, 2c) added to the logits (LSH duplicate correction),
    never differentiated.
    scores_per_block: logits computed at once (a tuning knob: the result does not depend on
    it beyond rounding).
    Returns out (G, n, c, d) in stream order; with `rows`, out (R, d): for each row ONE
    softmax over the keys of all the slots that read it (the rounds identity). A row that may
    see no key but its own in every slot takes its own value (the self-mask rule).
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
    attention = _forward_op if torch.compiler.is_compiling() else _EagerAttention.apply
    out = attention(q, v, rows, query_positions, window_positions, extra_bias, causal, scale,
                    scores_per_block)[0]
    return out if rows is not None else out.view(groups, n_chunks, chunk, d)
