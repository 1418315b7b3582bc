"""Cached decoding (core/decoding.py) against slow, obviously-correct references.

Local and full layers: the decode step must equal the model's ordinary forward at every length
(their cached window is exact). LSH: while the sequence fits in one chunk the step must equal the
forward; beyond that it must equal a slow per-token reference that recomputes, from scratch and
with the same rotations, every key, every bucket and the pattern "the most recent 2c earlier keys
of my bucket in each round, plus myself (soft self-mask), rounds combined by log-sum-exp".
"""

import math

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from reformer_cli.config.model import ModelConfig
from reformer_cli.core.chunked_ops import SELF_MASK
from reformer_cli.core.decoding import LSHCache, lsh_budget, prefill
from reformer_cli.core.lsh_attention import hash_vectors
from reformer_cli.core.model import ReformerLM
from reformer_cli.errors import ConfigError

VOCAB = 61


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_model(layer_types, seed=0, **overrides) -> ReformerLM:
    torch.manual_seed(seed)
    settings = dict(vocab_size=VOCAB, d_model=32, n_heads=2, d_ff=48, n_layers=2,
                    layer_types=layer_types, chunk_length=4, n_hashes=2, hash_seed=11,
                    max_seq_len=512, ff_chunk_size=0)
    settings.update(overrides)
    return ReformerLM(ModelConfig(**settings)).eval()


def random_ids(length, seed=1):
    return torch.randint(0, VOCAB, (1, length), generator=torch.Generator().manual_seed(seed))


def decode_logits(model, ids, prompt_length):
    """Logits predicting positions prompt_length .. L: prefill, then one step per token."""
    state, logits = prefill(model, ids[:, :prompt_length], capacity=ids.shape[1])
    outputs = [logits]
    for position in range(prompt_length, ids.shape[1] - 1):
        outputs.append(state.step(ids[:, position]))
    return torch.stack(outputs, dim=1), state  # (1, steps, vocab)


# --------------------------------------------------------------------------- exact layer types

@pytest.mark.parametrize("layer_types", [["local"], ["full"], ["local", "full"], ["naive"]])
@pytest.mark.parametrize("prompt_length", [1, 7, 12])
def test_local_and_full_steps_equal_the_forward_at_every_length(layer_types, prompt_length):
    model = tiny_model(layer_types, n_layers=3)
    ids = random_ids(41)
    logits, _ = decode_logits(model, ids, prompt_length)
    with torch.no_grad():
        reference = torch.stack([model(ids[:, :t + 1])[:, -1]
                                 for t in range(prompt_length - 1, ids.shape[1] - 1)], dim=1)
    assert torch.allclose(logits, reference, atol=1e-4, rtol=0), (logits - reference).abs().max()


def test_lsh_step_equals_the_forward_while_the_sequence_fits_in_one_chunk():
    model = tiny_model(["lsh", "local"], chunk_length=32)
    ids = random_ids(32)
    logits, _ = decode_logits(model, ids, prompt_length=5)
    with torch.no_grad():
        reference = torch.stack([model(ids[:, :t + 1])[:, -1] for t in range(4, 31)], dim=1)
    assert torch.allclose(logits, reference, atol=1e-4, rtol=0)


# --------------------------------------------------------------------------- LSH slow reference

def slow_lsh_outputs(attention, normed, rotations, factors, positions, stats):
    """Attention outputs (1, len(positions), D) of an LSH layer for the given positions, one by
    one with Python loops: keys and buckets of ALL positions recomputed from `normed` (1, T, D)."""
    chunk = attention.config.chunk_length
    budget = lsh_budget(chunk)
    qk = attention.split_heads(attention.query_key(normed))  # (1, H, T, d)
    queries = attention.rotary(qk)
    keys = attention.unit_keys(queries)
    values = attention.split_heads(attention.value(normed))
    buckets = hash_vectors(qk, rotations, factors)[0]  # (H, r, T)
    heads, rounds = buckets.shape[0], buckets.shape[1]
    outputs = []
    for t in positions:
        per_head = []
        for h in range(heads):
            attended = []
            for r in range(rounds):
                if t < chunk:
                    chosen = list(range(t))
                else:
                    same = [p for p in range(t) if buckets[h, r, p] == buckets[h, r, t]]
                    stats["truncated"] += len(same) > budget
                    chosen = same[-budget:]
                attended.append(chosen)
            round_outputs, round_lse = [], []
            for r in range(rounds):
                logits = [float(queries[0, h, t] @ keys[0, h, p]) * attention.scale
                          for p in attended[r]]
                logits.append(float(queries[0, h, t] @ keys[0, h, t]) * attention.scale + SELF_MASK)
                if attention.config.duplicate_correction and rounds > 1:
                    counts = [sum(p in attended[s] for s in range(rounds)) for p in attended[r]]
                    logits = [x - math.log(n) for x, n in zip(logits, counts + [rounds])]
                logits = torch.tensor(logits, dtype=torch.float64)
                lse = torch.logsumexp(logits, 0)
                weights = torch.exp(logits - lse)
                vectors = values[0, h, attended[r] + [t]].double()  # (n + 1, d)
                round_outputs.append(weights @ vectors)
                round_lse.append(lse)
            mix = torch.softmax(torch.stack(round_lse), 0)
            per_head.append(sum(m * o for m, o in zip(mix, round_outputs)))
        outputs.append(torch.cat(per_head).float())
    return attention.output(torch.stack(outputs)[None])  # (1, n, D)


def slow_model_logits(model, ids, prompt_length, state, stats):
    """Logits for positions prompt_length-1 .. T-2 (the same ones decode_logits returns): the
    prompt through the ordinary forward, every later position through slow references."""
    length = ids.shape[1] - 1  # the last id is only ever a target
    later = list(range(prompt_length, length))
    x1 = x2 = model.embedding(ids[:, :length])
    for index, block in enumerate(model.stack.blocks):
        normed = block.attention_norm(x2)
        parts = [block.attention(normed[:, :prompt_length])[0]]
        cache = state.caches[index]
        if isinstance(cache, LSHCache):
            parts.append(slow_lsh_outputs(block.attention, normed, cache.rotations, cache.factors,
                                          later, stats))
        else:
            parts += [block.attention(normed[:, :t + 1])[0][:, -1:] for t in later]
        x1 = x1 + torch.cat(parts, dim=1)
        x2 = x2 + block.feedforward(x1)
    hidden = model.final_norm((x1 + x2) * 0.5)[:, prompt_length - 1:]
    return torch.nn.functional.linear(hidden, model.head_weight)


@pytest.mark.parametrize("duplicate_correction", [False, True])
@pytest.mark.parametrize("layer_types", [["lsh"], ["local", "lsh"]])
def test_lsh_decode_matches_slow_reference_over_many_steps(layer_types, duplicate_correction):
    model = tiny_model(layer_types, n_layers=2, n_buckets=4, n_hashes=3,
                       duplicate_correction=duplicate_correction)
    ids = random_ids(70)
    prompt_length = 9  # budget is 2c = 8: same-bucket lists overflow it quickly
    logits, state = decode_logits(model, ids, prompt_length)
    stats = {"truncated": 0}
    with torch.no_grad():
        reference = slow_model_logits(model, ids, prompt_length, state, stats)
    assert stats["truncated"] > 0  # the budget really limited some rounds
    assert logits.shape == reference.shape == (1, 70 - prompt_length, VOCAB)
    assert torch.allclose(logits, reference, atol=1e-4, rtol=0), (logits - reference).abs().max()


def test_rings_built_at_prefill_equal_rings_grown_by_steps():
    """Prefilling 40 tokens must leave the same per-bucket position rings as prefilling 5 and
    stepping 35 (the O(L log L) vectorised build against the one-at-a-time append)."""
    model = tiny_model(["lsh"], n_layers=1, n_buckets=4)
    ids = random_ids(41)
    whole, _ = prefill(model, ids[:, :40], capacity=41)
    grown, _ = prefill(model, ids[:, :5], capacity=41)
    for position in range(5, 40):
        grown.step(ids[:, position])
    a, b = whole.caches[0], grown.caches[0]
    assert torch.equal(a.counts, b.counts)
    # same set of positions per ring (slots agree too, as both use rank % budget)
    assert torch.equal(a.rings, b.rings)
    assert torch.allclose(a.keys[:, :, :40], b.keys[:, :, :40], atol=1e-5)


def test_lsh_rings_hold_the_most_recent_keys_of_each_bucket_and_no_older_ones():
    """Per (head, round, bucket) the cache offers a new token exactly the lsh_budget most recent
    earlier positions hashed into its bucket: a fixed number of keys however long the context."""
    model = tiny_model(["lsh"], n_layers=1, n_buckets=8)
    ids = random_ids(300)
    state, _ = prefill(model, ids, capacity=301)
    cache, attention = state.caches[0], model.stack.blocks[0].attention
    with torch.no_grad():
        normed = model.stack.blocks[0].attention_norm(model.embedding(ids))
        qk = attention.split_heads(attention.query_key(normed))  # (1, H, 300, d)
    buckets = hash_vectors(qk, cache.rotations, cache.factors)[0]  # (H, r, 300)
    budget = lsh_budget(model.config.chunk_length)
    for head in range(buckets.shape[0]):
        for hash_round in range(buckets.shape[1]):
            for bucket in range(8):
                members = (buckets[head, hash_round] == bucket).nonzero().flatten().tolist()
                query = torch.full((1, buckets.shape[0], buckets.shape[1]), bucket)
                offered = cache.candidates(query, 300)[0, head, hash_round].tolist()
                assert len(offered) == budget
                assert sorted(p for p in offered if p >= 0) == members[-budget:]


# --------------------------------------------------------------------------- state handling

def test_clones_are_independent_and_equal_fresh_prefills():
    model = tiny_model(["local", "lsh"])
    ids = random_ids(30)
    state, _ = prefill(model, ids[:, :10], capacity=30)
    first, second = state.clone(), state.clone()
    out_a = [first.step(torch.tensor([t])) for t in (3, 4, 5)]
    out_b = [second.step(torch.tensor([t])) for t in (7, 8, 9)]
    fresh, _ = prefill(model, ids[:, :10], capacity=30)
    out_c = [fresh.step(torch.tensor([t])) for t in (7, 8, 9)]
    assert state.length == 10
    assert all(torch.equal(b, c) for b, c in zip(out_b, out_c))
    assert not torch.allclose(out_a[-1], out_b[-1])


def test_prefill_rejects_training_mode_non_causal_models_and_overfull_caches():
    model = tiny_model(["local"])
    with pytest.raises(ConfigError, match="evaluation mode"):
        prefill(model.train(), random_ids(5), capacity=8)
    with pytest.raises(ConfigError, match="causal"):
        prefill(tiny_model(["local"], causal=False), random_ids(5), capacity=8)
    state, _ = prefill(model.eval(), random_ids(5), capacity=6)
    state.step(torch.tensor([1]))
    with pytest.raises(Exception, match="cache is full"):
        state.step(torch.tensor([1]))


# Ops that touch only the elements their index picks out of a large buffer.
INDEXING_OPS = {"index_select", "gather", "index", "index_put_", "index_put", "scatter_",
                "index_copy_"}


class ElementsTouched(TorchDispatchMode):
    """Counts the tensor elements every aten op reads and writes during a block: a deterministic
    measure of a step's work (a timer's ratio swings with a busy host). Views touch nothing; an
    indexing op touches its index and what it picks, not the whole buffer it picks from."""

    def __init__(self):
        super().__init__()
        self.elements = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        if not func.is_view:
            name = func._opname
            touched = (args, kwargs, result)
            if name in INDEXING_OPS:  # an in-place one returns the buffer it wrote into
                touched = (args[1:], kwargs) if name.endswith("_") else (args[1:], kwargs, result)
            self.elements += sum(leaf.numel() for leaf in tree_flatten(touched)[0]
                                 if isinstance(leaf, torch.Tensor))
        return result


def elements_touched_by_a_step(model, context: int) -> int:
    state, _ = prefill(model, random_ids(context), capacity=context + 2)
    token = torch.tensor([5])
    state.step(token)
    with torch.no_grad(), ElementsTouched() as counter:
        state.step(token)
    return counter.elements


@pytest.mark.slow
def test_step_work_does_not_grow_with_the_context():
    """A step after 32K tokens does the work of a step after 1K: no O(L) work hides in a step
    (e.g. rebuilding rotary tables or scanning all cached buckets, which this catches)."""
    model = tiny_model(["local", "lsh"], chunk_length=32, n_buckets=0, max_seq_len=40000)
    short = elements_touched_by_a_step(model, 1024)
    long = elements_touched_by_a_step(model, 32768)
    assert long < 1.1 * short, (short, long)


def test_the_step_work_counter_sees_a_full_layer_read_its_whole_cache():
    """The counter above is no blind spot: a full-attention step scores every cached key, so
    its count must grow with the context where the local and LSH steps' count does not."""
    model = tiny_model(["full"], n_layers=1, max_seq_len=5000)
    short = elements_touched_by_a_step(model, 512)
    long = elements_touched_by_a_step(model, 4096)
    assert long > 4 * short, (short, long)


def test_a_batch_decodes_like_its_rows_one_by_one():
    model = tiny_model(["local", "lsh", "full"], n_layers=3, n_buckets=4)
    ids = torch.cat([random_ids(30, seed=1), random_ids(30, seed=2)])  # (2, 30)
    batched, _ = decode_logits(model, ids, prompt_length=10)
    rows = [decode_logits(model, ids[i:i + 1], prompt_length=10)[0] for i in range(2)]
    assert torch.allclose(batched, torch.cat(rows), atol=1e-5)
