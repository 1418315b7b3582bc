"""Full, naive and local attention against dense references written out by hand."""

import math

import pytest
import torch

from reformer_cli.config.model import ModelConfig
from reformer_cli.core.attention_types import build_attention
from reformer_cli.errors import ConfigError

HARD, SELF = -1e9, -1e5


def make(kind, seed=0, **overrides):
    torch.manual_seed(seed)
    settings = dict(d_model=16, n_heads=2, chunk_length=4, causal=True)
    settings.update(overrides)
    return build_attention(kind, ModelConfig(**settings), layer_index=0)


def heads(x, layer):
    batch, length, _ = x.shape
    return x.view(batch, length, layer.n_heads, layer.d_head).transpose(1, 2)  # (B, H, L, d)


def dense_full_reference(layer, hidden, padding_mask):
    """softmax(q k^T / sqrt(d) + masks) v, everything explicit, in the input's dtype."""
    length = hidden.shape[1]
    q = layer.rotary(heads(hidden @ layer.query.weight.T, layer))
    k = layer.rotary(heads(hidden @ layer.key.weight.T, layer))
    v = heads(hidden @ layer.value.weight.T, layer)
    scores = q @ k.transpose(-1, -2) / math.sqrt(layer.d_head)
    allowed = torch.ones(length, length, dtype=torch.bool)
    if layer.causal:
        allowed = allowed.tril()
    allowed = allowed & (torch.ones(hidden.shape[:2], dtype=torch.bool) if padding_mask is None
                         else padding_mask)[:, None, None, :]
    scores = scores.masked_fill(~allowed, HARD)
    out = torch.softmax(scores, -1) @ v
    return out.transpose(1, 2).reshape(hidden.shape) @ layer.output.weight.T


def dense_local_reference(layer, hidden, padding_mask):
    """Shared-QK attention with the band mask written as an (L, L) matrix: query i sees key j
    when j is in i's chunk or the chunk before; causal, padding (hard) and self (soft)."""
    length, chunk = hidden.shape[1], layer.config.chunk_length
    q = layer.rotary(heads(hidden @ layer.query_key.weight.T, layer))
    k = q / q.norm(dim=-1, keepdim=True)
    v = heads(hidden @ layer.value.weight.T, layer)
    scores = q @ k.transpose(-1, -2) / math.sqrt(layer.d_head)  # (B, H, L, L)
    batch = hidden.shape[0]
    real = torch.ones(batch, length, dtype=torch.bool) if padding_mask is None else padding_mask
    bias = torch.zeros(batch, 1, length, length, dtype=hidden.dtype)
    for b in range(batch):
        for i in range(length):
            for j in range(length):
                in_band = i // chunk - 1 <= j // chunk <= i // chunk
                if not in_band or (layer.causal and j > i) or not real[b, j]:
                    bias[b, 0, i, j] += HARD  # (only real query rows are compared)
                if i == j:
                    bias[b, 0, i, j] += SELF
    out = torch.softmax(scores + bias, -1) @ v
    return out.transpose(1, 2).reshape(hidden.shape) @ layer.output.weight.T


def value_and_grads(layer, fn, hidden, real, weights):
    layer.zero_grad()
    x = hidden.clone().requires_grad_(True)
    out = fn(x)
    ((out * weights)[real]).sum().backward()
    return [out[real].detach(), x.grad] + [p.grad.clone() for p in layer.parameters()]


def padding_case(use_padding, batch, length):
    if not use_padding:
        return None, torch.ones(batch, length, dtype=torch.bool)
    mask = torch.ones(batch, length, dtype=torch.bool)
    mask[0, :3] = False
    mask[1, length - 2:] = False
    return mask, mask


@pytest.mark.parametrize("kind", ["full", "naive"])
@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("use_padding", [False, True])
def test_full_and_naive_match_manual_softmax(kind, causal, use_padding):
    layer = make(kind, causal=causal).double()
    hidden = torch.randn(2, 9, 16, dtype=torch.float64)
    padding_mask, real = padding_case(use_padding, 2, 9)
    weights = torch.randn(2, 9, 16, dtype=torch.float64)
    ours = value_and_grads(layer, lambda x: layer(x, padding_mask)[0], hidden, real, weights)
    ref = value_and_grads(layer, lambda x: dense_full_reference(layer, x, padding_mask),
                          hidden, real, weights)
    for mine, theirs in zip(ours, ref):
        torch.testing.assert_close(mine, theirs)


def test_naive_equals_full_with_the_same_weights():
    full, naive = make("full"), make("naive", seed=1)
    naive.load_state_dict(full.state_dict())
    hidden = torch.randn(2, 33, 16)
    torch.testing.assert_close(naive(hidden)[0], full(hidden)[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("use_padding", [False, True])
@pytest.mark.parametrize("length", [8, 11])  # a multiple of the chunk (4) and not
@pytest.mark.parametrize("chunks_per_block", [None, 1])  # None: the default (one score block)
def test_local_matches_dense_band_reference(causal, use_padding, length, chunks_per_block):
    layer = make("local", causal=causal).double()
    if chunks_per_block:  # one chunk per score block: every block boundary is crossed
        layer.scores_per_block = chunks_per_block * 2 * 4 * 4
    assert_local_matches_dense_band(layer, length, use_padding)


def assert_local_matches_dense_band(layer, length, use_padding):
    """Values and every gradient of a local layer (fp64, width 16) against the dense band."""
    hidden = torch.randn(2, length, 16, dtype=torch.float64)
    padding_mask, real = padding_case(use_padding, 2, length)
    weights = torch.randn(2, length, 16, dtype=torch.float64)
    ours = value_and_grads(layer, lambda x: layer(x, padding_mask)[0], hidden, real, weights)
    ref = value_and_grads(layer, lambda x: dense_local_reference(layer, x, padding_mask),
                          hidden, real, weights)
    for mine, theirs in zip(ours, ref):
        torch.testing.assert_close(mine, theirs)


@pytest.mark.parametrize("kind", ["local", "full", "naive"])
def test_changing_token_t_never_changes_earlier_outputs(kind):
    layer = make(kind)
    hidden = torch.randn(1, 21, 16)
    base, _ = layer(hidden)
    for t in (0, 6, 20):
        changed = hidden.clone()
        changed[0, t] += 3.0 * torch.randn(16)
        out, _ = layer(changed)
        assert torch.equal(out[:, :t], base[:, :t])  # bit-identical: masked weights are exactly 0
        assert not torch.allclose(out[:, t], base[:, t])


@pytest.mark.parametrize("kind", ["local", "full", "naive"])
@pytest.mark.parametrize("causal", [True, False])
def test_padding_never_influences_real_positions(kind, causal):
    layer = make(kind, causal=causal)
    hidden = torch.randn(2, 14, 16)
    mask = torch.ones(2, 14, dtype=torch.bool)
    mask[0, :5], mask[1, 9:] = False, False
    base, _ = layer(hidden, mask)
    changed = hidden.clone()
    changed[~mask] = 5 * torch.randn(int((~mask).sum()), 16)
    torch.testing.assert_close(layer(changed, mask)[0][mask], base[mask], rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind", ["lsh", "local", "full", "naive"])
def test_common_interface_and_bf16_autocast(kind):
    layer = make(kind, n_buckets=4)
    hidden = torch.randn(2, 10, 16, requires_grad=True)
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[1, 7:] = False
    reference, reference_buckets = layer(hidden, mask)
    reference.float().sum().backward()
    reference_grad, hidden.grad = hidden.grad, None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, buckets = layer(hidden, mask, reference_buckets)
    assert out.shape == (2, 10, 16)
    if kind == "lsh":  # (B, H, rounds, L padded to the chunk)
        assert buckets.shape == (2, 2, layer.n_hashes, 12) and int(buckets.max()) < 4
    else:
        assert buckets is None
    out.float().sum().backward()
    # bf16 keeps ~3 significant digits: within a few percent of the fp32 result, same buckets
    real = mask[..., None].expand_as(out)
    torch.testing.assert_close(out.float()[real], reference[real], rtol=0.05, atol=0.02)
    torch.testing.assert_close(hidden.grad, reference_grad, rtol=0.05, atol=0.05)


def test_unknown_type_is_a_config_error():
    with pytest.raises(ConfigError):
        build_attention("sparse", ModelConfig(), 0)
