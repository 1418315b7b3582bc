"""The model under CUDA's autocast rules (imitated on the CPU, tests/cuda_autocast.py) and the
chunked kernel's numerics in bf16 and fp16, against fp32/fp64 results."""

import pytest
import torch
from cuda_autocast import cuda_like_autocast

from reformer_cli.config.model import ModelConfig
from reformer_cli.core.attention_types import build_attention
from reformer_cli.core.chunked_ops import chunked_attention
from reformer_cli.core.model import ReformerLM

VOCAB = 29


def make_model(layer_types, reversible=True) -> ReformerLM:
    torch.manual_seed(0)
    return ReformerLM(ModelConfig(vocab_size=VOCAB, d_model=32, n_heads=2, d_ff=64, n_layers=3,
                                  layer_types=list(layer_types), chunk_length=8, n_hashes=2,
                                  dropout=0.0, ff_chunk_size=16, loss_chunk_size=11,
                                  hash_seed=11, reversible=reversible))


def loss_and_grads(model, ids, targets):
    model.zero_grad()
    loss = model(ids, targets)
    loss.backward()
    return loss.detach(), {name: p.grad.clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("reversible", [True, False])
def test_model_trains_under_cuda_autocast_rules_close_to_fp32(reversible):
    """CUDA runs norms, sums, softmax, exp, pow, layer_norm in fp32 under autocast (the CPU
    keeps them in bf16): the forward and backward must still meet no bf16/fp32 mismatch."""
    assert_close_to_fp32_under_cuda_autocast(reversible)


def assert_close_to_fp32_under_cuda_autocast(reversible):
    """A [local, lsh, full] model's loss and gradients under the imitated CUDA bf16 autocast
    against fp32 (whichever attention path the environment picks)."""
    model = make_model(["local", "lsh", "full"], reversible)
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(0, VOCAB, (2, 40), generator=generator)
    targets = torch.randint(0, VOCAB, (2, 40), generator=generator)
    reference, reference_grads = loss_and_grads(model, ids, targets)
    with cuda_like_autocast(torch.bfloat16):
        loss, grads = loss_and_grads(model, ids, targets)
    assert loss.dtype == torch.float32
    assert abs(loss.item() - reference.item()) < 2e-3
    for name, grad in grads.items():
        scale = reference_grads[name].abs().max().clamp_min(1e-3)
        assert (grad - reference_grads[name]).abs().max() < 0.03 * scale, name



def rounds_through_the_kernel(q, v, orders, weights, chunk=4):
    """chunked_attention with the rows read through the sort index `orders` (one permutation
    of the tokens per hash round, as LSH passes them), one chunk per score block (so every
    chunk's sums are added on their own); returns (output (R, d), dq, dv)."""
    length = q.shape[0]
    q, v = q.clone().requires_grad_(True), v.clone().requires_grad_(True)
    sort_index = torch.cat(orders)  # (r*L,)
    positions = sort_index.view(1, -1, chunk)  # (1, n, c): each stream slot's token
    chunks_per_round = length // chunk
    no_look_back = torch.arange(positions.shape[1]) % chunks_per_round == 0
    out = chunked_attention(q, v, positions, no_look_back, True, 0.35,
                            rows=sort_index, scores_per_block=2 * chunk * chunk)
    (out.float() * weights).sum().backward()
    return out.detach(), q.grad, v.grad


def test_bf16_hash_rounds_are_summed_in_fp32_so_their_order_does_not_matter():
    """Each token's hash rounds (and its q/v gradients) are summed in fp32 and cast to bf16
    once: the same rounds taken in another order give the same output and gradients (bf16
    values sum exactly in fp32), where sums kept in bf16 round differently for each order
    (and on CUDA, whose index_add is an atomicAdd, differently for each run)."""
    generator = torch.Generator().manual_seed(2)
    q = torch.randn(64, 8, generator=generator).to(torch.bfloat16)
    v = torch.randn(64, 8, generator=generator).to(torch.bfloat16)
    weights = torch.randn(64, 8, generator=generator)
    orders = [torch.randperm(64, generator=generator) for _ in range(4)]
    first = rounds_through_the_kernel(q, v, orders, weights)
    reordered = rounds_through_the_kernel(q, v, [orders[i] for i in (3, 1, 0, 2)], weights)
    for mine, theirs in zip(first, reordered):
        assert mine.dtype == torch.bfloat16
        assert (mine != theirs).float().mean() < 0.01


@pytest.mark.parametrize("kind", ["local", "lsh"])
def test_fp16_padding_queries_stay_finite_and_real_positions_match_fp32(kind):
    """A padding position's query is all zeros; its key scale scale / |q| (|q| clamped to
    1e-6) does not fit fp16, so it is kept in fp32: no inf, no NaN, here or in the gradients."""
    torch.manual_seed(0)
    config = ModelConfig(d_model=16, n_heads=2, chunk_length=4, n_hashes=2, n_buckets=4,
                         causal=True, hash_seed=3)
    layer = build_attention(kind, config, layer_index=0)
    generator = torch.Generator().manual_seed(5)
    hidden = torch.randn(2, 10, 16, generator=generator)  # padded to 12 inside
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[1, 7:] = False
    weights = torch.randn(2, 10, 16, generator=generator)
    results, buckets = [], None  # the fp16 run reuses the fp32 run's buckets
    for dtype in (torch.float32, torch.float16):
        layer.to(dtype)
        x = hidden.to(dtype).detach().requires_grad_(True)
        out, buckets = layer(x, mask, buckets)
        (out.float() * weights)[mask].sum().backward()
        results.append((out.float(), x.grad.float()))
    (reference, reference_grad), (out, grad) = results
    assert out.isfinite().all() and grad.isfinite().all()
    torch.testing.assert_close(out[mask], reference[mask], rtol=0, atol=3e-3)
    torch.testing.assert_close(grad, reference_grad, rtol=0, atol=3e-3)
