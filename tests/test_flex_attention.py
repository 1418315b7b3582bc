"""The GPU attention path (flex_window.py, flex_lsh.py), checked on the CPU.

What runs here, and what does not:
  - flex_attention's REFERENCE implementation, eagerly, forward AND backward (the backward
    through flex's own autograd, lse gradient included): torch refuses CPU inputs that need
    gradients in its public entry point only, so the `flex_backward_on_cpu` fixture lifts
    that check. Values and every gradient are compared, in fp64, with the same brute-force
    references as the chunked core (test_lsh_attention.brute_force_lsh,
    test_attention.dense_local_reference).
  - the block-sparse structure handed to flex (which its reference implementation ignores):
    checked to cover every pair the mask allows and to be its own exact transpose.
  - the wrapper's autograd (sorting, gathers, round combination) by gradcheck, with the flex
    call replaced by a dense attention of the same contract.
  NOT run here: flex's compiled Triton kernels (CUDA only; tests/test_gpu.py compares them
  with the chunked core where a GPU is present).
"""

import functools
import warnings

import pytest
import torch
from test_attention import assert_local_matches_dense_band, make, value_and_grads
from test_lsh_attention import brute_force_lsh, forced_case, forced_run, make_layer

from reformer_cli.config.model import ModelConfig
from reformer_cli.core import flex_lsh, flex_window
from reformer_cli.core.chunked_ops import PADDING_OFFSET, unit_keys
from reformer_cli.core.model import ReformerLM
from reformer_cli.errors import ConfigError


@pytest.fixture
def flex_path(monkeypatch):
    """Local and LSH layers take the flex path on the CPU (forward only)."""
    monkeypatch.setenv(flex_window.PATH_VARIABLE, "flex")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="flex_attention called without torch.compile")
        yield


@pytest.fixture
def flex_backward_on_cpu(flex_path, monkeypatch):
    """Lift torch's refusal of CPU inputs that need gradients, so flex's reference backward
    (the same autograd graph the CUDA kernels plug into) runs here."""
    from torch.nn.attention import flex_attention as flex

    if not hasattr(flex, "_validate_device"):
        pytest.skip("this torch version has no separate CPU-backward check to lift")
    monkeypatch.setattr(flex, "_validate_device", lambda *tensors: None)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("use_padding", [False, True])
@pytest.mark.parametrize("duplicate_correction", [False, True])
@pytest.mark.parametrize("n_hashes", [1, 2, 3])
def test_lsh_flex_matches_brute_force_with_gradients(causal, use_padding, duplicate_correction,
                                                     n_hashes, flex_backward_on_cpu):
    layer = make_layer(causal=causal, duplicate_correction=duplicate_correction,
                       n_hashes=n_hashes).double()
    hidden, buckets, padding_mask, real, weights = forced_case(use_padding, n_hashes)
    ours = value_and_grads(layer, lambda x: forced_run(layer, x, buckets, padding_mask),
                           hidden, real, weights)
    ref = value_and_grads(layer, lambda x: brute_force_lsh(layer, x, buckets, padding_mask),
                          hidden, real, weights)
    torch.testing.assert_close(ours[0], ref[0], rtol=1e-9, atol=1e-9)
    for mine, theirs in zip(ours[1:], ref[1:]):
        torch.testing.assert_close(mine, theirs, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("causal", [True, False])
def test_lsh_flex_in_fp32_matches_fp64(causal, flex_backward_on_cpu):
    """fp32, values and gradients. Causal tokens that see only themselves in a round carry an
    lse near -1e5, where fp32 steps by 0.008: the rounds' weights must still sum to 1."""
    layer = make_layer(causal=causal, n_hashes=3, n_buckets=8)
    generator = torch.Generator().manual_seed(5)
    hidden = torch.randn(2, 40, 16, generator=generator)
    buckets = torch.randint(0, 8, (2, 2, 3, 40), generator=generator)
    real = torch.ones(2, 40, dtype=torch.bool)
    weights = torch.randn(2, 40, 16, generator=generator)
    single = value_and_grads(layer, lambda x: forced_run(layer, x, buckets), hidden, real,
                             weights)
    layer.double()
    double = value_and_grads(layer, lambda x: forced_run(layer, x, buckets), hidden.double(),
                             real, weights.double())
    for mine, theirs in zip(single, double):
        torch.testing.assert_close(mine.double(), theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("chunk_length, length", [(3, 14), (8, 16), (16, 16)])
def test_lsh_flex_other_chunk_sizes_and_head_passes(chunk_length, length, flex_backward_on_cpu,
                                                    monkeypatch):
    """Chunks that are not powers of two or hold the whole round, and heads sorted in passes
    (recomputed in the backward) when the sorted copies would be large."""
    monkeypatch.setattr(flex_lsh, "STREAM_ELEMENTS_PER_PASS", 1)  # one head per pass
    layer = make_layer(chunk_length=chunk_length, n_hashes=2, n_buckets=4).double()
    padded = -(-length // chunk_length) * chunk_length
    generator = torch.Generator().manual_seed(2)
    hidden = torch.randn(1, length, 16, dtype=torch.float64, generator=generator)
    buckets = torch.randint(0, 4, (1, 2, 2, padded), generator=generator)
    real = torch.ones(1, length, dtype=torch.bool)
    weights = torch.randn(1, length, 16, dtype=torch.float64, generator=generator)
    ours = value_and_grads(layer, lambda x: forced_run(layer, x, buckets), hidden, real, weights)
    ref = value_and_grads(layer, lambda x: brute_force_lsh(layer, x, buckets), hidden, real,
                          weights)
    for mine, theirs in zip(ours, ref):
        torch.testing.assert_close(mine, theirs, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("use_padding", [False, True])
@pytest.mark.parametrize("length", [8, 11])
def test_local_flex_matches_dense_band_reference(causal, use_padding, length,
                                                 flex_backward_on_cpu):
    assert_local_matches_dense_band(make("local", causal=causal).double(), length, use_padding)


@functools.lru_cache(maxsize=None)
def window_allowed(n_slots, chunk, chunks_per_round):
    """(S, S) bool: the chunk window of the pattern, written out pair by pair."""
    allowed = torch.zeros(n_slots, n_slots, dtype=torch.bool)
    for i in range(n_slots):
        for j in range(n_slots):
            own, previous = j // chunk == i // chunk, j // chunk == i // chunk - 1
            allowed[i, j] = own or (previous and (i // chunk) % chunks_per_round != 0)
    return allowed


def dense_blocks(counts, indices, n_blocks):
    dense = torch.zeros(len(counts), n_blocks, dtype=torch.bool)
    for row, (count, columns) in enumerate(zip(counts.tolist(), indices.tolist())):
        dense[row, columns[:count]] = True
    return dense


@pytest.mark.parametrize("n_slots, chunk, chunks_per_round, block", [
    (48, 4, 6, 8), (48, 4, 12, 8), (50, 5, 5, 4), (64, 8, 4, 16), (60, 12, 5, 8),
    (96, 32, 3, 16), (24, 4, 6, 128), (40, 4, 10, 6)])
def test_block_lists_cover_the_window_exactly_and_transpose(n_slots, chunk, chunks_per_round,
                                                             block):
    """The key blocks listed for every query block cover all its allowed pairs, contain at
    least one of them each, and the backward's lists are their exact transpose."""
    kv_counts, kv_indices, q_counts, q_indices = flex_window.window_block_lists(
        n_slots, chunk, chunks_per_round, block)
    n_blocks = -(-n_slots // block)
    listed = dense_blocks(kv_counts, kv_indices, n_blocks)
    allowed = window_allowed(n_slots, chunk, chunks_per_round)
    padded = torch.zeros(n_blocks * block, n_blocks * block, dtype=torch.bool)
    padded[:n_slots, :n_slots] = allowed
    needed = padded.view(n_blocks, block, n_blocks, block).any(dim=3).any(dim=1)
    assert torch.equal(listed, needed)
    assert torch.equal(dense_blocks(q_counts, q_indices, n_blocks), listed.T)
    assert int(kv_indices.max()) < n_blocks and int(q_indices.max()) < n_blocks


def dense_window_attention(q, k, v, positions, chunk, chunks_per_round, causal, scale,
                           slot_chunks=None, with_lse=True):
    """window_attention's contract with an explicit (S, S) mask, for gradcheck: a slot that
    may see no key gets output 0 and lse -inf."""
    n_slots = q.shape[2]
    index = torch.arange(n_slots)
    if positions is None:
        positions = index.expand(q.shape[:3])
    window = window_allowed(n_slots, chunk, chunks_per_round)
    query_positions, key_positions = positions[..., :, None], positions[..., None, :]
    visible = (key_positions <= query_positions) if causal else (key_positions < PADDING_OFFSET)
    allowed = window & visible & (index[:, None] != index[None, :])
    scores = q @ k.transpose(-1, -2) * scale
    if slot_chunks is not None:
        query_chunks, key_chunks = slot_chunks[:, :, :, None], slot_chunks[:, :, None, :]
        met = ((key_chunks == query_chunks)
               | ((key_chunks == query_chunks - 1) & (query_chunks > 0))).sum(-1)
        scores = scores - met.clamp(min=1).to(scores.dtype).log()
    alone = ~allowed.any(-1, keepdim=True)  # rows with no key: no NaN from an empty softmax
    scores = scores.masked_fill(~(allowed | alone), float("-inf"))
    out = torch.softmax(scores, dim=-1).masked_fill(alone, 0.0) @ v
    lse = torch.logsumexp(scores, dim=-1).masked_fill(alone[..., 0], float("-inf"))
    return out, (lse if with_lse else None)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("duplicate_correction", [False, True])
def test_wrapper_gradients_by_gradcheck_with_a_dense_core(causal, duplicate_correction,
                                                          monkeypatch):
    """Sort, gathers, unit keys and the round combination (with their custom backwards)
    against numerical derivatives; the flex call replaced by dense_window_attention."""
    monkeypatch.setattr(flex_lsh, "window_attention", dense_window_attention)
    generator = torch.Generator().manual_seed(3)
    batch, length, heads, d = 1, 8, 2, 4
    q = torch.randn(batch, length, heads, d, dtype=torch.float64, generator=generator)
    v = torch.randn(batch, length, heads, d, dtype=torch.float64, generator=generator)
    buckets = torch.randint(0, 4, (batch, heads, 3, length), generator=generator)
    key_valid = torch.ones(batch, length, dtype=torch.bool)
    key_valid[0, 6:] = False

    def attention(q, v):
        return flex_lsh.flex_lsh_attention(q, v, buckets, key_valid, 4, 4, causal, 0.5,
                                           duplicate_correction)

    assert torch.autograd.gradcheck(attention, (q.requires_grad_(), v.requires_grad_()),
                                    fast_mode=True, atol=1e-8, rtol=1e-6)


def test_lse_through_either_keyword_is_the_dense_log_sum_exp(flex_path, monkeypatch):
    """return_aux=AuxRequest(lse=True) (torch 2.9+) and the older return_lse=True agree."""
    generator = torch.Generator().manual_seed(4)
    q, k, v = (torch.randn(1, 2, 24, 8, dtype=torch.float64, generator=generator)
               for _ in range(3))
    k = unit_keys(k)
    positions = torch.randperm(24, generator=generator).to(torch.int32).expand(1, 2, 24)
    positions = positions.contiguous()
    expected = dense_window_attention(q, k, v, positions, 4, 3, True, 0.3)
    results = []
    for through_aux in (True, False):
        monkeypatch.setattr(flex_window, "LSE_THROUGH_AUX", through_aux)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # return_lse is deprecated
            results.append(flex_window.window_attention(q, k, v, positions, 4, 3, True, 0.3))
    for out, lse in results:
        torch.testing.assert_close(out, expected[0])
        torch.testing.assert_close(lse.double(), expected[1])


def test_the_device_picks_the_path(monkeypatch):
    monkeypatch.delenv(flex_window.PATH_VARIABLE, raising=False)
    assert not flex_window.uses_flex(torch.device("cpu"))
    assert flex_window.uses_flex(torch.device("cuda"))
    monkeypatch.setenv(flex_window.PATH_VARIABLE, "chunked")
    assert not flex_window.uses_flex(torch.device("cuda"))
    monkeypatch.setenv(flex_window.PATH_VARIABLE, "flex")
    assert flex_window.uses_flex(torch.device("cpu"))
    monkeypatch.setenv(flex_window.PATH_VARIABLE, "fast")
    with pytest.raises(ConfigError):
        flex_window.uses_flex(torch.device("cpu"))


def test_model_forward_on_the_flex_path_matches_the_chunked_core(monkeypatch):
    """A [local, lsh] model, fp32, forward only (what flex runs on the CPU unpatched)."""
    torch.manual_seed(0)
    model = ReformerLM(ModelConfig(vocab_size=50, d_model=32, n_heads=2, d_ff=64, n_layers=2,
                                   layer_types=["local", "lsh"], chunk_length=8, n_hashes=2,
                                   hash_seed=1)).eval()
    ids = torch.randint(0, 50, (2, 45))
    padding_mask = torch.ones(2, 45, dtype=torch.bool)
    padding_mask[1, 40:] = False
    logits = {}
    for path in ("chunked", "flex"):
        monkeypatch.setenv(flex_window.PATH_VARIABLE, path)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="flex_attention called without")
            logits[path] = model(ids, padding_mask=padding_mask)
    torch.testing.assert_close(logits["flex"][padding_mask], logits["chunked"][padding_mask],
                               rtol=1e-5, atol=1e-5)


def test_reversible_equals_plain_on_the_flex_path_with_head_passes(flex_backward_on_cpu,
                                                                   monkeypatch):
    """Dropout replay, bucket replay and the passes' own recompute (an autograd.grad inside
    the reversible backward's autograd.grad), fp64, against plain autograd."""
    from test_reversible import make_pair, run

    monkeypatch.setattr(flex_lsh, "STREAM_ELEMENTS_PER_PASS", 1)  # one head per pass
    reversible, plain = make_pair(["local", "lsh"])
    torch.manual_seed(7)
    x = torch.randn(2, 45, 32, dtype=torch.float64)
    weights = torch.randn(2, 2, 45, 32, dtype=torch.float64)
    got, want = run(reversible, x, weights), run(plain, x, weights)
    for key in ("y1", "y2", "dx1", "dx2"):
        torch.testing.assert_close(got[key], want[key], rtol=1e-7, atol=1e-9, msg=key)
    for name in want["grads"]:
        torch.testing.assert_close(got["grads"][name], want["grads"][name], rtol=1e-7,
                                   atol=1e-9, msg=name)


@pytest.mark.parametrize("reversible", [False, True])
def test_model_on_the_flex_path_under_cuda_autocast_rules_is_close_to_fp32(
        reversible, flex_backward_on_cpu):
    """bf16 autocast with CUDA's fp32 list imitated (tests/cuda_autocast.py): the flex path's
    forward and backward meet no bf16/fp32 mismatch and stay close to fp32."""
    from test_low_precision import assert_close_to_fp32_under_cuda_autocast

    assert_close_to_fp32_under_cuda_autocast(reversible)


def test_continue_prefills_through_the_flex_path_with_the_chunked_core_s_text(
        tmp_path, monkeypatch, capsys):
    """`reformer continue` prefills the prompt with each layer's ordinary forward (the flex
    path on a GPU); greedy text from a [local, lsh] model is the chunked core's."""
    from pydoc_data.topics import topics

    from tiny_models import save_tiny_model

    from reformer_cli.cli import main

    save_tiny_model(tmp_path, "tiny", layer_types=["local", "lsh"])
    (tmp_path / "prompt.txt").write_text(topics["with"][:400], encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    texts = {}
    for path in ("chunked", "flex"):
        monkeypatch.setenv(flex_window.PATH_VARIABLE, path)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="flex_attention called without")
            try:
                main(["continue", "prompt.txt", "--model", "tiny", "-n", "24", "-t", "0",
                      "--context", "400", "--seed", "3", "--device", "cpu", "--no-stream"])
            except SystemExit as done:
                assert done.code in (0, None)
        texts[path] = capsys.readouterr().out
    assert texts["flex"].strip() and texts["flex"] == texts["chunked"]
