"""Record and replay the random-number state, so a recomputation draws the same dropout masks.

The reversible backward recomputes every sub-layer. Dropout must then drop exactly the units it
dropped in the forward pass, or the reconstructed activations (x2 = y2 - G(y1)) and the gradients
are wrong. We snapshot the generator state right before the random op in the forward pass and,
in the recompute, restore it inside `torch.random.fork_rng`, which puts the global state back
afterwards: the recompute neither depends on nor disturbs what the caller's RNG does next.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable

import torch


def cuda_index(device: torch.device,
               current_index: Callable[[], int] = torch.cuda.current_device) -> int:
    """The CUDA device a tensor on `device` lands on: its index, or the current device for a bare
    "cuda" (not device 0: another device may be current)."""
    return device.index if device.index is not None else current_index()


def forked_devices(device: torch.device,
                   current_index: Callable[[], int] = torch.cuda.current_device) -> list[int]:
    """The CUDA generators that ops on `device` draw from: none on the CPU, one on a GPU."""
    return [cuda_index(device, current_index)] if device.type == "cuda" else []


@dataclass
class RNGState:
    """The CPU generator state and, when the work runs on a CUDA device, that device's state."""

    cpu_state: torch.Tensor
    cuda_device: int | None = None
    cuda_state: torch.Tensor | None = None

    @classmethod
    def capture(cls, device: torch.device) -> "RNGState":
        """Snapshot the generators that ops on `device` draw from (CPU always; CUDA if used)."""
        if device.type == "cuda":
            index = cuda_index(device)
            return cls(torch.get_rng_state(), index, torch.cuda.get_rng_state(index))
        return cls(torch.get_rng_state())

    @contextlib.contextmanager
    def replay(self):
        """Run the body with the recorded state; the global RNG state is unchanged afterwards."""
        devices = [] if self.cuda_device is None else [self.cuda_device]
        with torch.random.fork_rng(devices=devices, enabled=True):
            self.restore()
            yield

    def restore(self) -> None:
        """Set the generators to the recorded state (inside an already forked region)."""
        torch.set_rng_state(self.cpu_state)
        if self.cuda_device is not None:
            torch.cuda.set_rng_state(self.cuda_state, self.cuda_device)


@contextlib.contextmanager
def seeded(seed: int, device: torch.device):
    """Run the body with the generators seeded by `seed` (CPU, and `device` when it is a CUDA
    device); the global RNG state is unchanged afterwards. Evaluation and summaries use it so
    that their LSH rotations are the same every time without shifting the caller's stream."""
    with torch.random.fork_rng(devices=forked_devices(device)):
        torch.manual_seed(seed)
        yield
