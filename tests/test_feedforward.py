"""Chunked feed-forward against a plain, unchunked reference (values and gradients)."""

import pytest
import torch
import torch.nn.functional as F

from reformer_cli.config.model import ModelConfig
from reformer_cli.core.feedforward import ChunkedFeedForward


def reference_feedforward(module: ChunkedFeedForward, hidden: torch.Tensor) -> torch.Tensor:
    """The sub-layer written out on the whole sequence at once (no dropout)."""
    normed = F.layer_norm(hidden, hidden.shape[-1:], module.norm.weight, module.norm.bias)
    inner = F.gelu(normed @ module.linear_in.weight.t() + module.linear_in.bias)
    return inner @ module.linear_out.weight.t() + module.linear_out.bias


def make_module(ff_chunk_size: int, dropout: float = 0.0) -> ChunkedFeedForward:
    torch.manual_seed(0)
    config = ModelConfig(d_model=16, n_heads=2, d_ff=48, ff_chunk_size=ff_chunk_size,
                         dropout=dropout)
    module = ChunkedFeedForward(config).double()
    with torch.no_grad():  # non-trivial norm parameters, so their gradients are checked too
        module.norm.weight.uniform_(0.5, 1.5)
        module.norm.bias.uniform_(-0.5, 0.5)
    return module


@pytest.mark.parametrize("chunk", [0, 1, 7, 30, 64])  # 0 = unchunked; 7 does not divide 30
def test_chunked_matches_unchunked_values_and_gradients(chunk):
    module = make_module(chunk)
    torch.manual_seed(1)
    hidden = torch.randn(3, 30, 16, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(3, 30, 16, dtype=torch.float64)

    out = module(hidden)
    (out * weights).sum().backward()
    grads = [hidden.grad.clone()] + [p.grad.clone() for p in module.parameters()]
    hidden.grad = None
    module.zero_grad()

    expected = reference_feedforward(module, hidden)
    (expected * weights).sum().backward()
    expected_grads = [hidden.grad] + [p.grad for p in module.parameters()]

    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_chunk_slices_cover_every_position_once():
    module = make_module(7)
    slices = module.chunk_slices(30)
    covered = [i for part in slices for i in range(30)[part]]
    assert covered == list(range(30))
    assert all(part.stop - part.start <= 7 for part in slices)
    assert make_module(0).chunk_slices(30) == [slice(0, 30)]
    assert make_module(64).chunk_slices(30) == [slice(0, 30)]


def test_dropout_replays_chunk_by_chunk():
    """Walking the chunks again from the same RNG state draws the same masks (the reversible
    recompute relies on this), and dropout is really active in training mode."""
    module = make_module(7, dropout=0.3).train()
    hidden = torch.randn(2, 30, 16, dtype=torch.float64)
    state = torch.get_rng_state()
    first = module(hidden)
    torch.set_rng_state(state)
    again = torch.cat([module.forward_chunk(hidden[:, part]) for part in module.chunk_slices(30)],
                      dim=1)
    assert torch.equal(first, again)
    assert not torch.allclose(first, module.eval()(hidden))
