"""The shared core of local and LSH attention: chunks that attend to themselves and the
previous chunk, with masks computed from the ORIGINAL positions carried along.

Mask rules (on fp32 logits, so they are safe under fp16/bf16 autocast):
  hard  (-1e9): a key after the query (causal), a padding key, or a look-back that is disabled;
  self  (-1e5, added): the query's own key, so a token attends to itself only when it has no
                other target (shared-QK makes q.k largest for the token itself).
Every row keeps its own key (at logit - 1e5), so no row is ever fully hard-masked, and the
probabilities of hard-masked keys are exactly 0: nothing leaks through them, not even gradients
(so causality holds exactly; adding -1e9 or writing -1e9 is therefore the same).

Positions are encoded so that one comparison per rule does everything: a real token carries
its position p, a padding token PADDING_OFFSET + p (beyond every real query, yet ordered among
padding tokens), a disabled look-back key DISABLED_POSITION (beyond everything).

`chunked_attention` is a custom autograd Function in the spirit of FlashAttention: the forward
keeps no (chunks, c, 2c) tensor for the backward; the backward recomputes the scores from the
saved q, k, v and the log-sum-exp. Both walk the chunks in blocks of ~1M logits, so every
pass over a block's scores (mask, log-sum-exp, exp, products) runs in cache and the memory is
O(L * d) per head instead of O(L * 2c).
"""

from __future__ import annotations

import torch

HARD_MASK = -1e9  # representable in fp32 and bf16; the softmax always runs in fp32
SELF_MASK = -1e5  # much smaller in magnitude than HARD_MASK: self beats masked keys
PADDING_OFFSET = 2 ** 40  # added to the position of a padding token
DISABLED_POSITION = 2 ** 50  # key position of a look-back that does not exist
# exp() of arguments below about -87 (masked logits minus the row maximum) takes a scalar slow
# path 20-100x slower than the vectorised one; flooring at -80 keeps every exp fast. Hard-masked
# weights are then set to exactly 0; an unmasked key more than 80 below the row maximum (e.g.
# the soft-masked own key when there are other targets) weighs e^-80 = 1.8e-35 instead of less.
EXP_FLOOR = -80.0
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


def _block_scores(q, k_window, query_positions, window_positions, causal, scale, extra_bias):
    """Masked logits of one block, fp32: q (b, c, d), k_window (b, 2c, d) -> (b, c, 2c), and
    the hard mask (b, c|1, 2c) so the caller can zero those probabilities exactly.

    Two passes for the masks: one comparison, one masked_fill (hard keys are *replaced*: their
    probability is exactly 0 either way, because every row keeps its own key). The own key of
    query i is always window slot c + i (the chunk itself, same order), so the soft self-mask
    touches only that diagonal."""
    chunk = q.shape[1]
    scores = torch.bmm(q * scale, k_window.transpose(1, 2))
    scores = scores.to(score_dtype(q.dtype))  # no-op in fp32
    own = scores.diagonal(offset=chunk, dim1=1, dim2=2)  # (b, c) view: query i with key i
    own_scores = own.clone()
    if causal:  # later keys, padding keys (for real queries) and disabled look-backs
        hard = window_positions[:, None, :] > query_positions[:, :, None]  # (b, c, 2c)
    else:  # keys that are not real tokens
        hard = (window_positions >= PADDING_OFFSET)[:, None, :]  # (b, 1, 2c)
    scores.masked_fill_(hard, HARD_MASK)
    own.copy_(own_scores + SELF_MASK)  # additive soft mask, even for a padding query
    if extra_bias is not None:
        scores.add_(extra_bias)
    return scores, hard


def _window(x_after_pad, start, end):
    """Chunks start..end-1 of the flat stream, each preceded by the chunk before it:
    (b, 2c, d), a zero-copy overlapping view (bmm reads it directly). x_after_pad (N+1, c, d),
    contiguous, has one zero chunk in front of the stream. The chunk before a group's first
    chunk belongs to another group, but that look-back is always disabled
    (DISABLED_POSITION), so its probabilities are exactly 0."""
    _, chunk, d = x_after_pad.shape
    return x_after_pad.as_strided((end - start, 2 * chunk, d), (chunk * d, d, 1),
                                  x_after_pad.storage_offset() + start * chunk * d)


def _pad_front(x):
    return torch.cat([x.new_zeros((1,) + x.shape[1:]), x], dim=0)  # (N+1, c, d)


class _ChunkedSharedQKAttention(torch.autograd.Function):
    """All tensors flat over chunks: q, v (N, c, d); positions (N, c) and (N, 2c). Keys are
    the queries scaled to unit length, done here so that autograd keeps no extra (N, c, d)
    copies. Processes SCORES_PER_BLOCK logits at a time; nothing of size (N, c, 2c) is held."""

    @staticmethod
    def forward(ctx, q, v, query_positions, window_positions, causal, scale, extra_bias):
        n_total, chunk, d = q.shape
        step = max(1, SCORES_PER_BLOCK // (2 * chunk * chunk))
        out = torch.empty_like(v)
        lse = torch.empty(n_total, chunk, dtype=score_dtype(q.dtype), device=q.device)
        inverse_norm = 1.0 / q.norm(dim=-1, keepdim=True).clamp_min(1e-6)  # (N, c, 1)
        k_padded, v_padded = _pad_front(q * inverse_norm), _pad_front(v)  # (N+1, c, d)
        with torch.autocast(q.device.type, enabled=False):
            for start in range(0, n_total, step):
                end = min(start + step, n_total)
                block = slice(start, end)
                scores, hard = _block_scores(
                    q[block], _window(k_padded, start, end), query_positions[block],
                    window_positions[block], causal, scale,
                    None if extra_bias is None else extra_bias[block])  # (b, c, 2c)
                # softmax without normalising the (b, c, 2c) tensor: divide the output instead
                row_max = scores.amax(dim=-1, keepdim=True)  # (b, c, 1)
                weights = scores.sub_(row_max).clamp_min_(EXP_FLOOR).exp_().masked_fill_(hard, 0)
                total = weights.sum(dim=-1, keepdim=True)
                torch.bmm(weights.to(v.dtype), _window(v_padded, start, end), out=out[block])
                out[block] /= total.to(v.dtype)
                lse[block] = (row_max + total.log()).squeeze(-1)
        ctx.save_for_backward(q, k_padded, v_padded, inverse_norm, query_positions,
                              window_positions, extra_bias, out, lse)
        ctx.causal, ctx.scale = causal, scale
        return out, lse

    @staticmethod
    def backward(ctx, grad_out, grad_lse):
        (q, k_padded, v_padded, inverse_norm, query_positions, window_positions, extra_bias,
         out, lse) = ctx.saved_tensors
        n_total, chunk, d = q.shape
        step = max(1, SCORES_PER_BLOCK // (2 * chunk * chunk))
        accumulate = score_dtype(q.dtype)
        grad_out = grad_out.to(v_padded.dtype).contiguous()
        # d out/d scores = probs * (grad_probs - <grad_out, out>); d lse/d scores = probs
        row_term = (grad_out.to(accumulate) * out.to(accumulate)).sum(-1)  # (N, c)
        row_term = (row_term - grad_lse.to(accumulate)) * ctx.scale
        grad_q = torch.empty_like(q)
        grad_k_padded = torch.zeros_like(k_padded)  # slot i+1 is chunk i; slot 0 is discarded
        grad_v_padded = torch.zeros_like(v_padded)
        with torch.autocast(q.device.type, enabled=False):
            for start in range(0, n_total, step):
                end = min(start + step, n_total)
                block = slice(start, end)
                k_window = _window(k_padded, start, end)
                v_window = _window(v_padded, start, end)
                scores, hard = _block_scores(
                    q[block], k_window, query_positions[block], window_positions[block],
                    ctx.causal, ctx.scale, None if extra_bias is None else extra_bias[block])
                probs = scores.sub_(lse[block, :, None]).clamp_min_(EXP_FLOOR).exp_()  # (b,c,2c)
                probs.masked_fill_(hard, 0)
                block_grad_out = grad_out[block]
                grad_v_window = torch.bmm(probs.to(v_padded.dtype).transpose(1, 2),
                                          block_grad_out)  # (b, 2c, d)
                # grad of the logits times scale (folded into the small grad_out, not (b,c,2c))
                grad_scores = torch.bmm(block_grad_out * ctx.scale, v_window.transpose(1, 2))
                grad_scores = grad_scores.to(accumulate).sub_(row_term[block, :, None])
                grad_scores = grad_scores.mul_(probs).to(q.dtype)
                torch.bmm(grad_scores, k_window, out=grad_q[block])
                grad_k_window = torch.bmm(grad_scores.transpose(1, 2), q[block])  # (b, 2c, d)
                for grad, window in ((grad_k_padded, grad_k_window),
                                     (grad_v_padded, grad_v_window)):
                    grad[start:end] += window[:, :chunk]  # as the previous chunk
                    grad[start + 1:end + 1] += window[:, chunk:]  # as the chunk itself
        # through k = q / |q|: dq += (dk - k <k, dk>) / |q|
        grad_k, keys = grad_k_padded[1:], k_padded[1:]
        radial = (keys * grad_k).sum(dim=-1, keepdim=True)
        grad_q += grad_k.sub_(keys * radial).mul_(inverse_norm)
        return grad_q, grad_v_padded[1:], None, None, None, None, None


def chunked_attention(q: torch.Tensor, v: torch.Tensor,
                      positions: torch.Tensor, no_look_back: torch.Tensor,
                      causal: bool, scale: float,
                      extra_bias: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Shared-QK attention of each chunk to itself and the previous chunk; the keys are the
    queries scaled to unit length, logits = q . k / |k| * scale.

    q, v: (G, n, c, d) in stream order (G = batch*heads, n chunks of c).
    positions (G|1, n, c): encoded original positions (encode_positions) of the stream's tokens.
    no_look_back (n,) bool: chunks that see only themselves (at least chunk 0).
    extra_bias: optional fp32 (G, n, c, 2c) added to the logits (LSH duplicate correction),
    never differentiated.
    Returns out (G, n, c, d) and the log-sum-exp of each query's logits (G, n, c), fp32.
    """
    groups, n_chunks, chunk, d = q.shape
    flat = groups * n_chunks
    no_look_back = no_look_back.clone()
    no_look_back[0] = True  # its predecessor in the flat stream belongs to another group
    positions = positions.expand(groups, n_chunks, chunk)
    window_positions = window_key_positions(positions, no_look_back).reshape(flat, 2 * chunk)
    query_positions = positions.reshape(flat, chunk)
    if extra_bias is not None:
        extra_bias = extra_bias.detach().reshape(flat, chunk, 2 * chunk)
    out, lse = _ChunkedSharedQKAttention.apply(
        q.reshape(flat, chunk, d).contiguous(), v.reshape(flat, chunk, d).contiguous(),
        query_positions, window_positions, causal, scale, extra_bias)
    return out.view(groups, n_chunks, chunk, d), lse.view(groups, n_chunks, chunk)
