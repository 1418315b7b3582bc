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


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_in_place_head_rotation_matches_the_pairwise_reference_with_gradients(dtype):
    """rotate_heads_ (in place for fp32/fp64, a copy for bf16) rotates every head of a
    (B, L, H*d) projection as the reference does; its gradient is the transposed rotation."""
    from reformer_cli.core.positions import rotate_heads_

    rotary, heads, d, length = RotaryEmbedding(8), 3, 8, 40
    projected = torch.randn(2, length, heads * d, dtype=torch.float64).to(dtype)
    source = projected.double().clone().view(2, length, heads, d)  # projected gets rotated
    rotated = rotate_heads_(projected, rotary.rotations(length), heads)
    if dtype == torch.float64:
        assert rotated.data_ptr() == projected.data_ptr()  # no copy
    heads_view = rotated.view(2, length, heads, d)
    for b, t, h in ((0, 0, 0), (1, 17, 2), (0, 39, 1)):
        expected = rotate_reference(source[b, t, h], t)
        exact = dtype == torch.float64  # (the table is complex64: ~1e-7 either way)
        torch.testing.assert_close(heads_view[b, t, h].double(), expected,
                                   rtol=0 if exact else 2e-2, atol=1e-5 if exact else 5e-2)
    if dtype == torch.float64:  # the backward against finite differences
        rotations = rotary.rotations(5)
        x = torch.randn(2, 5, heads * d, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda x: rotate_heads_(x * 1.0, rotations, heads), (x,))
