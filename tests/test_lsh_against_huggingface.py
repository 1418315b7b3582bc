"""Our LSH layer against an independent implementation: Hugging Face's `LSHSelfAttention`.

Same weights, same buckets, fp64. Four documented design differences are aligned first; none
is a bug on either side:
  - positions: HF adds position embeddings at the model input, we rotate q inside the layer
    (rotary). HF's shared query/key projection is replaced by ours followed by the rotation.
  - logit scale: HF's shared-QK logits are q . k_unit without 1/sqrt(d_head); ours divide by
    it. The replaced projection also multiplies q by 1/sqrt(d_head) (the unit keys do not
    change).
  - look-back across rounds: HF lets the first chunk of each hash round look back into the
    previous round's last chunk (round 0 into the last round's); ours look at nothing there.
    The buckets put the c earliest positions alone in each round's first chunk and the c
    latest alone in its last chunk, so HF's extra keys are all in the queries' future and the
    causal mask removes them. The chunks in between are random.
  - key normalisation: HF adds 1e-6 to the keys' mean square, ours clamps the norm at 1e-6;
    HF's epsilon is set to 0 here so that the fp64 comparison can be tight.
Masking differs in form only: HF replaces masked logits (-1e9, self -1e5), we add the same
values; a token that sees only itself gets its own value either way.
"""

import copy

import pytest
import torch
from torch import nn

from reformer_cli.config.model import ModelConfig
from reformer_cli.core.attention_types import build_attention

reformer = pytest.importorskip("transformers.models.reformer.modeling_reformer",
                               reason="needs transformers (pip install transformers)")

BATCH, LENGTH, D_MODEL, HEADS, CHUNK, ROUNDS, BUCKETS = 2, 32, 32, 2, 4, 2, 8


class RotatedScaledQueryKey(nn.Module):
    """Our shared query/key projection, rotary positions, then 1/sqrt(d_head): (B, L, H*d)."""

    def __init__(self, layer):
        super().__init__()
        self.query_key = copy.deepcopy(layer.query_key)
        self.rotary, self.heads, self.scale = layer.rotary, layer.n_heads, layer.scale

    def forward(self, hidden):
        batch, length, width = hidden.shape
        qk = self.query_key(hidden).view(batch, length, self.heads, -1).transpose(1, 2)
        qk = self.rotary(qk) * self.scale  # (B, H, L, d)
        return qk.transpose(1, 2).reshape(batch, length, width)


class LSHWithExactUnitKeys(reformer.LSHSelfAttention):
    """HF's layer, its key normalisation without the epsilon (see the module docstring)."""

    def _len_norm(self, x, epsilon=1e-6):
        return super()._len_norm(x, epsilon=0.0)


def hugging_face_layer(layer):
    config = reformer.ReformerConfig(
        hidden_size=D_MODEL, num_attention_heads=HEADS, attention_head_size=D_MODEL // HEADS,
        lsh_attn_chunk_length=CHUNK, num_hashes=ROUNDS, num_buckets=BUCKETS,
        lsh_num_chunks_before=1, lsh_num_chunks_after=0, is_decoder=True,
        lsh_attention_probs_dropout_prob=0.0, attn_layers=["lsh"], max_position_embeddings=LENGTH)
    theirs = LSHWithExactUnitKeys(config, layer_idx=0)
    theirs.query_key = RotatedScaledQueryKey(layer)
    theirs.value = copy.deepcopy(layer.value)
    return theirs.double().eval()


def aligned_buckets(generator):
    """(B, H, r, L): the first c positions alone in bucket 0 (each round's first chunk), the
    last c alone in the top bucket (its last chunk), the rest random in between."""
    buckets = torch.randint(1, BUCKETS - 1, (BATCH, HEADS, ROUNDS, LENGTH), generator=generator)
    buckets[..., :CHUNK] = 0
    buckets[..., -CHUNK:] = BUCKETS - 1
    return buckets


def test_lsh_layer_matches_hugging_face_with_gradients():
    torch.manual_seed(0)
    config = ModelConfig(d_model=D_MODEL, n_heads=HEADS, chunk_length=CHUNK, n_hashes=ROUNDS,
                         n_buckets=BUCKETS, causal=True)
    ours = build_attention("lsh", config, layer_index=0).double()
    theirs = hugging_face_layer(ours)
    output = copy.deepcopy(ours.output)  # HF's layer stops before the output projection
    generator = torch.Generator().manual_seed(1)
    hidden = torch.randn(BATCH, LENGTH, D_MODEL, dtype=torch.float64, generator=generator)
    weights = torch.randn(BATCH, LENGTH, D_MODEL, dtype=torch.float64, generator=generator)
    buckets = aligned_buckets(generator)
    round_offsets = torch.arange(ROUNDS)[:, None] * BUCKETS  # HF numbers buckets across rounds

    x_ours = hidden.clone().requires_grad_(True)
    out_ours, used = ours(x_ours, None, buckets)
    assert torch.equal(used, buckets)
    (out_ours * weights).sum().backward()

    x_theirs = hidden.clone().requires_grad_(True)
    result = theirs(x_theirs, buckets=(buckets + round_offsets).view(BATCH, HEADS, -1))
    out_theirs = output(result.hidden_states)
    (out_theirs * weights).sum().backward()

    torch.testing.assert_close(out_ours, out_theirs, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(x_ours.grad, x_theirs.grad, rtol=1e-9, atol=1e-10)
    for name, mine, other in [("query_key", ours.query_key, theirs.query_key.query_key),
                              ("value", ours.value, theirs.value), ("output", ours.output, output)]:
        torch.testing.assert_close(mine.weight.grad, other.weight.grad, rtol=1e-9, atol=1e-10,
                                   msg=lambda m, name=name: f"{name}: {m}")


def test_without_the_alignment_the_first_chunks_differ():
    """The look-back difference is real: with random buckets HF's first chunks of a round see
    keys ours do not, so the outputs part (this guards the alignment above against vacuity)."""
    torch.manual_seed(0)
    config = ModelConfig(d_model=D_MODEL, n_heads=HEADS, chunk_length=CHUNK, n_hashes=ROUNDS,
                         n_buckets=BUCKETS, causal=True)
    ours = build_attention("lsh", config, layer_index=0).double()
    theirs = hugging_face_layer(ours)
    generator = torch.Generator().manual_seed(2)
    hidden = torch.randn(BATCH, LENGTH, D_MODEL, dtype=torch.float64, generator=generator)
    buckets = torch.randint(0, BUCKETS, (BATCH, HEADS, ROUNDS, LENGTH), generator=generator)
    round_offsets = torch.arange(ROUNDS)[:, None] * BUCKETS
    with torch.no_grad():
        out_ours = ours(hidden, None, buckets)[0]
        out_theirs = ours.output(theirs(hidden, buckets=(buckets + round_offsets)
                                        .view(BATCH, HEADS, -1)).hidden_states)
    assert (out_ours - out_theirs).abs().max() > 1e-3
