"""Process placement and per-process state: device, rank, precision, random-number generators.

Everything data parallelism changes lives in `Runtime`: which process writes files, how the
replicas are made identical, where gradients are averaged and how a batch is shared out by rank.
Single-process training uses these defaults (rank 0 of 1); `data_parallel.DistributedRuntime`
overrides them for one rank of a torchrun group.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from reformer_cli.core.rng import cuda_index
from reformer_cli.errors import ResourceError


@dataclass
class Runtime:
    """Process placement. DistributedRuntime overrides these methods; one process uses them as
    they are."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Only the main process writes checkpoints and metrics and reports progress."""
        return self.rank == 0

    def wrap_model(self, model: nn.Module) -> nn.Module:
        """The model this rank trains (a group first makes every replica equal to rank 0's)."""
        return model

    def gradient_sync(self, model: nn.Module, last_micro_batch: bool):
        """Context for one micro-batch's backward; a group averages the gradients after the last."""
        return contextlib.nullcontext()

    def next_batch(self, sampler, batch_size: int):
        """Every rank draws the same global batch (the samplers stay in step) and keeps its rows."""
        ids, targets = sampler.next_batch(batch_size * self.world_size)
        rows = slice(self.rank * batch_size, (self.rank + 1) * batch_size)
        return ids[rows], targets[rows]

    def mean(self, value: float) -> float:
        """The mean of a logged number over the ranks."""
        return value

    def barrier(self) -> None:
        pass

    # Decisions every rank must take alike (see training/launch.py); one process decides alone.

    def any_rank(self, flag: bool) -> bool:
        """True when `flag` is true on any rank (stop requests, time budget)."""
        return bool(flag)

    def main_value(self, value: float) -> float:
        """Rank 0's `value` on every rank (its clock drives a time-based schedule)."""
        return value

    def check_same(self, value: int, what: str) -> None:
        """Fail clearly when the ranks disagree (e.g. the step they resumed from)."""

    def seed_rank_rng(self, seed: int, step: int) -> None:
        """Give ranks > 0 their own dropout stream; rank 0 keeps the single-process one."""

    def share_from_main(self, produce):
        """Rank 0 runs `produce()` -> bytes and every rank gets the result."""
        return produce()


def autocast_context(device: torch.device, precision: str):
    """bf16 autocast on GPUs that support it (precision auto or bf16); fp32 elsewhere."""
    if device.type == "cuda" and precision in ("auto", "bf16") and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if device.type == "cuda" and precision == "bf16":
        raise ResourceError("this GPU does not support bf16", "use --set train.precision=fp32")
    return contextlib.nullcontext()


def precision_in_use(device: torch.device, precision: str) -> str:
    bf16 = device.type == "cuda" and precision in ("auto", "bf16") and torch.cuda.is_bf16_supported()
    return "bf16" if bf16 else "fp32"


def capture_rng_state(device: torch.device) -> dict:
    """Python, numpy and CPU generators, and on a GPU this process's device generator only: a
    run may resume with a different number of devices (or none)."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(cuda_index(device))
    return state


def cuda_state_for(saved, index: int) -> torch.Tensor | None:
    """The saved CUDA generator state for device `index`: the one state a process saves, or, from
    checkpoints that stored every device's (a list), that device's entry when there is one."""
    if isinstance(saved, torch.Tensor):
        return saved
    return saved[index] if index < len(saved) else None


def restore_rng_state(state: dict, device: torch.device) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        index = cuda_index(device)
        cuda_state = cuda_state_for(state["cuda"], index)
        if cuda_state is not None:
            torch.cuda.set_rng_state(cuda_state, index)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
