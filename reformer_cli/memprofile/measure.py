"""Measure the peak memory of one training step (or one no-grad forward) of one model variant.

CPU: every row runs in a FRESH subprocess (`python -m reformer_cli.memprofile.measure`, a JSON
spec on stdin, a JSON result on stdout), because the CPU allocator and the interpreter never hand
all freed memory back: a second model measured in the same process would see the first one's
leftovers. The peak is read from the kernel:

    baseline = VmRSS after imports and a tiny warm-up step of the same variant (so the code
               pages, thread pools and lazily created kernels are already resident), right
               before the model is built; at that moment the peak counter is reset
               (`echo 5 > /proc/self/clear_refs` sets VmHWM to the current RSS)
    peak     = VmHWM after the step - baseline

so the peak INCLUDES the parameters, gradients, optimizer state, inputs and activations. The child
runs with MALLOC_MMAP_THRESHOLD_ fixed at 64 KiB: glibc otherwise raises the threshold after the
first large free and keeps later tensors in its heap, which makes RSS lag behind the live bytes.
The parent watches the child's RSS and kills it past the memory budget ("OOM") or the time
limit ("timeout"), so a row that does not fit never takes the shared machine down.

CUDA: in-process, with the caching allocator's own counters (reset_peak_memory_stats and
max_memory_allocated minus memory_allocated before the model is built).

Train mode = one steady-state AdamW step: forward, backward and optimizer.step() with the
optimizer state (2 x parameters) already allocated, as it is in every step after the first, and
gradients set to None before the step (zero_grad(set_to_none=True), PyTorch's default).
Forward mode = the loss computed under torch.no_grad() (an evaluation pass; no logits kept).
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass

WARMUP_SEQ_LEN = 256  # long enough to go through every code path (several chunks), still instant
POLL_SECONDS = 0.02  # how often the parent samples the child's RSS
RUNTIME_ALLOWANCE = 1 << 30  # the child's interpreter + torch, on top of the step's budget
DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


@dataclass
class MeasureSpec:
    """What to measure: one model config at one length, in one mode, on one device."""

    config: dict  # ModelConfig.to_dict()
    seq_len: int
    batch_size: int = 1
    mode: str = "train"  # train | forward
    dtype: str = "fp32"  # fp32 | bf16 | fp16 (parameters and activations cast to it)
    device: str = "cpu"
    seed: int = 0
    memory_limit_bytes: int | None = None  # CPU: the step's own memory above the baseline


@dataclass
class MeasureResult:
    """status: ok | oom | timeout | error. Byte counts are None unless status is ok."""

    status: str
    peak_bytes: int | None = None
    param_count: int | None = None
    param_bytes: int | None = None
    grad_bytes: int | None = None
    optimizer_bytes: int | None = None
    seconds: float | None = None
    detail: str = ""


# ---------------------------------------------------------------- the step itself (any device)

def _build(spec: MeasureSpec, seq_len: int):
    """Model, optimizer (state allocated) and a random batch, on the spec's device and dtype."""
    import torch

    from reformer_cli.config.model import ModelConfig
    from reformer_cli.core.model import ReformerLM

    torch.manual_seed(spec.seed)
    device = torch.device(spec.device)
    dtype = getattr(torch, DTYPES[spec.dtype])
    model = ReformerLM(ModelConfig(**spec.config)).to(device=device, dtype=dtype)
    generator = torch.Generator().manual_seed(spec.seed)
    vocab = spec.config["vocab_size"]
    ids = torch.randint(0, vocab, (spec.batch_size, seq_len), generator=generator).to(device)
    targets = torch.randint(0, vocab, (spec.batch_size, seq_len), generator=generator).to(device)
    optimizer = None
    if spec.mode == "train":
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        # Allocate the AdamW state (exp_avg, exp_avg_sq) with a step on zero gradients: the
        # update is zero, and the measured step then sees the state every later step sees.
        for parameter in model.parameters():
            parameter.grad = torch.zeros_like(parameter)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    else:
        model.eval()
    return model, optimizer, ids, targets


def _step(model, optimizer, ids, targets) -> float:
    import torch

    if optimizer is None:
        with torch.no_grad():
            loss = model(ids, targets)
    else:
        loss = model(ids, targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return float(loss.detach())


def _sizes(model, optimizer) -> dict:
    params = list(model.parameters())
    param_bytes = sum(p.numel() * p.element_size() for p in params)
    optimizer_bytes = 0
    if optimizer is not None:
        for state in optimizer.state.values():
            optimizer_bytes += sum(t.numel() * t.element_size() for t in state.values()
                                   if hasattr(t, "numel"))
    return {"param_count": sum(p.numel() for p in params), "param_bytes": param_bytes,
            "grad_bytes": param_bytes if optimizer is not None else 0,
            "optimizer_bytes": optimizer_bytes}


def _warm_up(spec: MeasureSpec) -> None:
    """One tiny step of the same variant: loads every kernel the real step will use."""
    model, optimizer, ids, targets = _build(spec, min(spec.seq_len, WARMUP_SEQ_LEN))
    _step(model, optimizer, ids, targets)
    del model, optimizer, ids, targets
    gc.collect()


def is_out_of_memory(error: BaseException) -> bool:
    if isinstance(error, MemoryError):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and ("out of memory" in text
                                                or "can't allocate memory" in text
                                                or "failed to allocate" in text)


# ---------------------------------------------------------------- CPU: child process side

def _proc_status_bytes(key: str, pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024  # the kernel reports kB
    raise RuntimeError(f"{key} missing from /proc/{pid}/status")


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _stop_past_limit(baseline: int, limit: int) -> None:
    """Watchdog thread of the child: past `limit` bytes above the baseline, report "oom" and
    exit at once (torch kernels release the GIL, so this thread runs during them)."""
    while True:
        used = _proc_status_bytes("VmRSS") - baseline
        if used > limit:
            result = MeasureResult("oom", detail=f"stopped at {used / 2**30:.2f} GiB, over the "
                                                 f"{limit / 2**30:.2f} GiB budget")
            sys.stdout.write(json.dumps(asdict(result)) + "\n")
            sys.stdout.flush()
            os._exit(0)
        time.sleep(POLL_SECONDS / 2)


def measure_here_cpu(spec: MeasureSpec) -> MeasureResult:
    """Runs INSIDE the fresh child process: warm up, take the baseline, build, step, read VmHWM."""
    try:
        _warm_up(spec)
        baseline = _proc_status_bytes("VmRSS")
        if not _reset_peak_rss():  # old kernels: VmHWM then still holds the warm-up's peak
            baseline = max(baseline, _proc_status_bytes("VmHWM"))
        if spec.memory_limit_bytes is not None:
            threading.Thread(target=_stop_past_limit, args=(baseline, spec.memory_limit_bytes),
                             daemon=True).start()
        model, optimizer, ids, targets = _build(spec, spec.seq_len)
        started = time.perf_counter()
        _step(model, optimizer, ids, targets)
        seconds = time.perf_counter() - started
        peak = _proc_status_bytes("VmHWM") - baseline
        return MeasureResult("ok", peak_bytes=peak, seconds=seconds, **_sizes(model, optimizer))
    except Exception as error:  # noqa: BLE001 - reported, never raised past the child
        if is_out_of_memory(error):
            return MeasureResult("oom", detail=str(error).splitlines()[0][:200])
        return MeasureResult("error", detail=f"{type(error).__name__}: {error}"[:300])


def main() -> None:
    """`python -m reformer_cli.memprofile.measure` — spec JSON on stdin, result JSON on stdout."""
    spec = MeasureSpec(**json.loads(sys.stdin.read()))
    result = measure_here_cpu(spec)
    sys.stdout.write(json.dumps(asdict(result)) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------- CPU: parent side

def _child_env() -> dict:
    env = dict(os.environ)
    # Every tensor-sized allocation through mmap, so freeing returns it and RSS tracks live bytes.
    env["MALLOC_MMAP_THRESHOLD_"] = "65536"
    env["MALLOC_TRIM_THRESHOLD_"] = "131072"
    return env


def _watch(child: subprocess.Popen, memory_limit_bytes: int, time_limit_seconds: float):
    """Wait for the child, sampling its RSS; kill it past either limit. Returns (why, max RSS)."""
    started = time.monotonic()
    highest_rss = 0
    while child.poll() is None:
        try:
            highest_rss = max(highest_rss, _proc_status_bytes("VmRSS", child.pid))
        except (OSError, RuntimeError):
            pass  # the child is exiting
        killed_for = None
        if highest_rss > memory_limit_bytes:
            killed_for = "oom"
        elif time.monotonic() - started > time_limit_seconds:
            killed_for = "timeout"
        if killed_for:
            child.send_signal(signal.SIGKILL)
            child.wait()
            return killed_for, highest_rss
        time.sleep(POLL_SECONDS)
    return None, highest_rss


def measure_in_subprocess(spec: MeasureSpec, memory_limit_bytes: int,
                          time_limit_seconds: float) -> MeasureResult:
    """Run one row in a fresh interpreter; stop it past the memory budget or the time limit.

    The child stops itself when its step uses more than the budget above its own baseline;
    the parent kills it past the time limit, or past the budget plus RUNTIME_ALLOWANCE (the
    interpreter and torch themselves) should the child's watchdog not get to run in time.
    """
    spec = dataclasses.replace(spec, memory_limit_bytes=memory_limit_bytes)
    # Output goes to files, not pipes: a chatty child can then never block on a full pipe
    # while the parent is busy polling.
    with tempfile.TemporaryFile("w+") as out_file, tempfile.TemporaryFile("w+") as err_file:
        child = subprocess.Popen([sys.executable, "-m", "reformer_cli.memprofile.measure"],
                                 stdin=subprocess.PIPE, stdout=out_file, stderr=err_file,
                                 text=True, env=_child_env())
        child.stdin.write(json.dumps(asdict(spec)))
        child.stdin.close()
        killed_for, highest_rss = _watch(child, memory_limit_bytes + RUNTIME_ALLOWANCE,
                                         time_limit_seconds)
        out_file.seek(0)
        err_file.seek(0)
        stdout, stderr = out_file.read(), err_file.read()
    gib = (memory_limit_bytes + RUNTIME_ALLOWANCE) / 2**30
    if killed_for == "oom":
        return MeasureResult("oom", detail=f"stopped at {highest_rss / 2**30:.1f} GiB RSS, "
                                           f"over the {gib:.1f} GiB budget")
    if killed_for == "timeout":
        return MeasureResult("timeout", detail=f"stopped after {time_limit_seconds:.0f} s "
                                               f"(--time-limit)")
    if child.returncode == -signal.SIGKILL:  # the kernel's OOM killer
        return MeasureResult("oom", detail="killed by the operating system (out of memory)")
    try:
        return MeasureResult(**json.loads(stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError, TypeError):
        last = (stderr.strip().splitlines() or ["no output"])[-1]
        return MeasureResult("error", detail=f"measurement process exited with "
                                             f"{child.returncode}: {last}"[:300])


# ---------------------------------------------------------------- CUDA: in-process

def measure_in_process_cuda(spec: MeasureSpec) -> MeasureResult:
    """Peak from the caching allocator's counters; OOM is caught and the cache emptied."""
    import torch

    device = torch.device(spec.device)
    model = optimizer = ids = targets = None
    try:
        _warm_up(spec)
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        baseline = torch.cuda.memory_allocated(device)
        model, optimizer, ids, targets = _build(spec, spec.seq_len)
        torch.cuda.synchronize(device)
        started = time.perf_counter()
        _step(model, optimizer, ids, targets)
        torch.cuda.synchronize(device)
        seconds = time.perf_counter() - started
        peak = torch.cuda.max_memory_allocated(device) - baseline
        return MeasureResult("ok", peak_bytes=peak, seconds=seconds, **_sizes(model, optimizer))
    except Exception as error:  # noqa: BLE001 - OOM and failures become table values
        if isinstance(error, torch.cuda.OutOfMemoryError) or is_out_of_memory(error):
            return MeasureResult("oom", detail=str(error).splitlines()[0][:200])
        return MeasureResult("error", detail=f"{type(error).__name__}: {error}"[:300])
    finally:
        del model, optimizer, ids, targets
        gc.collect()
        torch.cuda.empty_cache()


def measure(spec: MeasureSpec, memory_limit_bytes: int, time_limit_seconds: float) -> MeasureResult:
    if spec.device.startswith("cuda"):
        return measure_in_process_cuda(spec)
    return measure_in_subprocess(spec, memory_limit_bytes, time_limit_seconds)


if __name__ == "__main__":
    main()
