"""GPU speed and memory of the attention layers and of gpu-base training (issue 13, item 4).

    python bench/gpu_speed.py                # one CUDA GPU; tables on stdout, < 8 minutes
    python bench/gpu_speed.py --dry-run      # the CPU, tiny lengths: runs every table and code
                                             # path; its numbers mean nothing

Table 1, one attention layer (batch 1, d_model 256, 4 heads, causal, 2 hash rounds): full
(projections + SDPA), lsh and local at chunk 64 and 128, forward (autograd on, as in
training) and forward+backward, bf16 autocast and fp32, at 4K .. 1,048,576 tokens: median
time, peak memory of forward+backward above the inputs, speedup over SDPA in the same run
(SDPA time / this time; > 1 is faster), and the first call's time (compilation included).
Table 2, the gpu-base model (configs/gpu-base.yaml, vocabulary 32,000, batch 1) training one
step (bf16 autocast, AdamW, clipping) at 16K and 64K tokens, and one step at 1,048,576:
tokens/s, model FLOP/s as a share of a bf16 matmul measured in this run, peak memory.

Every row runs in its own try: an out-of-memory row prints OOM, a failing row prints its
error (traceback on stderr) and the rest go on. A time budget (--budget, default 450 s)
keeps the whole run under 8 minutes: a row whose predicted time would not fit (full attention
grows with L^2, the rest with L) prints "skip" with the prediction. Order: the bf16 rows the
targets name (SDPA, lsh and local at chunk 64, 4K..64K), the model, the other bf16 rows,
then fp32. `--json FILE` writes every measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import traceback
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reformer_cli.config.model import ModelConfig  # noqa: E402
from reformer_cli.core.attention_types import build_attention  # noqa: E402
from reformer_cli.core.flex_window import PATH_VARIABLE  # noqa: E402
from reformer_cli.core.model import ReformerLM  # noqa: E402

LENGTHS = [4096, 16384, 65536, 262144, 1048576]
DRY_LENGTHS = [128, 256]
CHUNKS = [64, 128]
MODEL_LENGTHS = [16384, 65536]
MILLION = 1048576
GiB = 2 ** 30


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Runner:
    """Times calls on one device, keeps the budget and the records."""

    def __init__(self, device: torch.device, budget: float, target: float = 1.0):
        self.device, self.budget, self.start = device, budget, time.perf_counter()
        self.target = target  # seconds of repeats per median
        self.records: list[dict] = []

    def remaining(self) -> float:
        return self.budget - (time.perf_counter() - self.start)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def seconds(self, fn) -> float:
        self.sync()
        start = time.perf_counter()
        fn()
        self.sync()
        return time.perf_counter() - start

    def median(self, fn, most: int = 5) -> tuple[float, float]:
        """(first call s, median s of the repeats): repeats fill about self.target seconds."""
        first = self.seconds(fn)
        once = self.seconds(fn)
        repeats = max(0, min(most - 1, int(self.target / max(once, 1e-6)) - 1))
        return first, statistics.median([once] + [self.seconds(fn) for _ in range(repeats)])

    def peak(self, fn) -> float | None:
        """Peak bytes allocated above what was allocated before `fn` (CUDA only)."""
        if self.device.type != "cuda":
            fn()
            return None
        self.sync()
        torch.cuda.reset_peak_memory_stats(self.device)
        before = torch.cuda.memory_allocated(self.device)
        fn()
        self.sync()
        return torch.cuda.max_memory_allocated(self.device) - before


def matmul_rate(runner: Runner, dry_run: bool) -> float:
    """FLOP/s of a large bf16 matmul (fp32 on the CPU dry run)."""
    size, dtype = (256, torch.float32) if dry_run else (8192, torch.bfloat16)
    a = torch.randn(size, size, device=runner.device, dtype=dtype)
    b = torch.randn(size, size, device=runner.device, dtype=dtype)
    _, seconds = runner.median(lambda: a @ b, most=20)
    return 2 * size ** 3 / seconds


# ---- table 1: one attention layer -------------------------------------------------------------

def layer_case(kind, length, chunk, dtype, device):
    """(layer, input, forward fn, forward+backward fn) for one row."""
    config = ModelConfig(d_model=256, n_heads=4, chunk_length=chunk, n_hashes=2, causal=True,
                         max_seq_len=max(length, 1024))
    torch.manual_seed(0)
    layer = build_attention(kind, config, 0).to(device)
    hidden = torch.randn(1, length, 256, device=device, requires_grad=True)
    autocast = dict(device_type=device.type, dtype=torch.bfloat16,
                    enabled=dtype == torch.bfloat16)

    def forward():  # autograd on, as in training (a no_grad forward would compile again)
        with torch.autocast(**autocast):
            layer(hidden)[0]

    def forward_backward():
        hidden.grad = None
        layer.zero_grad(set_to_none=True)
        with torch.autocast(**autocast):
            out, _ = layer(hidden)
        out.float().square().mean().backward()

    return forward, forward_backward


def predicted_seconds(history: dict, key, length: int, quadratic: bool) -> float | None:
    """Time of one forward+backward from the last measured length of the same row kind."""
    if key not in history:
        return None
    last_length, last_seconds = history[key]
    return last_seconds * (length / last_length) ** (2 if quadratic else 1)


def layer_kinds(with_chunked: bool) -> list:
    """(kind, chunk) of every layer row: full (SDPA), lsh and local at each chunk, and with
    --with-chunked the chunked core on the GPU."""
    kinds = [("full", None)] + [(kind, chunk) for kind in ("lsh", "local") for chunk in CHUNKS]
    if with_chunked:
        kinds += [("lsh-chunked", chunk) for chunk in CHUNKS]
    return kinds


class LayerTable:
    """Rows of table 1, printed as they are measured, in passes (the rows the targets name
    first, so that a short budget still measures them); SDPA rows and the time history for
    the skip predictions are shared by all passes of one dtype."""

    def __init__(self, runner: Runner, dtype):
        self.runner, self.dtype = runner, dtype
        self.name = "bf16" if dtype == torch.bfloat16 else "fp32"
        self.history: dict = {}
        self.sdpa: dict = {}  # length -> the full row's result

    def run(self, lengths, kinds, title: str) -> None:
        print(f"\n## One attention layer, {self.name}, {title} (batch 1, d_model 256, 4 heads, "
              "causal, 2 rounds)")
        print(f"{'tokens':>9} {'layer':>16} {'fwd ms':>9} {'f+b ms':>9} {'peak GiB':>9} "
              f"{'fwd x':>7} {'f+b x':>7} {'first s':>8}")
        for length in lengths:
            for kind, chunk in kinds:
                self.row(length, kind, chunk)

    def run_pairs(self, rows, title: str) -> None:
        """Like run, for an explicit list of (length, (kind, chunk)); an SDPA row measured
        in an earlier pass still gives this pass's ratios."""
        print(f"\n## One attention layer, {self.name}, {title}")
        print(f"{'tokens':>9} {'layer':>16} {'fwd ms':>9} {'f+b ms':>9} {'peak GiB':>9} "
              f"{'fwd x':>7} {'f+b x':>7} {'first s':>8}")
        for length, (kind, chunk) in rows:
            self.row(length, kind, chunk)

    def row(self, length: int, kind: str, chunk) -> None:
        runner = self.runner
        label = kind if chunk is None else f"{kind} c{chunk}"
        record = dict(table="attention", dtype=self.name, tokens=length, layer=label)
        runner.records.append(record)
        prediction = predicted_seconds(self.history, (kind, chunk), length, kind == "full")
        # first call, one timed call, a forward and the peak pass: about 4 of them
        if prediction is not None and 4 * prediction > runner.remaining():
            record["skipped"] = f"predicted {prediction:.1f} s per fwd+bwd"
            print(f"{length:>9} {label:>16}   skip (predicted {prediction:.1f} s per "
                  f"fwd+bwd, {runner.remaining():.0f} s left)", flush=True)
            return
        result = measure_layer(runner, kind, length, chunk or 64, self.dtype)
        record.update(result)
        if "error" in result:
            print(f"{length:>9} {label:>16}   {result['error']}", flush=True)
            return
        self.history[(kind, chunk)] = (length, result["fwd_bwd_s"])
        if kind == "full":
            self.sdpa[length] = result
        sdpa = self.sdpa.get(length)
        ratio = ("" if sdpa is None else
                 f"{sdpa['fwd_s'] / result['fwd_s']:>7.2f} "
                 f"{sdpa['fwd_bwd_s'] / result['fwd_bwd_s']:>7.2f}")
        peak = "n/a" if result["peak_bytes"] is None else f"{result['peak_bytes'] / GiB:.3f}"
        print(f"{length:>9} {label:>16} {result['fwd_s'] * 1e3:>9.2f} "
              f"{result['fwd_bwd_s'] * 1e3:>9.2f} {peak:>9} {ratio or ' ' * 15} "
              f"{result['first_s']:>8.1f}", flush=True)


def measure_layer(runner, kind, length, chunk, dtype) -> dict:
    path = "chunked" if kind == "lsh-chunked" else "auto"
    previous = os.environ.get(PATH_VARIABLE)
    os.environ[PATH_VARIABLE] = path
    try:
        forward, forward_backward = layer_case(kind.replace("-chunked", ""), length, chunk,
                                               dtype, runner.device)
        first, both = runner.median(forward_backward)
        _, fwd = runner.median(forward)
        peak = runner.peak(forward_backward)
        return dict(fwd_s=fwd, fwd_bwd_s=both, peak_bytes=peak, first_s=first)
    except torch.cuda.OutOfMemoryError:
        return dict(error="OOM")
    except Exception as error:  # a failing row must not stop the table
        traceback.print_exc()
        return dict(error=f"error: {type(error).__name__}: {str(error)[:80]}")
    finally:
        if previous is None:
            os.environ.pop(PATH_VARIABLE, None)
        else:
            os.environ[PATH_VARIABLE] = previous
        if runner.device.type == "cuda":
            torch.cuda.empty_cache()


# ---- table 2: gpu-base training ---------------------------------------------------------------

def model_config(length: int, dry_run: bool):
    """gpu-base's model section (configs/gpu-base.yaml) with a 32,000-token vocabulary; the
    dry run shrinks its width and depth (same layer pattern)."""
    import yaml

    settings = yaml.safe_load((ROOT / "configs" / "gpu-base.yaml").read_text())["model"]
    settings.update(vocab_size=32000, max_seq_len=max(settings["max_seq_len"], length))
    if dry_run:
        settings.update(vocab_size=512, d_model=64, n_heads=2, d_ff=128, n_layers=4,
                        chunk_length=32, ff_chunk_size=128, loss_chunk_size=128)
    return ModelConfig(**settings).validate()


def model_flops_per_token(model: ReformerLM, length: int) -> float:
    """Model FLOPs of one training token: 3x the forward (forward + backward), the reversible
    recompute NOT counted (the usual convention). Forward: 2 per weight of every matrix in
    the blocks, 2 * d_model * vocab for the head, and per layer the attention products over
    the keys each query's window holds whole (masked ones included): local 2c keys, lsh
    r * 2c, full L, each 2 products (q.k and p.v) of 2 * d_model FLOPs."""
    config = model.config
    matrices = sum(p.numel() for name, p in model.stack.named_parameters() if p.dim() == 2)
    forward = 2 * matrices + 2 * config.d_model * config.vocab_size
    for index in range(config.n_layers):
        kind = config.layer_type(index)
        keys = {"local": 2 * config.chunk_length,
                "lsh": 2 * config.chunk_length * config.n_hashes}.get(kind, length)
        forward += 4 * keys * config.d_model
    return 3.0 * forward


def training_step(model, optimizer, ids, device):
    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16):
            loss = model(ids, ids)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return step


def model_rows(runner: Runner, rate: float, lengths, million: int | None, dry_run: bool):
    print(f"\n## gpu-base training step (bf16 autocast, AdamW, batch 1); bf16 matmul "
          f"{rate / 1e12:.1f} TFLOP/s")
    print(f"{'tokens':>9} {'step s':>8} {'tokens/s':>10} {'TFLOP/s':>8} {'x matmul':>9} "
          f"{'peak GiB':>9} {'first s':>8}")
    last = None
    for length in lengths + ([million] if million else []):
        record = dict(table="model", tokens=length)
        steps = 1 if length == million or dry_run else 3
        if last is not None:
            prediction = last[1] * length / last[0] * (steps + 2)
            if prediction > runner.remaining():
                record["skipped"] = f"predicted {prediction:.0f} s"
                print(f"{length:>9}   skip (predicted {prediction:.0f} s, "
                      f"{runner.remaining():.0f} s left)", flush=True)
                runner.records.append(record)
                continue
        try:
            config = model_config(length, dry_run)
            torch.manual_seed(0)
            model = ReformerLM(config).to(runner.device).train()
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
            ids = torch.randint(0, config.vocab_size, (1, length), device=runner.device)
            step = training_step(model, optimizer, ids, runner.device)
            first = runner.seconds(step)
            seconds = statistics.median(runner.seconds(step) for _ in range(steps))
            peak = runner.peak(step)
            flops = model_flops_per_token(model, length) * length / seconds
            record.update(step_s=seconds, first_s=first, peak_bytes=peak,
                          tokens_per_s=length / seconds, model_flops=flops,
                          matmul_share=flops / rate)
            last = (length, seconds)
            peak_text = "n/a" if peak is None else f"{peak / GiB:.2f}"
            print(f"{length:>9} {seconds:>8.3f} {length / seconds:>10.0f} {flops / 1e12:>8.1f} "
                  f"{flops / rate:>9.1%} {peak_text:>9} {first:>8.1f}", flush=True)
        except torch.cuda.OutOfMemoryError:
            record["error"] = "OOM"
            print(f"{length:>9}   OOM", flush=True)
        except Exception as error:
            traceback.print_exc()
            record["error"] = f"{type(error).__name__}: {error}"
            print(f"{length:>9}   error: {type(error).__name__}", flush=True)
        finally:
            model = optimizer = None
            if runner.device.type == "cuda":
                torch.cuda.empty_cache()
        runner.records.append(record)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true",
                        help="CPU, tiny lengths and model: exercise every path, time nothing")
    parser.add_argument("--budget", type=float, default=450.0, help="seconds for the whole run")
    parser.add_argument("--lengths", default=None, help="comma-separated layer lengths")
    parser.add_argument("--with-chunked", action="store_true",
                        help="also the chunked core on the GPU (REFORMER_ATTENTION_PATH=chunked)")
    parser.add_argument("--no-million", action="store_true", help="skip the 1M-token model step")
    parser.add_argument("--json", type=Path, default=None, help="write every measurement here")
    args = parser.parse_args(argv)

    if not args.dry_run and not torch.cuda.is_available():
        log("gpu_speed: no CUDA device; use --dry-run to exercise it on the CPU")
        return 2
    device = torch.device("cpu" if args.dry_run else "cuda")
    lengths = ([int(x) for x in args.lengths.split(",")] if args.lengths
               else DRY_LENGTHS if args.dry_run else LENGTHS)
    model_lengths = [128] if args.dry_run else MODEL_LENGTHS
    million = None if args.no_million else (256 if args.dry_run else MILLION)
    runner = Runner(device, args.budget, target=0.0 if args.dry_run else 1.0)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (dry run)"
    print(f"# gpu_speed: {name}, torch {torch.__version__}, "
          f"path {os.environ.get(PATH_VARIABLE, 'auto')}, budget {args.budget:.0f} s")
    rate = matmul_rate(runner, args.dry_run)
    # the rows the targets name first (bf16 SDPA, lsh and local at chunk 64 up to 64K, the
    # model), then the rest: a budget that runs out skips the least needed rows
    kinds = layer_kinds(args.with_chunked)
    first_kinds = [("full", None), ("lsh", 64), ("local", 64)]
    first_lengths = [length for length in lengths if length <= 65536] or lengths[:1]
    bf16 = LayerTable(runner, torch.bfloat16)
    bf16.run(first_lengths, first_kinds, "the target rows")
    model_rows(runner, rate, model_lengths, million, args.dry_run)
    rest = [(length, kind) for length in lengths for kind in kinds
            if not (length in first_lengths and kind in first_kinds)]
    bf16.run_pairs(rest, "the other rows")
    LayerTable(runner, torch.float32).run(lengths, kinds, "all rows")
    elapsed = time.perf_counter() - runner.start
    print(f"\n# done in {elapsed:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(dict(device=name, torch=torch.__version__,
                                             matmul_flops=rate, elapsed_s=elapsed,
                                             records=runner.records), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
