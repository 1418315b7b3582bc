"""Output projection + cross-entropy, a chunk of positions at a time, without (L, vocab) logits.

At 64K tokens and a 16K vocabulary the logits alone take 4 GiB in fp32, and ordinary autograd
would keep them (and their softmax) for the backward pass. Here one autograd Function computes,
chunk by chunk, the loss and at once its gradients with respect to the hidden states and the head
weight (softmax(logits) - onehot(target), pushed through the projection), then frees the chunk's
logits. The backward pass only scales the stored gradients by the incoming scalar. Memory:
one (chunk, vocab) block plus a gradient the size of the hidden states and one of the weight.
"""

from __future__ import annotations

import torch

IGNORE_INDEX = -100  # targets the loss skips (padding, a summary example's document part)
# Below this fraction of scored positions only those rows go through the head: a sentence
# scorer's targets sit at its markers, a summary's after the document, and a language model
# scores every position, so it keeps the plain path.
COMPACT_BELOW = 0.5


def chunked_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                          chunk_size: int) -> torch.Tensor:
    """Mean cross-entropy of softmax(hidden @ weight.T) over targets != IGNORE_INDEX.

    hidden (B, L, d), weight (vocab, d), targets (B, L); chunk_size positions (of the flattened
    B*L) per step, 0 = all at once. Returns 0 (not NaN) when every target is ignored.
    """
    hidden_flat = hidden.reshape(-1, hidden.shape[-1])  # (N, d)
    targets_flat = targets.reshape(-1)  # (N,)
    # Compiled code keeps the plain path: a data-dependent row count would break the graph.
    if not torch.compiler.is_compiling():
        scored = targets_flat != IGNORE_INDEX  # (N,)
        n_scored = int(scored.sum())
        if 0 < n_scored < COMPACT_BELOW * targets_flat.numel():  # none: keep the zero gradient
            rows = scored.nonzero().squeeze(1)  # (n_scored,); autograd scatters the gradient back
            hidden_flat, targets_flat = hidden_flat.index_select(0, rows), targets_flat[rows]
    if torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad):
        return _ChunkedCrossEntropy.apply(hidden_flat, weight, targets_flat, chunk_size)
    loss, _, _ = _loss_and_grads(hidden_flat, weight, targets_flat, chunk_size, False, False)
    return loss


class _ChunkedCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, targets, chunk_size):
        loss, grad_hidden, grad_weight = _loss_and_grads(
            hidden, weight, targets, chunk_size, ctx.needs_input_grad[0], ctx.needs_input_grad[1])
        ctx.save_for_backward(grad_hidden, grad_weight)
        return loss

    @staticmethod
    def backward(ctx, grad_loss):
        grad_hidden, grad_weight = ctx.saved_tensors
        grad_hidden = None if grad_hidden.numel() == 0 else grad_hidden * grad_loss
        grad_weight = None if grad_weight.numel() == 0 else grad_weight * grad_loss
        return grad_hidden, grad_weight, None, None


def _loss_and_grads(hidden, weight, targets, chunk_size, want_grad_hidden, want_grad_weight):
    """The loop shared by the autograd and the no-grad paths; returns (loss, dhidden, dweight)."""
    device_type = hidden.device.type
    # Under autocast, do the projection in the autocast dtype (as F.linear would) and the softmax
    # in fp32 (as F.cross_entropy would); gradients come back in the inputs' own dtypes.
    compute_dtype = (torch.get_autocast_dtype(device_type)
                     if torch.is_autocast_enabled(device_type) else hidden.dtype)
    # Softmax and sums in fp32 at least (fp64 stays fp64, for tests).
    accumulate_dtype = torch.promote_types(compute_dtype, torch.float32)
    total = hidden.shape[0]
    step = chunk_size if chunk_size > 0 else max(total, 1)
    valid = targets != IGNORE_INDEX  # (N,)
    count = valid.sum().clamp(min=1).to(accumulate_dtype)
    empty = hidden.new_empty(0)
    grad_hidden = torch.empty_like(hidden) if want_grad_hidden else empty
    grad_weight = (torch.zeros(weight.shape, dtype=accumulate_dtype, device=weight.device)
                   if want_grad_weight else empty)
    loss_sum = torch.zeros((), dtype=accumulate_dtype, device=hidden.device)
    with torch.autocast(device_type, enabled=False):
        weight_c = weight.to(compute_dtype)  # (vocab, d)
        for start in range(0, total, step):
            stop = min(start + step, total)
            hidden_c = hidden[start:stop].to(compute_dtype)  # (k, d)
            target_c, valid_c = targets[start:stop], valid[start:stop]
            logits = (hidden_c @ weight_c.t()).to(accumulate_dtype)  # (k, vocab): the big one
            log_norm = torch.logsumexp(logits, dim=-1)  # (k,)
            picked = logits.gather(1, target_c.clamp(min=0).unsqueeze(1)).squeeze(1)  # (k,)
            loss_sum += ((log_norm - picked) * valid_c).sum()
            if not (want_grad_hidden or want_grad_weight):
                continue
            # d(sum of losses)/d(logits) = softmax - onehot(target), zero on ignored rows.
            grad_logits = logits.sub_(log_norm.unsqueeze(1)).exp_()  # softmax, in place
            rows = torch.arange(stop - start, device=logits.device)
            grad_logits[rows, target_c.clamp(min=0)] -= 1.0
            grad_logits *= (valid_c.to(accumulate_dtype) / count).unsqueeze(1)
            grad_logits = grad_logits.to(compute_dtype)
            if want_grad_hidden:
                grad_hidden[start:stop] = grad_logits @ weight_c  # (k, d)
            if want_grad_weight:
                grad_weight += grad_logits.t() @ hidden_c  # (vocab, d)
            del logits, grad_logits
    if want_grad_weight:
        grad_weight = grad_weight.to(weight.dtype)
    return loss_sum / count, grad_hidden, grad_weight
