"""LSH attention against a brute-force, loop-per-query implementation of the same pattern."""

import math
import subprocess
import sys
import textwrap

import pytest
import torch

from reformer_cli.config.model import ModelConfig
from reformer_cli.core.attention_types import build_attention
from reformer_cli.core.chunked_ops import chunked_attention
from reformer_cli.core.lsh_attention import bucket_factors, default_bucket_count, draw_rotations, hash_vectors

HARD, SELF = -1e9, -1e5


def make_layer(seed=0, **overrides):
    torch.manual_seed(seed)
    settings = dict(d_model=16, n_heads=2, chunk_length=4, n_hashes=2, n_buckets=4, causal=True)
    settings.update(overrides)
    return build_attention("lsh", ModelConfig(**settings), layer_index=0)


def brute_force_lsh(layer, hidden, buckets, padding_mask=None):
    """Per query: sort each round's positions by (bucket, position), cut chunks of c, attend to
    the own chunk and the previous chunk of the same round (none for the first chunk), masks by
    original positions, softmax; rounds combined by log-sum-exp weights."""
    config = layer.config
    batch, length, d_model = hidden.shape
    chunk, heads, d = config.chunk_length, config.n_heads, config.d_head
    padded = -(-length // chunk) * chunk
    n_hashes = buckets.shape[2]
    x = torch.cat([hidden, hidden.new_zeros(batch, padded - length, d_model)], dim=1)
    valid = torch.zeros(batch, padded, dtype=torch.bool)
    valid[:, :length] = True if padding_mask is None else padding_mask
    qk = (x @ layer.query_key.weight.T).view(batch, padded, heads, d).transpose(1, 2)
    v = (x @ layer.value.weight.T).view(batch, padded, heads, d).transpose(1, 2)
    q = layer.rotary(qk)
    k = q / q.norm(dim=-1, keepdim=True).clamp_min(1e-6)  # zero padding rows stay finite
    out = torch.zeros_like(q)
    for b in range(batch):
        for h in range(heads):
            attended = []  # per round: {query position: list of key positions}
            for r in range(n_hashes):
                order = sorted(range(padded), key=lambda t: (int(buckets[b, h, r, t]), t))
                chunks = [order[i:i + chunk] for i in range(0, padded, chunk)]
                sets = {}
                for ci, members in enumerate(chunks):
                    keys = (chunks[ci - 1] if ci > 0 else []) + members
                    for i in members:
                        sets[i] = keys
                attended.append(sets)
            for i in range(padded):
                outs, lses = [], []
                for r in range(n_hashes):
                    keys = attended[r][i]
                    logits = torch.stack([q[b, h, i] @ k[b, h, j] for j in keys]) / math.sqrt(d)
                    bias = []
                    for j in keys:
                        value = 0.0
                        if (config.causal and j > i) or not valid[b, j]:
                            value += HARD
                        if j == i:
                            value += SELF
                        if config.duplicate_correction:
                            met = sum(j in attended[s][i] for s in range(n_hashes))
                            value -= math.log(met)
                        bias.append(value)
                    logits = logits + torch.tensor(bias, dtype=logits.dtype)
                    lse = torch.logsumexp(logits, 0)
                    outs.append(torch.exp(logits - lse) @ v[b, h, keys])
                    lses.append(lse)
                weights = torch.softmax(torch.stack(lses), 0)
                out[b, h, i] = (weights[:, None] * torch.stack(outs)).sum(0)
    merged = out.transpose(1, 2).reshape(batch, padded, d_model)[:, :length]
    return merged @ layer.output.weight.T


def forced_run(layer, hidden, buckets, padding_mask=None):
    out, used = layer(hidden, padding_mask, buckets)
    assert torch.equal(used, buckets)
    return out


def forced_case(use_padding, n_hashes=2):
    """(hidden, buckets, padding_mask, real, weights) in fp64 for a layer from make_layer:
    batch 2, length 10 (not a multiple of the chunk 4: padded to 12 inside), 4 buckets;
    with padding, row 0 is padded on the left and row 1 on the right."""
    batch, length = 2, 10
    generator = torch.Generator().manual_seed(1)
    hidden = torch.randn(batch, length, 16, dtype=torch.float64, generator=generator)
    buckets = torch.randint(0, 4, (batch, 2, n_hashes, 12), generator=generator)
    padding_mask, real = None, torch.ones(batch, length, dtype=torch.bool)
    if use_padding:
        padding_mask = real.clone()
        padding_mask[0, :2] = False
        padding_mask[1, 7:] = False
        real = padding_mask
    weights = torch.randn(batch, length, 16, dtype=torch.float64, generator=generator)
    return hidden, buckets, padding_mask, real, weights


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("use_padding", [False, True])
@pytest.mark.parametrize("duplicate_correction", [False, True])
@pytest.mark.parametrize("one_chunk_per_score_block", [False, True])
def test_forced_buckets_match_brute_force_with_gradients(causal, use_padding, duplicate_correction,
                                                         one_chunk_per_score_block):
    layer = make_layer(causal=causal, duplicate_correction=duplicate_correction).double()
    if one_chunk_per_score_block:  # every score block boundary of the layer's stream is crossed
        layer.scores_per_block = 2 * 4 * 4
    hidden, buckets, padding_mask, real, weights = forced_case(use_padding)

    def loss_and_grads(fn):
        layer.zero_grad()
        x = hidden.clone().requires_grad_(True)
        out = fn(x)
        loss = (out * weights)[real].sum()
        loss.backward()
        grads = [x.grad] + [p.grad.clone() for p in layer.parameters()]
        return out[real].detach(), grads

    ours, our_grads = loss_and_grads(lambda x: forced_run(layer, x, buckets, padding_mask))
    ref, ref_grads = loss_and_grads(lambda x: brute_force_lsh(layer, x, buckets, padding_mask))
    torch.testing.assert_close(ours, ref, rtol=1e-9, atol=1e-9)
    for mine, theirs in zip(our_grads, ref_grads):
        torch.testing.assert_close(mine, theirs, rtol=1e-8, atol=1e-8)


def gathered_kernel_run(q, v, sort_index, extra_bias, causal, scores_per_block, weights):
    """chunked_attention on rows read through a sort index of 3 rounds of 12 tokens in chunks
    of 4 (as LSH calls it); returns the output and the q, v gradients."""
    q, v = q.clone().requires_grad_(True), v.clone().requires_grad_(True)
    positions = sort_index.view(1, 9, 4)
    no_look_back = torch.arange(9) % 3 == 0  # the first chunk of each round
    out = chunked_attention(q, v, positions, no_look_back, causal, 0.35, extra_bias,
                            rows=sort_index, scores_per_block=scores_per_block)
    (out * weights).sum().backward()
    return out.detach(), q.grad, v.grad


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("large_queries", [False, True])  # True: the shifted softmax path
@pytest.mark.parametrize("chunks_per_block", [1, 3])
def test_score_block_size_changes_nothing_on_a_gathered_stream(causal, large_queries,
                                                               chunks_per_block):
    """The layer tests above run the default (one score block after chunk 0); a sort-index
    stream cut into score blocks of one or three chunks, so every block boundary is crossed,
    gives the same output and q, v gradients (fp64), with a bias and in the shifted path."""
    generator = torch.Generator().manual_seed(6)
    q = torch.randn(12, 8, dtype=torch.float64, generator=generator) * (40.0 if large_queries
                                                                        else 1.0)
    v = torch.randn(12, 8, dtype=torch.float64, generator=generator)
    sort_index = torch.cat([torch.randperm(12, generator=generator) for _ in range(3)])
    extra_bias = -torch.rand(1, 9, 4, 8, dtype=torch.float64, generator=generator)
    weights = torch.randn(12, 8, dtype=torch.float64, generator=generator)
    whole = gathered_kernel_run(q, v, sort_index, extra_bias, causal, 2 ** 20, weights)
    cut = gathered_kernel_run(q, v, sort_index, extra_bias, causal, chunks_per_block * 2 * 4 * 4,
                              weights)
    for mine, theirs in zip(cut, whole):
        torch.testing.assert_close(mine, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("causal", [True, False])
def test_large_queries_take_the_shifted_softmax_path_and_still_match(causal):
    """Logits up to |q| * scale can overflow exp() unshifted; above UNSHIFTED_BOUND the chunked
    softmax subtracts the row maximum first. Same brute-force reference, outputs and grads."""
    from reformer_cli.core.chunked_ops import UNSHIFTED_BOUND

    layer = make_layer(causal=causal).double()
    with torch.no_grad():
        layer.query_key.weight.mul_(80.0)
    generator = torch.Generator().manual_seed(3)
    hidden = torch.randn(2, 12, 16, dtype=torch.float64, generator=generator)
    buckets = torch.randint(0, 4, (2, 2, 2, 12), generator=generator)
    q = (hidden @ layer.query_key.weight.detach().T).view(2, 12, 2, 8)
    assert float(q.norm(dim=-1).max()) * layer.scale > UNSHIFTED_BOUND  # the path under test
    padding_mask = torch.ones(2, 12, dtype=torch.bool)
    padding_mask[1, 9:] = False
    weights = torch.randn(2, 12, 16, dtype=torch.float64, generator=generator)
    results = []
    for run in (lambda x: forced_run(layer, x, buckets, padding_mask),
                lambda x: brute_force_lsh(layer, x, buckets, padding_mask)):
        layer.zero_grad()
        x = hidden.clone().requires_grad_(True)
        out = run(x)
        (out * weights)[padding_mask].sum().backward()
        results.append([out[padding_mask].detach(), x.grad] + [p.grad.clone() for p in layer.parameters()])
    for mine, theirs in zip(*results):
        torch.testing.assert_close(mine, theirs, rtol=1e-8, atol=1e-8)


def test_hashed_forward_matches_brute_force_on_its_own_buckets():
    layer = make_layer(n_buckets=0, n_hashes=3, hash_seed=5).double()  # auto: 2*12/4 -> 4
    hidden = torch.randn(1, 11, 16, dtype=torch.float64)
    ours, buckets = layer(hidden)
    assert buckets.shape == (1, 2, 3, 12)
    assert int(buckets.max()) < 4
    torch.testing.assert_close(ours, brute_force_lsh(layer, hidden, buckets))


@pytest.mark.parametrize("n_hashes", [1, 2])
def test_single_bucket_long_chunk_equals_dense_causal_attention(n_hashes):
    layer = make_layer(chunk_length=32, n_hashes=n_hashes, duplicate_correction=True).double()
    length = 20
    hidden = torch.randn(2, length, 16, dtype=torch.float64)
    buckets = torch.zeros(2, 2, n_hashes, 32, dtype=torch.long)
    ours = forced_run(layer, hidden, buckets)

    qk = layer.rotary(layer.split_heads(hidden @ layer.query_key.weight.T))
    keys = qk / qk.norm(dim=-1, keepdim=True)
    v = layer.split_heads(hidden @ layer.value.weight.T)
    scores = qk @ keys.transpose(-1, -2) / math.sqrt(layer.d_head)  # (B, H, L, L)
    future = torch.ones(length, length, dtype=torch.bool).triu(1)
    scores = scores + HARD * future + SELF * torch.eye(length, dtype=torch.float64)
    dense = layer.output(layer.merge_heads(torch.softmax(scores, -1) @ v))
    torch.testing.assert_close(ours, dense)


def test_content_causality_with_fixed_buckets():
    """With the bucket assignment held fixed, changing token t changes no output before t.
    (Which keys share a chunk can depend on later tokens' buckets: inherent to LSH.)"""
    layer = make_layer(n_buckets=4)
    hidden = torch.randn(1, 23, 16)
    base, buckets = layer(hidden)
    for t in (0, 9, 22):
        changed = hidden.clone()
        changed[0, t] += 3.0 * torch.randn(16)
        out = forced_run(layer, changed, buckets)
        assert torch.equal(out[:, :t], base[:, :t])  # bit-identical: masked weights are exactly 0
        assert not torch.allclose(out[:, t], base[:, t])


@pytest.mark.parametrize("duplicate_correction", [False, True])
def test_no_gradient_from_later_positions_exactly(duplicate_correction):
    layer = make_layer(n_buckets=4, n_hashes=3, duplicate_correction=duplicate_correction)
    hidden = torch.randn(1, 30, 16, requires_grad=True)
    t = 17
    (layer(hidden)[0][:, :t] * torch.randn(1, t, 16)).sum().backward()
    assert torch.all(hidden.grad[0, t:] == 0)
    assert hidden.grad[0, :t].abs().sum(-1).min() > 0


def test_padding_positions_never_influence_real_positions():
    layer = make_layer(causal=False)
    hidden = torch.randn(2, 13, 16)
    mask = torch.ones(2, 13, dtype=torch.bool)
    mask[0, :3], mask[1, 10:] = False, False
    base, buckets = layer(hidden, mask)
    changed = hidden.clone()
    changed[~mask] = torch.randn(int((~mask).sum()), 16) * 5
    out = forced_run(layer, changed, buckets, mask)
    torch.testing.assert_close(out[mask], base[mask], rtol=0, atol=1e-6)


def test_replay_seed_and_fresh_hashing():
    layer = make_layer(n_buckets=8)
    hidden = torch.randn(2, 32, 16)
    first, recorded = layer(hidden)
    replay = forced_run(layer, hidden, recorded)
    assert torch.equal(first, replay)  # bit-identical
    _, fresh = layer(hidden)
    assert not torch.equal(fresh, recorded)  # no seed: fresh rotations

    seeded = make_layer(n_buckets=8, hash_seed=3)
    rng_before = torch.get_rng_state()
    out_a, buckets_a = seeded(hidden)
    out_b, buckets_b = seeded(hidden)
    assert torch.equal(out_a, out_b) and torch.equal(buckets_a, buckets_b)
    assert torch.equal(rng_before, torch.get_rng_state())  # the seed never touches the global RNG


def test_n_hashes_can_change_at_run_time():
    layer = make_layer(hash_seed=0)
    hidden = torch.randn(1, 16, 16)
    layer.n_hashes = 4
    out, buckets = layer(hidden)
    assert buckets.shape == (1, 2, 4, 16)
    torch.testing.assert_close(out.double(), brute_force_lsh(layer.double(), hidden.double(),
                                                             buckets), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("positions_per_block", [None, 7])  # 7: 50 = 7 * 7 + 1 positions
def test_hashing_is_argmax_of_rotated_vectors_and_factorised(positions_per_block):
    blocks = {"positions_per_block": positions_per_block} if positions_per_block else {}
    assert default_bucket_count(1024, 64) == 32
    assert default_bucket_count(1000, 64) == 16  # rounded down to a power of two
    assert default_bucket_count(64, 64) == 2
    assert bucket_factors(64) == [64]
    assert bucket_factors(2048) == [64, 32]
    torch.manual_seed(0)
    vectors = torch.randn(1, 2, 50, 8)
    rotations = draw_rotations(2, 8, 3, [8], "cpu", seed=1)
    buckets = hash_vectors(vectors, rotations, [8], **blocks)
    for h in range(2):
        for r in range(3):
            projected = vectors[0, h] @ rotations[h, :, r]  # (50, 4)
            expected = torch.cat([projected, -projected], -1).argmax(-1)
            assert torch.equal(buckets[0, h, r], expected)
    factors = bucket_factors(2048)
    rotations = draw_rotations(2, 8, 1, factors, "cpu", seed=1)
    buckets = hash_vectors(vectors, rotations, factors, **blocks)
    first = hash_vectors(vectors, rotations[..., :32], [64], **blocks)
    second = hash_vectors(vectors, rotations[..., 32:], [32], **blocks)
    assert torch.equal(buckets, first * 32 + second)
    assert int(buckets.max()) < 2048 and len(buckets.unique()) > 50  # spread over many buckets


def test_bf16_autocast_is_close_to_fp32_on_the_same_buckets():
    layer = make_layer(n_buckets=4)
    hidden = torch.randn(1, 12, 16, requires_grad=True)
    weights = torch.randn(1, 12, 16)
    reference, buckets = layer(hidden)
    (reference * weights).sum().backward()
    reference_grad, hidden.grad = hidden.grad, None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = forced_run(layer, hidden, buckets)
    (out.float() * weights).sum().backward()
    torch.testing.assert_close(out.float(), reference, rtol=0.05, atol=0.02)
    torch.testing.assert_close(hidden.grad, reference_grad, rtol=0.05, atol=0.05)


def test_memory_of_one_layer_at_64k_tokens_stays_under_2_gib():
    """An L x L fp32 matrix alone would be 16 GiB; run in a fresh process for a clean peak."""
    script = textwrap.dedent("""
        import resource, torch
        from reformer_cli.config.model import ModelConfig
        from reformer_cli.core.attention_types import build_attention
        torch.manual_seed(0)
        config = ModelConfig(d_model=256, n_heads=4, chunk_length=64, n_hashes=2, causal=True)
        layer = build_attention("lsh", config, 0)
        hidden = torch.randn(1, 65536, 256, requires_grad=True)
        layer(hidden)[0].square().mean().backward()
        assert torch.isfinite(hidden.grad).all()
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    peak_gib = int(done.stdout.split()[-1]) / 2 ** 20
    assert peak_gib < 2.0, f"peak RSS {peak_gib:.2f} GiB"


def test_fp16_logits_beyond_its_exp_range_take_the_shifted_path():
    """exp(14) overflows fp16: an fp16 layer must subtract each row's maximum first."""
    layer = make_layer(n_buckets=4, hash_seed=1)
    with torch.no_grad():
        layer.query_key.weight.mul_(25.0)
    hidden = torch.randn(2, 24, 16, generator=torch.Generator().manual_seed(4))
    reference, buckets = layer.double()(hidden.double())
    reference = reference.detach()
    q = layer.query_key(hidden.double()).detach().view(2, 24, 2, 8)
    assert float(q.norm(dim=-1).max()) * layer.scale > 20  # exp() of it is beyond fp16
    layer.half()
    out = forced_run(layer, hidden.half(), buckets)
    assert out.isfinite().all()
    torch.testing.assert_close(out.double(), reference, rtol=0, atol=5e-3)
