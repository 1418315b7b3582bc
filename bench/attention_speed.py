"""Speed of one attention layer of each type, forward and forward+backward, on this CPU.

    .venv/bin/python bench/attention_speed.py            # 1K, 4K, 16K
    .venv/bin/python bench/attention_speed.py --long     # and 65,536 (1 run each there:
                                                         # full attention takes minutes)

Shape: d_model 256, 4 heads, chunk 64, 2 rounds, causal, batch 1 (issue 2's comparison shape).
Times are medians of 3 runs, the layer types taking turns; "x full" is the ratio to SDPA full
attention in the same run (ratios are what to compare: the host's speed drifts). Not run by CI.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from reformer_cli.config.model import ModelConfig
from reformer_cli.core.attention_types import build_attention

NAIVE_MAX_LENGTH = 4096  # the (L, L) matrix of 4 heads at 16K would already be 4 GiB


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_gflops(size: int = 1024, repeats: int = 5) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    seconds = median_time(lambda: a @ b, repeats)
    return 2 * size ** 3 / seconds / 1e9


def measure_interleaved(kinds: list[str], length: int, repeats: int) -> dict:
    """{kind: (median forward s, median forward+backward s)}. The kinds take turns within
    each repeat, so a burst of load on the shared host hits all of them alike."""
    config = ModelConfig(d_model=256, n_heads=4, chunk_length=64, n_hashes=2, causal=True)
    torch.manual_seed(0)
    layers = {kind: build_attention(kind, config, 0) for kind in kinds}
    hidden = torch.randn(1, length, 256, requires_grad=True)
    times = {kind: ([], []) for kind in kinds}
    for _ in range(repeats):
        for kind, layer in layers.items():
            start = time.perf_counter()
            with torch.no_grad():
                layer(hidden)[0]
            middle = time.perf_counter()
            layer(hidden)[0].sum().backward()
            times[kind][0].append(middle - start)
            times[kind][1].append(time.perf_counter() - middle)
    return {kind: (statistics.median(fwd), statistics.median(both))
            for kind, (fwd, both) in times.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long", action="store_true", help="also measure 65,536 tokens")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    lengths = [1024, 4096, 16384] + ([65536] if args.long else [])
    print(f"torch {torch.__version__}, {args.threads} threads; 1024^2 fp32 matmul: "
          f"{matmul_gflops():.0f} GFLOP/s", file=sys.stderr)
    header = f"{'length':>7} {'layer':>6} {'fwd s':>8} {'fwd+bwd s':>10} {'fwd x full':>11} " \
             f"{'f+b x full':>11}"
    print(header)
    for length in lengths:
        kinds = ["full", "lsh", "local"] + (["naive"] if length <= NAIVE_MAX_LENGTH else [])
        repeats = 1 if length > 16384 else args.repeats
        if repeats > 1:
            measure_interleaved(kinds, min(length, 1024), 1)  # warm-up
        results = measure_interleaved(kinds, length, repeats)
        full_fwd, full_both = results["full"]
        for kind, (fwd, both) in results.items():
            print(f"{length:>7} {kind:>6} {fwd:>8.3f} {both:>10.3f} {fwd / full_fwd:>11.2f} "
                  f"{both / full_both:>11.2f}", flush=True)


if __name__ == "__main__":
    main()
