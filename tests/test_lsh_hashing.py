"""LSH hashing does not depend on autocast or on the device the model sits on.

A token must fall in the same bucket in training (under autocast, on a GPU) as at generation
(no autocast, perhaps on the CPU), and a `hash_seed` must mean the same rotations everywhere.
"""

import torch

from reformer_cli.config.model import ModelConfig
from reformer_cli.core.attention_types import build_attention
from reformer_cli.core.lsh_attention import bucket_factors, draw_rotations, hash_vectors


def test_hashing_under_bf16_autocast_equals_fp32_hashing():
    generator = torch.Generator().manual_seed(0)
    vectors = torch.randn(2, 4, 1024, 16, generator=generator)  # (B, H, L, d)
    factors = bucket_factors(2048)
    rotations = draw_rotations(4, 16, 2, factors, "cpu", seed=5)
    reference = hash_vectors(vectors, rotations, factors)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = hash_vectors(vectors, rotations, factors)
    assert torch.equal(under_autocast, reference)


def test_layer_under_autocast_hashes_its_projection_in_fp32():
    """The layer hashes what it projected (bf16 under autocast) with fp32 arithmetic."""
    torch.manual_seed(0)
    config = ModelConfig(d_model=64, n_heads=4, chunk_length=16, n_hashes=2, n_buckets=64,
                         hash_seed=2)
    layer = build_attention("lsh", config, layer_index=0)
    hidden = torch.randn(2, 512, 64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, buckets = layer(hidden)
        projected = layer.query_key(hidden)  # the bf16 projection the layer hashed
    qk = projected.float().view(2, 512, 4, 16).transpose(1, 2)  # (B, H, L, d)
    rotations = draw_rotations(4, 16, 2, [64], "cpu", layer.rotation_seed())
    assert torch.equal(buckets, hash_vectors(qk, rotations, [64]))


def test_seeded_rotations_come_from_a_cpu_generator_whatever_the_device():
    shape_args = (2, 8, 3, [16, 8])
    expected = torch.randn(2, 8, 3, 12, generator=torch.Generator().manual_seed(9))
    assert torch.equal(draw_rotations(*shape_args, "cpu", seed=9), expected)
    on_meta = draw_rotations(*shape_args, torch.device("meta"), seed=9)
    assert on_meta.device.type == "meta" and on_meta.shape == expected.shape


def test_unseeded_rotations_draw_from_the_global_cpu_generator_whatever_the_device():
    torch.manual_seed(3)
    torch.randn(2, 8, 3, 12)
    expected_next = torch.randn(4)
    torch.manual_seed(3)
    draw_rotations(2, 8, 3, [16, 8], torch.device("meta"))
    assert torch.equal(torch.randn(4), expected_next)  # the CPU stream moved past one draw
