"""Rotary positions: explicit pairwise rotation reference, relative-offset property at 64K."""

import math

import pytest
import torch

from reformer_cli.core.positions import RotaryEmbedding
from reformer_cli.errors import InputError


def rotate_reference(vector, position, base=10000.0):
    """Rotate each pair (2i, 2i + 1) by position * base^(-2i/d), one pair at a time."""
    d = vector.shape[-1]
    out = vector.clone()
    for i in range(d // 2):
        angle = position * base ** (-2.0 * i / d)
        a, b = vector[2 * i].item(), vector[2 * i + 1].item()
        out[2 * i] = a * math.cos(angle) - b * math.sin(angle)
        out[2 * i + 1] = a * math.sin(angle) + b * math.cos(angle)
    return out


def test_matches_pairwise_rotation_at_any_position():
    rotary = RotaryEmbedding(8)
    x = torch.randn(3, 70000, 8, dtype=torch.float64)
    rotated = rotary(x)
    for position in (0, 1, 17, 4095, 65535, 69999):
        expected = rotate_reference(x[1, position], position)
        torch.testing.assert_close(rotated[1, position], expected, rtol=0, atol=1e-5)


def test_scores_depend_only_on_relative_offset_up_to_64k():
    rotary = RotaryEmbedding(64, max_seq_len=131072)
    q, k = torch.randn(64), torch.randn(64)
    length = 65536
    queries = rotary(q.expand(length, 64))
    keys = rotary(k.expand(length, 64))
    for offset in (0, 3, 100, 5000):
        near = queries[offset] @ keys[0]
        far = queries[length - 1] @ keys[length - 1 - offset]
        torch.testing.assert_close(far, near, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(queries.norm(dim=-1), q.norm().expand(length))  # a rotation


def test_offset_continues_the_sequence_and_limits_are_checked():
    rotary = RotaryEmbedding(16, max_seq_len=100)
    x = torch.randn(2, 100, 16)
    whole = rotary(x)
    torch.testing.assert_close(rotary(x[:, 60:], offset=60), whole[:, 60:])
    with pytest.raises(InputError):
        rotary(torch.randn(1, 101, 16))
    with pytest.raises(ValueError):
        RotaryEmbedding(7)
