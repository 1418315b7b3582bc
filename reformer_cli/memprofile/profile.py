"""Run the comparison: for each length and variant, measure it or, if it would not fit (memory
or time), estimate it. Pure orchestration: the measuring function is passed in, nothing prints.

Decisions, per row and length:
  * estimated peak > memory budget                       -> estimated (not run)
  * estimated time > time limit                          -> estimated (not run)
  * the same row was OOM / over a limit at a shorter length -> estimated (it only grows)
  * otherwise measured; OOM or a time-out during the run -> shown as "OOM" / "timeout", with
    the estimate next to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from reformer_cli.config.checks import check_positive
from reformer_cli.config.model import ModelConfig
from reformer_cli.errors import ResourceError
from reformer_cli.memprofile.estimate import estimate_peak, parameter_count, step_flops
from reformer_cli.memprofile.measure import MeasureResult, MeasureSpec
from reformer_cli.memprofile.variants import Variant, build_variants


@dataclass
class ProfileRequest:
    config: ModelConfig
    seq_lens: list[int]
    batch_size: int = 1
    mode: str = "train"
    dtype: str = "fp32"
    device: str = "cpu"
    memory_budget_bytes: int = 0
    time_limit_seconds: float = 360.0
    flops_per_second: float = 1e10  # effective speed used to predict a row's time


@dataclass
class Row:
    """One variant at one length. `source` is "measured" or "estimated"."""

    seq_len: int
    index: int
    key: str
    label: str
    source: str
    status: str  # ok | oom | timeout | error | over-memory | over-time | after-failure
    peak_bytes: float | None  # measured peak, or the estimate when source == "estimated"
    estimate_bytes: float  # the analytic model's peak, always present
    param_count: int
    param_bytes: float
    activation_bytes: float | None  # peak minus parameters, gradients and optimizer state
    seconds: float | None  # measured step time, or the predicted one when estimated
    detail: str = ""
    saving_vs_plain: float | None = None  # 1 - peak / peak of row 1
    saving_vs_sdpa: float | None = None  # 1 - peak / peak of row 2
    model_error: float | None = None  # estimate / measured - 1, for measured rows
    config: dict = field(default_factory=dict)

    @property
    def comparable_bytes(self) -> float:
        """What savings are computed from: the measurement, else the estimate."""
        return self.peak_bytes if self.peak_bytes is not None else self.estimate_bytes


MEMORY_FRACTION = 0.8  # of MemAvailable (CPU) or free GPU memory, when no --memory-limit
FLOP_EFFICIENCY = 0.35  # a step runs at about this fraction of a large matmul's speed (see below)


def memory_budget(device, memory_limit_gib: float | None) -> int:
    if memory_limit_gib is not None:
        check_positive("--memory-limit", memory_limit_gib, "> 0 (GiB, e.g. 20)")
        return int(memory_limit_gib * 2**30)
    if device.type == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info(device)
        return int(free * MEMORY_FRACTION)
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(int(line.split()[1]) * 1024 * MEMORY_FRACTION)
    raise ResourceError("cannot read the available memory from /proc/meminfo",
                        "give --memory-limit GIB")


def effective_flops_per_second(device) -> float:
    """A large fp32 matmul's speed times FLOP_EFFICIENCY: a training step also runs small
    matmuls, LayerNorms, sorts and gathers that reach only a fraction of it. Only used to decide
    which rows to skip; a row that runs longer than --time-limit is stopped anyway."""
    import time

    import torch

    a = torch.randn(1024, 512, device=device)
    b = torch.randn(512, 1024, device=device)
    (a @ b).sum().item()  # warm up
    repeats, started = 8, time.perf_counter()
    for _ in range(repeats):
        a @ b
    (a @ b).sum().item()  # synchronise (CUDA)
    seconds = (time.perf_counter() - started) / (repeats + 1)
    return 2 * 1024 * 512 * 1024 / seconds * FLOP_EFFICIENCY


Measure = Callable[[MeasureSpec, int, float], MeasureResult]
Progress = Callable[[str], None]


def predicted_seconds(request: ProfileRequest, variant: Variant, seq_len: int,
                      measured: dict[int, tuple[int, float]]) -> float:
    """From this row's own measured time at a shorter length when there is one (scaled by the
    ratio of operation counts), else from the operation count and the effective speed."""
    flops = step_flops(variant.config, seq_len, request.batch_size, request.mode)
    if variant.index in measured:
        previous_len, previous_seconds = measured[variant.index]
        previous = step_flops(variant.config, previous_len, request.batch_size, request.mode)
        return previous_seconds * flops / previous
    return flops / request.flops_per_second


def run_profile(request: ProfileRequest, measure: Measure,
                progress: Progress = lambda message: None) -> list[Row]:
    variants = build_variants(request.config)
    rows: list[Row] = []
    failed_at: dict[int, int] = {}  # row index -> length at which it stopped fitting
    measured_time: dict[int, tuple[int, float]] = {}
    budget_gib = request.memory_budget_bytes / 2**30
    for seq_len in sorted(request.seq_lens):
        for variant in variants:
            estimate = estimate_peak(variant.config, seq_len, request.batch_size, request.mode,
                                     request.dtype)
            seconds = predicted_seconds(request, variant, seq_len, measured_time)
            base = dict(seq_len=seq_len, index=variant.index, key=variant.key,
                        label=variant.label, estimate_bytes=estimate.peak_bytes,
                        param_count=parameter_count(variant.config),
                        param_bytes=estimate.parameter_bytes, config=variant.config.to_dict())
            skip = None
            if variant.index in failed_at:
                skip = ("after-failure", f"did not fit at L={failed_at[variant.index]}")
            elif estimate.peak_bytes > request.memory_budget_bytes:
                skip = ("over-memory", f"needs ~{estimate.peak_bytes / 2**30:.1f} GiB, over the "
                                       f"{budget_gib:.1f} GiB budget")
            elif seconds > request.time_limit_seconds:
                skip = ("over-time", f"would take ~{seconds:.0f} s, over the "
                                     f"{request.time_limit_seconds:.0f} s time limit")
            if skip:
                failed_at.setdefault(variant.index, seq_len)
                progress(f"L={seq_len} row {variant.index} ({variant.key}): estimated — {skip[1]}")
                rows.append(Row(**base, source="estimated", status=skip[0], peak_bytes=None,
                                activation_bytes=estimate.activation_bytes, seconds=seconds,
                                detail=skip[1]))
                continue
            progress(f"L={seq_len} row {variant.index} ({variant.key}): measuring "
                     f"(estimate {estimate.peak_bytes / 2**20:.0f} MiB, ~{seconds:.0f} s)")
            spec = MeasureSpec(config=variant.config.to_dict(), seq_len=seq_len,
                               batch_size=request.batch_size, mode=request.mode,
                               dtype=request.dtype, device=request.device)
            result = measure(spec, request.memory_budget_bytes, request.time_limit_seconds)
            rows.append(_row_from_result(base, result, estimate))
            if result.status == "ok":
                measured_time[variant.index] = (seq_len, result.seconds)
            else:
                failed_at.setdefault(variant.index, seq_len)
                progress(f"L={seq_len} row {variant.index}: {result.status} — {result.detail}")
    _add_savings(rows)
    return rows


def _row_from_result(base: dict, result: MeasureResult, estimate) -> Row:
    if result.status != "ok":
        return Row(**base, source="estimated", status=result.status, peak_bytes=None,
                   activation_bytes=estimate.activation_bytes, seconds=None,
                   detail=result.detail)
    state = result.grad_bytes + result.optimizer_bytes
    base = {**base, "param_count": result.param_count, "param_bytes": result.param_bytes}
    return Row(**base, source="measured", status="ok", peak_bytes=result.peak_bytes,
               activation_bytes=result.peak_bytes - result.param_bytes - state,
               seconds=result.seconds, detail=result.detail,
               model_error=estimate.peak_bytes / result.peak_bytes - 1)


def _add_savings(rows: list[Row]) -> None:
    by_length: dict[int, dict[int, Row]] = {}
    for row in rows:
        by_length.setdefault(row.seq_len, {})[row.index] = row
    for row in rows:
        same_length = by_length[row.seq_len]
        for reference_index, attribute in ((1, "saving_vs_plain"), (2, "saving_vs_sdpa")):
            reference = same_length.get(reference_index)
            if reference is not None:
                setattr(row, attribute, 1 - row.comparable_bytes / reference.comparable_bytes)
