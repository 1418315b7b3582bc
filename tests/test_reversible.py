"""The reversible stack against the same equations under plain autograd.

With dropout on and LSH layers that draw fresh rotations every forward, the reversible backward
must replay the dropout masks and the buckets exactly, or these comparisons fail.
"""

import copy

import pytest
import torch

from reformer_cli.config.model import ModelConfig
from reformer_cli.core.reversible import ReversibleStack

LAYER_SETS = {"local+lsh": ["local", "lsh"], "full": ["full"], "lsh": ["lsh"]}


def make_config(layer_types, reversible=True, **overrides) -> ModelConfig:
    settings = dict(vocab_size=32, d_model=32, n_heads=2, d_ff=64, n_layers=4,
                    layer_types=layer_types, chunk_length=8, n_hashes=2, dropout=0.1,
                    ff_chunk_size=7, hash_seed=None, reversible=reversible)
    settings.update(overrides)
    return ModelConfig(**settings)


def make_pair(layer_types, dtype=torch.float64, **overrides):
    """A reversible stack and a plain one with identical parameters."""
    torch.manual_seed(0)
    reversible = ReversibleStack(make_config(layer_types, True, **overrides)).to(dtype).train()
    plain = ReversibleStack(make_config(layer_types, False, **overrides)).to(dtype).train()
    plain.load_state_dict(reversible.state_dict())
    return reversible, plain


def run(stack, x, weights, padding_mask=None, seed=1234):
    """Forward + backward from a fixed RNG state; returns outputs, gradients, RNG states."""
    x1 = x.clone().requires_grad_(True)
    x2 = (x * 0.5).requires_grad_(True)
    stack.zero_grad()
    torch.manual_seed(seed)
    y1, y2 = stack(x1, x2, padding_mask)
    state_after_forward = torch.get_rng_state()
    ((y1 * weights[0]).sum() + (y2 * weights[1]).sum()).backward()
    grads = {name: p.grad.clone() for name, p in stack.named_parameters()}
    return dict(y1=y1.detach(), y2=y2.detach(), dx1=x1.grad, dx2=x2.grad, grads=grads,
                rng_forward=state_after_forward, rng_backward=torch.get_rng_state())


@pytest.mark.parametrize("layers", list(LAYER_SETS))
def test_reversible_equals_plain_with_dropout(layers):
    reversible, plain = make_pair(LAYER_SETS[layers])
    torch.manual_seed(7)
    x = torch.randn(2, 45, 32, dtype=torch.float64)  # 45: not a multiple of chunk 8 or ff chunk 7
    weights = torch.randn(2, 2, 45, 32, dtype=torch.float64)
    mask = torch.ones(2, 45, dtype=torch.bool)
    mask[1, 40:] = False
    for padding_mask in (None, mask):
        got, want = run(reversible, x, weights, padding_mask), run(plain, x, weights, padding_mask)
        for key in ("y1", "y2", "dx1", "dx2"):
            torch.testing.assert_close(got[key], want[key], rtol=1e-7, atol=1e-9, msg=key)
        assert got["grads"].keys() == want["grads"].keys()
        for name in want["grads"]:
            torch.testing.assert_close(got["grads"][name], want["grads"][name], rtol=1e-7,
                                       atol=1e-9, msg=name)
        # The recompute ran inside fork_rng: the backward drew nothing from the global RNG,
        # exactly like the plain backward.
        assert torch.equal(got["rng_backward"], got["rng_forward"])
        assert torch.equal(got["rng_backward"], want["rng_backward"])


def test_dropout_is_really_on():
    """Guards the test above: two forwards from different seeds differ (masks are random)."""
    reversible, _ = make_pair(["full"])
    x = torch.randn(1, 20, 32, dtype=torch.float64)
    torch.manual_seed(1)
    first = reversible(x, x)[0]
    torch.manual_seed(2)
    assert not torch.allclose(first, reversible(x, x)[0])


def test_float32_reversible_equals_plain():
    reversible, plain = make_pair(["local", "lsh"], dtype=torch.float32)
    torch.manual_seed(3)
    x = torch.randn(2, 40, 32)
    weights = torch.randn(2, 2, 40, 32)
    got, want = run(reversible, x, weights), run(plain, x, weights)
    torch.testing.assert_close(got["dx1"], want["dx1"], rtol=1e-4, atol=1e-5)
    for name in want["grads"]:
        torch.testing.assert_close(got["grads"][name], want["grads"][name], rtol=1e-4, atol=1e-5,
                                   msg=name)


def saved_bytes_in_forward(stack, x) -> int:
    """Bytes of every tensor autograd keeps for the backward pass during one forward."""
    total = 0

    def pack(tensor):
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        stack(x, x)
    return total


def test_reversible_forward_keeps_only_the_last_outputs():
    torch.manual_seed(0)
    x = torch.randn(1, 64, 32, requires_grad=True)
    stream_bytes = 2 * x.numel() * x.element_size()  # (y1, y2)
    for layers in (1, 6):
        stack = ReversibleStack(make_config(["local", "lsh"], True, n_layers=layers))
        assert saved_bytes_in_forward(stack, x) == stream_bytes
    shallow = saved_bytes_in_forward(ReversibleStack(make_config(["local", "lsh"], False,
                                                                 n_layers=1)), x)
    deep = saved_bytes_in_forward(ReversibleStack(make_config(["local", "lsh"], False,
                                                              n_layers=6)), x)
    assert deep > 5 * shallow > 5 * stream_bytes  # plain autograd grows with depth


def test_bf16_autocast_forward_and_backward():
    """No dtype mismatch in the custom Function under autocast; gradients close to fp32."""
    reversible, _ = make_pair(["local", "lsh", "full"], dtype=torch.float32, dropout=0.0,
                              hash_seed=3)
    torch.manual_seed(4)
    x = torch.randn(2, 40, 32)
    weights = torch.randn(2, 2, 40, 32)
    reference = run(reversible, x, weights)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = run(reversible, x, weights)
    assert mixed["y1"].dtype == torch.float32  # the residual streams stay in fp32
    for name, grad in mixed["grads"].items():
        assert grad.dtype == torch.float32 and torch.isfinite(grad).all(), name
        scale = reference["grads"][name].abs().max().clamp_min(1e-3)
        assert (grad - reference["grads"][name]).abs().max() < 0.1 * scale, name


def test_no_grad_and_eval_run_without_the_function():
    reversible, plain = make_pair(["local", "lsh"], hash_seed=5)
    reversible.eval()
    plain.eval()
    x = torch.randn(1, 30, 32, dtype=torch.float64)
    with torch.no_grad():
        y1, y2 = reversible(x, x)
        assert y1.grad_fn is None
        torch.testing.assert_close((y1, y2), plain(x, x))


def test_state_dict_layout_is_the_same_in_both_modes():
    reversible, plain = make_pair(["local", "lsh"])
    assert list(reversible.state_dict()) == list(plain.state_dict())
    copy.deepcopy(reversible).load_state_dict(plain.state_dict(), strict=True)
