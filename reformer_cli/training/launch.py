"""The torchrun launch: the variables torchrun sets for every process, read and checked.

torchrun sets RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT for every process. This
module reads them without importing torch, so a plain single-process run still starts fast;
`data_parallel.start` joins the process group (NCCL on GPUs, gloo on CPUs) with a rendezvous
timeout and hands the Trainer a `DistributedRuntime`. The design of data parallelism follows.

Why no DistributedDataParallel: reversible layers recompute activations inside a custom
autograd.Function. Implementations that accumulate parameter gradients inside that backward
(e.g. by calling backward() on the recomputed sub-layers) fire DDP's per-parameter hooks at times
its reducer does not expect ("Expected to mark a variable ready only once" in the reformer-pytorch,
performer-pytorch and transformers trackers). Ours returns the parameter gradients as outputs of
the Function, and a probe with DDP over gloo ran, but we do not want correctness to hang on that
detail of core/reversible.py, nor on every parameter being used on every rank (DDP errors or
needs find_unused_parameters). And DDP would gain little here: it overlaps communication with
the backward pass, but every block's gradients appear together at the end of the reversible
Function's backward. So we do what DDP does, by hand and in plain sight:
  * at the start, every parameter and buffer is broadcast from rank 0 (identical replicas);
  * after the backward of the LAST micro-batch of an accumulation cycle (earlier micro-batches
    just accumulate locally: no needless all-reduces), the gradients are flattened into a few
    buckets, summed with all_reduce and divided by the world size, before clipping.
The result equals one process training on the whole global batch (tests/test_distributed.py).

Data: every rank draws the same global batch from the same sampler and keeps its own rows
(`Runtime.next_batch`), so the ranks see disjoint windows, the sampler state is the same
everywhere (rank 0 saves it) and a run resumes with any number of processes.

Randomness: initial weights come from rank 0. Dropout draws from the global torch generator,
which rank r > 0 reseeds with a rank-offset seed (rank 0 keeps the single-process stream, so
one process and a one-process launch agree). LSH rotations: with model.hash_seed set they come
from a private generator and are identical on every rank (and every step); without it each rank
draws its own per forward pass, which is fine for data parallelism because buckets only group
positions within one sample, and the reversible backward replays each rank's own buckets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from reformer_cli.errors import ReformerError

RENDEZVOUS_TIMEOUT_ENV = "REFORMER_RENDEZVOUS_TIMEOUT"  # seconds to wait for every process
COLLECTIVE_TIMEOUT_ENV = "REFORMER_COLLECTIVE_TIMEOUT"  # seconds one collective may wait
DEFAULT_RENDEZVOUS_TIMEOUT = 300.0
DEFAULT_COLLECTIVE_TIMEOUT = 1800.0  # rank 0 may be writing a large checkpoint meanwhile
LAUNCH_HINT = ("launch with `torchrun --nproc_per_node N -m reformer_cli train ...`, "
               "or unset RANK/WORLD_SIZE/LOCAL_RANK for one process")


class DistributedLaunchError(ReformerError):
    """torchrun variables that are missing or inconsistent, or a rendezvous that never completes."""

    exit_code = 2


@dataclass(frozen=True)
class LaunchEnvironment:
    rank: int
    local_rank: int
    world_size: int
    master_addr: str
    master_port: int


def launch_environment(env: Mapping[str, str] | None = None) -> LaunchEnvironment | None:
    """The torchrun variables, checked; None when this is a plain single-process launch."""
    env = os.environ if env is None else env
    if not any(env.get(name) for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK")):
        return None
    world_size = _integer(env, "WORLD_SIZE")
    rank = _integer(env, "RANK")
    local_rank = _integer(env, "LOCAL_RANK") if env.get("LOCAL_RANK") else rank
    if world_size < 1:
        raise DistributedLaunchError(f"WORLD_SIZE={world_size} is not a valid number of processes "
                                     "(it must be 1 or more)", LAUNCH_HINT)
    if not 0 <= rank < world_size:
        raise DistributedLaunchError(f"RANK={rank} is outside 0..{world_size - 1} "
                                     f"(WORLD_SIZE={world_size})", LAUNCH_HINT)
    if local_rank < 0:
        raise DistributedLaunchError(f"LOCAL_RANK={local_rank} is negative", LAUNCH_HINT)
    if world_size == 1:
        return LaunchEnvironment(rank, local_rank, 1, env.get("MASTER_ADDR", ""), 0)
    missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if not env.get(name)]
    if missing:
        raise DistributedLaunchError(f"RANK and WORLD_SIZE are set but {' and '.join(missing)} "
                                     f"{'is' if len(missing) == 1 else 'are'} missing, so the "
                                     "processes cannot find each other", LAUNCH_HINT)
    port = _integer(env, "MASTER_PORT")
    if not 0 < port < 65536:
        raise DistributedLaunchError(f"MASTER_PORT={port} is not a TCP port (1..65535)", LAUNCH_HINT)
    return LaunchEnvironment(rank, local_rank, world_size, env["MASTER_ADDR"], port)


def launched_rank(env: Mapping[str, str] | None = None) -> int:
    """RANK as torchrun set it (0 when absent or unreadable): decides who prints, before torch loads."""
    try:
        return int((os.environ if env is None else env).get("RANK") or 0)
    except ValueError:
        return 0


def _integer(env: Mapping[str, str], name: str) -> int:
    value = env.get(name)
    if value is None or value == "":
        raise DistributedLaunchError(f"{name} is not set but other torchrun variables are",
                                     LAUNCH_HINT)
    try:
        return int(value)
    except ValueError:
        raise DistributedLaunchError(f"{name}={value!r} is not an integer", LAUNCH_HINT) from None


def seconds_from_env(name: str, default: float) -> float:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise DistributedLaunchError(f"{name}={value!r} is not a positive number of seconds")
    return seconds
