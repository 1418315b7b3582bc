"""Reversible residual layers (RevNet, Gomez et al. 2017) as used by the Reformer.

Each block maps two streams (x1, x2) to (y1, y2):

    y1 = x1 + F(x2)      F = dropout(Attention(LayerNorm(.)))
    y2 = x2 + G(y1)      G = dropout(FeedForward(LayerNorm(.)))   (position-wise, chunked)

and can be inverted exactly from its outputs:

    x2 = y2 - G(y1)
    x1 = y1 - F(x2)

So the forward pass keeps no activations: it runs every block under no_grad and saves only the
last (y1, y2), plus per block the small things a faithful recompute needs (the RNG states for
dropout and the LSH buckets). The backward pass walks the blocks in reverse, rebuilds each block's
inputs from its outputs and differentiates the recomputed sub-layers with the incoming gradients.
Activation memory is then that of one block, whatever the depth; time is about one extra forward.

`reversible=False` runs the very same two-stream equations with ordinary autograd (same modules,
same state-dict keys, same random draws), so both modes give identical outputs and gradients and
the tests can compare them; only the memory differs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from reformer_cli.config.model import ModelConfig
from reformer_cli.core.attention_types import build_attention
from reformer_cli.core.feedforward import ChunkedFeedForward
from reformer_cli.core.rng import RNGState


@dataclass
class BlockRecord:
    """What the reversible backward needs to recompute one block exactly (all small)."""

    buckets: torch.Tensor | None = None  # LSH buckets of the forward pass (None for other layers)
    attention_dropout_rng: RNGState | None = None  # state right before the attention-output dropout
    feedforward_rng: RNGState | None = None  # state before the feed-forward sub-layer


class ReversibleBlock(nn.Module):
    """One (attention, feed-forward) pair acting on the two streams."""

    def __init__(self, config: ModelConfig, layer_index: int):
        super().__init__()
        self.attention_norm = nn.LayerNorm(config.d_model)
        self.attention = build_attention(config.layer_type(layer_index), config, layer_index)
        self.feedforward = ChunkedFeedForward(config)  # has its own pre-LayerNorm
        self.dropout = config.dropout

    def attention_branch(self, x2, padding_mask, record: BlockRecord | None = None):
        """F(x2) = dropout(Attention(LayerNorm(x2))); fills `record` when given."""
        out, buckets = self.attention(self.attention_norm(x2), padding_mask)  # (B, L, d_model)
        if record is not None:
            record.buckets = buckets
            # Captured after the attention call: an LSH layer draws fresh rotations from the same
            # generator in the forward pass but not in the recompute (its buckets are given).
            record.attention_dropout_rng = RNGState.capture(out.device)
        return F.dropout(out, self.dropout, self.training)

    def forward(self, x1, x2, padding_mask=None, record: BlockRecord | None = None):
        """(x1, x2) -> (y1, y2), each (B, L, d_model)."""
        y1 = add_into(self.attention_branch(x2, padding_mask, record), x1)  # x1 + F(x2)
        if record is not None:
            record.feedforward_rng = RNGState.capture(y1.device)
        y2 = add_into(self.feedforward(y1), x2)  # x2 + G(y1)
        return y1, y2

    def recompute_attention_branch(self, x2, padding_mask, record: BlockRecord):
        """F(x2) with grad, using the forward pass's buckets and dropout mask."""
        with record.attention_dropout_rng.replay():  # forked: the global RNG is left untouched
            out, _ = self.attention(self.attention_norm(x2), padding_mask, record.buckets)
            record.attention_dropout_rng.restore()
            return F.dropout(out, self.dropout, self.training)

    def backward_pass(self, y1, y2, grad_y1, grad_y2, padding_mask, record, param_grads):
        """Rebuild (x1, x2) from (y1, y2) and turn dL/d(y1, y2) into dL/d(x1, x2).

        x2 is rebuilt in place of y2 and dL/dy1 accumulated in place (the caller hands over
        tensors that are the backward's own, see _ReversibleFunction.backward): at 64K tokens
        each (B, L, d_model) tensor not allocated saves 64 MiB of fresh pages.
        Parameter gradients are added into `param_grads` (a dict keyed by parameter).
        """
        # y2 = x2 + G(y1):  x2 = y2 - G(y1);  dL/dy1 += (dG/dy1)^T dL/dy2.
        # G is position-wise, so recompute and differentiate it chunk by chunk: only one
        # (B, chunk, d_ff) hidden tensor lives at a time, in the backward pass as in the forward.
        feedforward_params = [p for p in self.feedforward.parameters() if p.requires_grad]
        with record.feedforward_rng.replay():  # same chunks, same order -> same dropout masks
            for part in self.feedforward.chunk_slices(y1.shape[1]):
                y1_part = y1[:, part].detach().requires_grad_(True)
                g_part = self.feedforward.forward_chunk(y1_part)  # (B, k, d_model)
                grads = torch.autograd.grad(g_part, [y1_part, *feedforward_params],
                                            grad_y2[:, part].to(g_part.dtype), allow_unused=True)
                y2[:, part] -= g_part.detach()  # now x2 there
                grad_y1[:, part] += grads[0]
                _accumulate(param_grads, feedforward_params, grads[1:])
        x2 = y2

        # y1 = x1 + F(x2):  x1 = y1 - F(x2);  dL/dx2 = dL/dy2 + (dF/dx2)^T dL/dy1;  dL/dx1 = dL/dy1.
        attention_params = [p for name, p in self.named_parameters()
                            if p.requires_grad and not name.startswith("feedforward.")]
        x2_leaf = x2.detach().requires_grad_(True)
        f_out = self.recompute_attention_branch(x2_leaf, padding_mask, record)
        grads = torch.autograd.grad(f_out, [x2_leaf, *attention_params],
                                    grad_y1.to(f_out.dtype), allow_unused=True)
        _accumulate(param_grads, attention_params, grads[1:])
        x1 = subtract_into(f_out.detach(), y1)  # y1 - F(x2), in F's output (graph done)
        grad_x2 = add_into(grads[0], grad_y2)  # grad_y2 + dF/dx2
        return x1, x2, grad_y1, grad_x2


# A fresh (B, L, d_model) tensor at 64K tokens is 64 MiB, which the system hands out as new
# zeroed pages each time; writing a sum into an operand that is ours to reuse (a sub-layer's
# fresh output, a gradient just returned) avoids that. Same values as the plain expression;
# out of place when the result's dtype would differ (e.g. a bf16 output under autocast).

def add_into(fresh: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """other + fresh, written into `fresh` when the result fits it."""
    # promote_types of two same-rank tensors is result_type, and torch.compile can trace it
    if fresh.dtype == torch.promote_types(fresh.dtype, other.dtype) and fresh.shape == other.shape:
        return fresh.add_(other)
    return other + fresh


@torch.no_grad()
def subtract_into(fresh: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """other - fresh, written into `fresh` when the result fits it (no autograd: it rebuilds
    a block's input, whose gradient the reversible backward computes itself)."""
    if fresh.dtype == torch.promote_types(fresh.dtype, other.dtype) and fresh.shape == other.shape:
        return torch.sub(other, fresh, out=fresh)
    return other - fresh


def _accumulate(param_grads: dict, params: list, grads) -> None:
    for param, grad in zip(params, grads):
        if grad is None:  # parameter not used by this input (e.g. no padding)
            continue
        if param in param_grads:
            param_grads[param] += grad
        else:
            param_grads[param] = grad


class _ReversibleFunction(torch.autograd.Function):
    """Forward without stored activations; backward by inversion (see the module docstring)."""

    @staticmethod
    def forward(ctx, x1, x2, padding_mask, blocks, *params):
        # Autocast is active here as in the caller; the backward runs on autograd's thread,
        # outside it, so remember the state and re-enter it there (what torch.amp.custom_fwd does,
        # for whichever device the streams live on).
        device_type = x1.device.type
        ctx.autocast = (device_type, torch.is_autocast_enabled(device_type),
                        torch.get_autocast_dtype(device_type))
        records = []
        for block in blocks:  # autograd.Function.forward already runs under no_grad
            record = BlockRecord()
            x1, x2 = block(x1, x2, padding_mask, record)
            records.append(record)
        ctx.blocks, ctx.records, ctx.padding_mask = blocks, records, padding_mask
        ctx.save_for_backward(x1, x2)  # the only activations kept: (B, L, d_model) twice
        return x1, x2

    @staticmethod
    def backward(ctx, grad_y1, grad_y2):
        y1, y2 = ctx.saved_tensors
        # backward_pass writes into y2 and grad_y1: copies of what the caller may still hold
        y2 = y2.clone()
        grad_y1 = torch.zeros_like(y1) if grad_y1 is None else grad_y1.clone()
        grad_y2 = torch.zeros_like(y2) if grad_y2 is None else grad_y2
        param_grads: dict = {}
        device_type, autocast_enabled, autocast_dtype = ctx.autocast
        with torch.enable_grad(), torch.autocast(device_type, autocast_dtype,
                                                 enabled=autocast_enabled):
            for block, record in zip(reversed(ctx.blocks), reversed(ctx.records)):
                y1, y2, grad_y1, grad_y2 = block.backward_pass(
                    y1, y2, grad_y1, grad_y2, ctx.padding_mask, record, param_grads)
        ctx.records = None  # free the buckets and RNG states
        params = list(ctx.blocks.parameters())  # the same order as in ReversibleStack.forward
        return (grad_y1, grad_y2, None, None, *[param_grads.get(p) for p in params])


def _reversible_stack(x1, x2, padding_mask, blocks, *params):
    return _ReversibleFunction.apply(x1, x2, padding_mask, blocks, *params)


_EAGER_UNDER_COMPILE: list = []  # the stack behind torch.compiler.disable, made on first need


def _eager_under_compile():
    """torch.compile cannot trace the reversible backward (it calls torch.autograd.grad and
    replays RNG states), so under compilation the reversible stack runs eagerly: the compiled
    graphs are the embedding, the final norm and the loss (every block when reversible=False).
    Made on first need: torch.compiler.disable imports torch._dynamo, a large start-up cost for
    every process that never compiles."""
    if not _EAGER_UNDER_COMPILE:
        _EAGER_UNDER_COMPILE.append(torch.compiler.disable(_reversible_stack))
    return _EAGER_UNDER_COMPILE[0]


class ReversibleStack(nn.Module):
    """n_layers blocks; reversible (memory independent of depth) or plain autograd."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.reversible = config.reversible
        self.blocks = nn.ModuleList(ReversibleBlock(config, i) for i in range(config.n_layers))

    def forward(self, x1, x2, padding_mask=None):
        """(x1, x2) each (B, L, d_model) -> (y1, y2) each (B, L, d_model)."""
        params = list(self.blocks.parameters())
        needs_grad = torch.is_grad_enabled() and (
            x1.requires_grad or x2.requires_grad or any(p.requires_grad for p in params))
        if self.reversible and needs_grad:
            stack = _eager_under_compile() if torch.compiler.is_compiling() else _reversible_stack
            return stack(x1, x2, padding_mask, self.blocks, *params)
        for block in self.blocks:  # plain autograd (or no grad at all: nothing is kept anyway)
            x1, x2 = block(x1, x2, padding_mask)
        return x1, x2
