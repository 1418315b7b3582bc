"""The model under CUDA's autocast rules (imitated on the CPU, tests/cuda_autocast.py) and the
chunked kernel's numerics in bf16 and fp16, against fp32/fp64 results."""

import pytest
import torch
from cuda_autocast import cuda_like_autocast

from reformer_cli.config.model import ModelConfig
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
