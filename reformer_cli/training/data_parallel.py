"""One rank of a data-parallel group: joining it, and the Runtime that replaces
DistributedDataParallel.

See reformer_cli/training/launch.py for why reversible layers rule DDP out and what we do instead.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

import torch
import torch.distributed as dist

from reformer_cli.config.device import resolve_device
from reformer_cli.training.launch import (
    COLLECTIVE_TIMEOUT_ENV,
    DEFAULT_COLLECTIVE_TIMEOUT,
    DEFAULT_RENDEZVOUS_TIMEOUT,
    RENDEZVOUS_TIMEOUT_ENV,
    DistributedLaunchError,
    LaunchEnvironment,
    launch_environment,
    seconds_from_env,
)
from reformer_cli.training.runtime import Runtime

BUCKET_BYTES = 32 * 2**20  # gradient all-reduce bucket size
RANK_SEED_STRIDE = 1_000_003  # rank r > 0 seeds dropout with seed + stride * r (+ step)
# Leaving the group after a clean run: how long a rank waits for the others at the final
# barrier, and rank 0 for the others to let go of the store it hosts.
SHUTDOWN_TIMEOUT = 60.0
LEFT_KEY = "reformer/ranks_left"


@dataclass
class DistributedRuntime(Runtime):
    """Runtime of one rank in a data-parallel group (see the module docstring for the design)."""
    local_rank: int = 0
    gradient_syncs: int = 0  # gradient all-reduce rounds so far (accumulation skips some)
    store: object = None  # the rendezvous store (rank 0 hosts its server), kept for leaving

    @property
    def backend(self) -> str:
        return "nccl" if self.device.type == "cuda" else "gloo"

    def connect(self, launch: LaunchEnvironment) -> None:
        """Rendezvous (bounded by REFORMER_RENDEZVOUS_TIMEOUT), then the process group."""
        rendezvous_timeout = seconds_from_env(RENDEZVOUS_TIMEOUT_ENV, DEFAULT_RENDEZVOUS_TIMEOUT)
        collective_timeout = seconds_from_env(COLLECTIVE_TIMEOUT_ENV, DEFAULT_COLLECTIVE_TIMEOUT)
        where = f"{launch.master_addr}:{launch.master_port}"
        deadline = time.monotonic() + rendezvous_timeout
        if launch.rank != 0 or os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True":
            # A client: find the store's listener first, so that an unreachable address ends in
            # our one-line error instead of c10d's retry log.
            _wait_for_listener(launch, deadline, rendezvous_timeout)
        try:
            # The store is what torch's env:// init would build (the torchrun agent's store, or
            # one hosted by rank 0), but its connection waits only `rendezvous_timeout`; the
            # collectives then get the longer `collective_timeout`.
            left = max(deadline - time.monotonic(), 1.0)
            store, _, _ = next(dist.rendezvous("env://", launch.rank, launch.world_size,
                                               timeout=timedelta(seconds=left)))
            store.set_timeout(timedelta(seconds=collective_timeout))
            self.store = store
            dist.init_process_group(self.backend, store=dist.PrefixStore("default_pg", store),
                                    rank=launch.rank, world_size=launch.world_size,
                                    timeout=timedelta(seconds=collective_timeout))
        except (RuntimeError, ValueError, TimeoutError, OSError) as error:
            reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
            raise DistributedLaunchError(
                f"rank {launch.rank} of {launch.world_size} could not join the other processes at "
                f"{where} within {rendezvous_timeout:g} s ({reason})",
                "start all processes with the same MASTER_ADDR and a reachable MASTER_PORT "
                f"(torchrun does this), or raise {RENDEZVOUS_TIMEOUT_ENV}") from None

    # -- Runtime seam --------------------------------------------------------------------------

    def wrap_model(self, model):
        """Make every replica identical to rank 0's (weights and buffers); no DDP wrapper."""
        for tensor in [*model.parameters(), *model.buffers()]:
            dist.broadcast(tensor.data, src=0)
        return model

    @contextlib.contextmanager
    def gradient_sync(self, model, last_micro_batch: bool):
        """Run one micro-batch's backward; after the last one, average the gradients."""
        yield
        if last_micro_batch:
            all_reduce_gradients(list(model.parameters()), self.world_size)
            self.gradient_syncs += 1

    def mean(self, value: float) -> float:
        total = torch.tensor(float(value), dtype=torch.float64 if self.backend == "gloo"
                             else torch.float32, device=self.device)
        dist.all_reduce(total)
        return float(total) / self.world_size

    def any_rank(self, flag: bool) -> bool:
        value = torch.tensor(1.0 if flag else 0.0, device=self.device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value > 0)

    def main_value(self, value: float) -> float:
        tensor = torch.tensor(float(value), device=self.device)
        dist.broadcast(tensor, src=0)
        return float(tensor)

    def check_same(self, value: int, what: str) -> None:
        low = torch.tensor(float(value), device=self.device)
        high = low.clone()
        dist.all_reduce(low, op=dist.ReduceOp.MIN)
        dist.all_reduce(high, op=dist.ReduceOp.MAX)
        if low != high:
            raise DistributedLaunchError(
                f"the processes disagree on {what} (from {int(low)} to {int(high)}; this process "
                f"has {value})", "put the run folder on a file system every node can read")

    def seed_rank_rng(self, seed: int, step: int) -> None:
        if self.rank == 0:
            return  # rank 0 keeps the single-process stream (and the saved one on resume)
        torch.manual_seed((seed + RANK_SEED_STRIDE * self.rank + 7919 * step) % 2**63)

    def barrier(self) -> None:
        if self.backend == "nccl":
            dist.barrier(device_ids=[self.device.index])
        else:
            dist.barrier()

    def final_barrier(self) -> None:
        """The barrier before leaving, bounded by SHUTDOWN_TIMEOUT on the CPU (gloo)."""
        if self.backend == "gloo":
            dist.monitored_barrier(timeout=timedelta(seconds=SHUTDOWN_TIMEOUT))
        else:
            self.barrier()

    def release_store(self) -> None:
        """Ranks > 0 say they left; rank 0 waits for all of them before dropping the server."""
        if self.store is None:
            return
        if self.rank > 0:
            self.store.add(LEFT_KEY, 1)
            return
        deadline = time.monotonic() + SHUTDOWN_TIMEOUT
        while self.store.add(LEFT_KEY, 0) < self.world_size - 1 and time.monotonic() < deadline:
            time.sleep(0.01)

    def share_from_main(self, produce: Callable[[], bytes]) -> bytes:
        """Rank 0 runs `produce()`; every rank returns its bytes (others never run it)."""
        payload, failure = b"", None
        if self.rank == 0:
            try:
                payload = produce()
            except BaseException as error:  # tell the others before failing, so nobody waits
                failure = error
        size = torch.tensor([-1 if failure else len(payload)], dtype=torch.int64, device=self.device)
        dist.broadcast(size, src=0)
        if failure is not None:
            raise failure
        if int(size) < 0:
            raise DistributedLaunchError("rank 0 failed while preparing the data (see its error)")
        buffer = torch.zeros(int(size), dtype=torch.uint8, device=self.device)
        if self.rank == 0:
            buffer.copy_(torch.frombuffer(bytearray(payload), dtype=torch.uint8))
        dist.broadcast(buffer, src=0)
        return payload if self.rank == 0 else bytes(buffer.cpu().numpy().tobytes())


def _wait_for_listener(launch: LaunchEnvironment, deadline: float, timeout: float) -> None:
    address = (launch.master_addr, launch.master_port)
    while True:
        try:
            with socket.create_connection(address, timeout=max(min(deadline - time.monotonic(), 2.0), 0.1)):
                return
        except OSError as error:
            if time.monotonic() >= deadline:
                raise DistributedLaunchError(
                    f"rank {launch.rank} of {launch.world_size}: nothing answers at "
                    f"{address[0]}:{address[1]} after {timeout:g} s ({error.strerror or error})",
                    "check MASTER_ADDR and MASTER_PORT (torchrun sets them; the rank-0 node must "
                    f"be reachable), or raise {RENDEZVOUS_TIMEOUT_ENV}") from None
            time.sleep(0.2)


def all_reduce_gradients(parameters: list, world_size: int) -> None:
    """Average .grad over the ranks in flattened buckets; a gradient missing on every rank stays None.

    Each bucket carries one presence flag per parameter, so a parameter without a gradient on
    some ranks (unused there) is averaged as zeros from those ranks, exactly as if one process
    had computed the gradient of the whole batch.
    """
    parameters = [p for p in parameters if p.requires_grad]
    groups: dict = {}
    for p in parameters:  # one dtype and device per bucket
        groups.setdefault((p.dtype, p.device), []).append(p)
    for (dtype, device), members in groups.items():
        bucket: list = []
        size = 0
        for p in members:
            bucket.append(p)
            size += p.numel() * p.element_size()
            if size >= BUCKET_BYTES:
                _reduce_bucket(bucket, dtype, device, world_size)
                bucket, size = [], 0
        if bucket:
            _reduce_bucket(bucket, dtype, device, world_size)


def _reduce_bucket(bucket: list, dtype, device, world_size: int) -> None:
    parts = [p.grad.reshape(-1).to(dtype) if p.grad is not None
             else torch.zeros(p.numel(), dtype=dtype, device=device) for p in bucket]
    present = torch.tensor([p.grad is not None for p in bucket], dtype=dtype, device=device)
    flat = torch.cat([*parts, present])  # (sum numel + len(bucket),)
    dist.all_reduce(flat)
    flat[:-len(bucket)].div_(world_size)
    offset = 0
    for p, count in zip(bucket, flat[-len(bucket):].tolist()):
        chunk = flat[offset:offset + p.numel()].view_as(p)
        offset += p.numel()
        if count == 0:
            continue  # no rank has a gradient: leave it None, as one process would
        if p.grad is None:
            p.grad = chunk.clone()
        else:
            p.grad.copy_(chunk)


# ---------------------------------------------------------------------------------------------
# The process group

_active: DistributedRuntime | None = None


def active_runtime() -> DistributedRuntime | None:
    """The runtime of the joined process group (None in a single-process run)."""
    return _active


def start(device_name: str) -> Runtime | None:
    """Join the process group when launched by torchrun; None for a plain launch.

    WORLD_SIZE=1 gives a plain Runtime on the local device (no group is needed).
    """
    global _active
    launch = launch_environment()
    if launch is None:
        return None
    device = resolve_device(device_name)
    if device.type == "cuda":
        if launch.local_rank >= torch.cuda.device_count():
            raise DistributedLaunchError(
                f"LOCAL_RANK={launch.local_rank} but this machine has {torch.cuda.device_count()} "
                "GPU(s)", "use --nproc_per_node no larger than the number of GPUs")
        device = torch.device("cuda", launch.local_rank)
        torch.cuda.set_device(device)
    elif device.type != "cpu" and launch.world_size > 1:
        raise DistributedLaunchError(f"multi-process training on {device.type} is not supported",
                                     "use --device cpu or CUDA GPUs")
    if launch.world_size == 1:
        return Runtime(device)
    if _active is not None:
        return _active
    runtime = DistributedRuntime(device, launch.rank, launch.world_size, launch.local_rank)
    runtime.connect(launch)
    _active = runtime
    return runtime


@contextlib.contextmanager
def leaving_in_order():
    """Run the body, then leave the group: in order after a clean end, at once after an error."""
    try:
        yield
    except BaseException:
        shutdown(clean=False)
        raise
    shutdown()


def shutdown(clean: bool = True) -> None:
    """Leave the process group (idempotent; nothing to do in a single-process run).

    After a clean run the ranks leave in order: a barrier, so that no rank tears down its
    connections while another is still in a collective; the group; then rank 0 keeps the store
    server it hosts until every other rank has said it left, so no client loses its server
    mid-request. After an error (`clean=False`) a rank leaves at once: the others may be gone.
    """
    global _active
    runtime, _active = _active, None
    if runtime is None:
        return
    if clean and dist.is_initialized():
        with contextlib.suppress(RuntimeError):  # a peer that failed reports its own error
            runtime.final_barrier()
    if dist.is_initialized():
        dist.destroy_process_group()
    if clean:
        with contextlib.suppress(RuntimeError, OSError):
            runtime.release_store()
    runtime.store = None
