"""On a CUDA GPU: the GPU attention path (flex_window.py, flex_lsh.py, its compiled kernels)
against the chunked core on the CPU in fp64, with the same weights and buckets; compile hygiene
and memory at 64K tokens. (The whole model, RNG replay and the commands on CUDA: test_cuda.py.)

Marked `cuda` and skipped with a reason where no CUDA device is present. Run them with
`pytest -m cuda` or `bash bench/gpu_check.sh tests`. fp32 comparisons run with TF32 off; bf16
ones under autocast, as training runs.
"""

import copy

import pytest
import torch

from reformer_cli.config.model import ModelConfig
from reformer_cli.core import flex_window
from reformer_cli.core.attention_types import build_attention
from reformer_cli.core.flex_lsh import flex_lsh_attention

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(),
                                 reason="needs a CUDA GPU (the GPU attention path); "
                                        "run bench/gpu_check.sh on a GPU machine")]

CUDA = torch.device("cuda")


@pytest.fixture(autouse=True)
def full_fp32_and_auto_path(monkeypatch):
    """fp32 means fp32 (no TF32), and the device picks the attention path."""
    monkeypatch.delenv(flex_window.PATH_VARIABLE, raising=False)
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


def relative_error(mine: torch.Tensor, reference: torch.Tensor) -> float:
    mine, reference = mine.detach().double().cpu(), reference.detach().double().cpu()
    return float((mine - reference).norm() / reference.norm().clamp_min(1e-30))


def forced(layer, hidden, padding_mask, buckets):
    """The layer's output with its LSH buckets held fixed (None: hashed, or local)."""
    if buckets is not None:
        buckets = buckets.to(hidden.device)
    return layer(hidden, padding_mask, buckets)[0]


def layer_results(layer, hidden, padding_mask, buckets, weights, autocast=False):
    """[output, d hidden, d every parameter] of sum(output * weights) over real positions."""
    layer.zero_grad()
    x = hidden.clone().requires_grad_(True)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
        out = forced(layer, x, padding_mask, buckets)
    real = torch.ones(hidden.shape[:2], dtype=torch.bool, device=hidden.device)
    if padding_mask is not None:
        real = padding_mask
    (out.to(weights.dtype) * weights)[real].sum().backward()
    return [out[real]] + [x.grad] + [p.grad for p in layer.parameters()]


LAYER_CASES = [  # kind, chunk, length, causal, padding, settings: each feature once, lengths
    # crossing flex's 128-slot blocks (every new shape compiles: the list is kept short)
    ("lsh", 16, 300, True, False, dict(n_hashes=2, n_buckets=16)),
    ("lsh", 64, 700, True, True, dict(n_hashes=3, n_buckets=16, duplicate_correction=True)),
    ("lsh", 64, 700, False, True, dict(n_hashes=2, n_buckets=16)),
    ("lsh", 128, 1000, False, False, dict(n_hashes=1, n_buckets=8)),
    ("local", 16, 300, False, True, {}),
    ("local", 64, 700, True, True, {}),
    ("local", 128, 1000, True, False, {})]


@pytest.mark.parametrize("kind, chunk, length, causal, use_padding, settings", LAYER_CASES)
def test_layer_on_cuda_matches_the_fp64_cpu_core(kind, chunk, length, causal, use_padding,
                                                 settings):
    """fp32 flex kernels (forward and backward) against the chunked core in fp64 on the CPU
    (itself tested against brute force), same weights and buckets."""
    torch.manual_seed(0)
    config = ModelConfig(d_model=64, n_heads=2, chunk_length=chunk, causal=causal, **settings)
    reference = build_attention(kind, config, 0).double()
    layer = copy.deepcopy(reference).float().to(CUDA)
    generator = torch.Generator().manual_seed(1)
    hidden = torch.randn(2, length, 64, generator=generator)
    weights = torch.randn(2, length, 64, generator=generator)
    padding_mask = None
    if use_padding:
        padding_mask = torch.ones(2, length, dtype=torch.bool)
        padding_mask[0, :5], padding_mask[1, length - 40:] = False, False
    padded = -(-length // chunk) * chunk
    buckets = None
    if kind == "lsh":
        buckets = torch.randint(0, config.n_buckets, (2, 2, config.n_hashes, padded),
                                generator=generator)
    ours = layer_results(layer, hidden.to(CUDA), None if padding_mask is None
                         else padding_mask.to(CUDA), buckets, weights.to(CUDA))
    ref = layer_results(reference, hidden.double(), padding_mask, buckets, weights.double())
    for mine, theirs in zip(ours, ref):
        assert relative_error(mine, theirs) < 1e-5


@pytest.mark.parametrize("kind", ["lsh", "local"])
def test_layer_in_bf16_autocast_is_close_to_fp64(kind):
    torch.manual_seed(0)
    config = ModelConfig(d_model=128, n_heads=2, chunk_length=64, n_hashes=2, n_buckets=16)
    reference = build_attention(kind, config, 0).double()
    layer = copy.deepcopy(reference).float().to(CUDA)
    hidden, weights = torch.randn(2, 1000, 128), torch.randn(2, 1000, 128)
    buckets = torch.randint(0, 16, (2, 2, 2, 1024)) if kind == "lsh" else None
    ours = layer_results(layer, hidden.to(CUDA), None, buckets, weights.to(CUDA), autocast=True)
    ref = layer_results(reference, hidden.double(), None, buckets, weights.double())
    assert ours[0].dtype == torch.bfloat16
    for mine, theirs in zip(ours, ref):
        assert relative_error(mine, theirs) < 3e-2


def test_compiled_path_neither_recompiles_nor_syncs_for_new_content():
    """After a warm-up at one shape, new content of the same shape reuses the compiled
    kernels and the forward and backward never wait for the device."""
    def call(seed):
        generator = torch.Generator(device=CUDA).manual_seed(seed)
        q = torch.randn(1, 2048, 4, 64, device=CUDA, generator=generator, requires_grad=True)
        v = torch.randn(1, 2048, 4, 64, device=CUDA, generator=generator, requires_grad=True)
        buckets = torch.randint(0, 32, (1, 4, 2, 2048), device=CUDA, generator=generator)
        out = flex_lsh_attention(q, v, buckets, None, 32, 64, True, 0.125)
        out.float().square().sum().backward()
        return out

    call(0)
    torch.cuda.synchronize()
    import torch._dynamo as dynamo

    with dynamo.config.patch(error_on_recompile=True):
        torch.cuda.set_sync_debug_mode("error")
        try:
            call(1)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    torch.cuda.synchronize()


def test_one_lsh_layer_at_64k_tokens_fits_in_2_gib():
    config = ModelConfig(d_model=256, n_heads=4, chunk_length=64, n_hashes=2,
                         max_seq_len=65536)
    layer = build_attention("lsh", config, 0).to(CUDA)
    hidden = torch.randn(1, 65536, 256, device=CUDA, requires_grad=True)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out, _ = layer(hidden)
    out.float().square().mean().backward()
    torch.cuda.synchronize()
    peak = (torch.cuda.max_memory_allocated() - before) / 2 ** 30
    assert torch.isfinite(hidden.grad).all() and peak < 2.0, f"peak {peak:.2f} GiB"
