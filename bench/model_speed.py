"""Speed and memory of the whole ReformerLM (issue 2 benchmark).

    .venv/bin/python bench/model_speed.py                      # 1K, 4K, 16K tokens
    .venv/bin/python bench/model_speed.py --lengths 1024,65536

Shape: vocab 256, d_model 256, 4 heads, d_ff 1024, 2 layers, chunk 64, 2 hash rounds, causal,
reversible, dropout 0, batch 1; one row per attention type (lsh, local, full) and length.
Each row runs in a fresh subprocess: forward time and forward+backward time (median of
--repeats runs after one warm-up) and the peak resident memory of that subprocess (VmHWM)
minus its resident memory after building the model. GFLOP/s uses an analytic count of the
model FLOPs, forward F: "GFLOP/s t" counts forward+backward as 3F (the useful work), "t+rc"
as 4F (with the reversible recompute, one more forward, which a reversible model always does;
the issue's "about 0.23 TFLOP at 16K" is this count). Both are printed next to a plain
1024x1024 fp32 matmul measured in the same run, and "%mm" is t+rc against that matmul.
--layers changes the depth (e.g. --layers 12 --types lsh --lengths 65536 for the deep row).
Ratios are against the "full" (scaled_dot_product_attention) row of the same length.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys

from attention_speed import matmul_gflops  # bench/ is this script's folder

SHAPE = dict(vocab_size=256, d_model=256, n_heads=4, d_ff=1024, n_layers=2, chunk_length=64,
             n_hashes=2, causal=True, reversible=True, dropout=0.0, ff_chunk_size=1024,
             loss_chunk_size=1024, max_seq_len=131072)

# A row's subprocess: CHILD_START, then the setup (which defines forward_only,
# forward_backward, repeats and baseline), then CHILD_MEASURE, which prints the result as JSON.
CHILD_START = r"""
import json, statistics, sys, time
import torch

def rss_mib(key):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key):
                return int(line.split()[1]) / 1024
"""

CHILD_MEASURE = r"""
result = {}
for name, step in (("forward_s", forward_only), ("train_s", forward_backward)):
    step()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    result[name] = statistics.median(times)
result["peak_mib"] = rss_mib("VmHWM:") - baseline
print(json.dumps(result))
"""

CHILD = CHILD_START + r"""
from reformer_cli.config.model import ModelConfig
from reformer_cli.core.model import ReformerLM

settings = json.loads(sys.argv[1])
length, repeats = settings.pop("length"), settings.pop("repeats")
torch.manual_seed(0)
model = ReformerLM(ModelConfig(**settings))
ids = torch.randint(0, settings["vocab_size"], (1, length))
baseline = rss_mib("VmRSS:")

def forward_only():
    with torch.no_grad():
        model(ids, ids)

def forward_backward():
    model.zero_grad(set_to_none=True)
    model(ids, ids).backward()
""" + CHILD_MEASURE


def forward_flops(layer_type: str, length: int, shape: dict = SHAPE) -> float:
    """Multiply-adds x 2 of one forward pass (batch 1), attention counted as computed."""
    d, f, c, r = shape["d_model"], shape["d_ff"], shape["chunk_length"], shape["n_hashes"]
    projections = (4 if layer_type == "full" else 3) * 2 * length * d * d
    feedforward = 2 * 2 * length * d * f
    if layer_type == "full":  # causal: about half of the L x L scores, for QK^T and for AV
        attention = 2 * 2 * length * length * d / 2
    else:  # each query against a window of 2c keys, per hash round for LSH
        attention = (r if layer_type == "lsh" else 1) * 2 * 2 * length * 2 * c * d
    head = 2 * length * d * shape["vocab_size"]
    return shape["n_layers"] * (projections + feedforward + attention) + head


def run_child(child: str, settings: dict) -> dict:
    """Run one row's subprocess; its result, or {"error": its last line of stderr}."""
    done = subprocess.run([sys.executable, "-c", child, json.dumps(settings)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_row(layer_type: str, length: int, repeats: int) -> dict:
    return run_child(CHILD, dict(SHAPE, layer_types=[layer_type], length=length,
                                 repeats=repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="1024,4096,16384",
                        help="comma-separated token counts (add 65536 for the long row)")
    parser.add_argument("--types", default="lsh,local,full")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--layers", type=int, default=SHAPE["n_layers"])
    args = parser.parse_args()
    SHAPE["n_layers"] = args.layers
    lengths = [int(x) for x in args.lengths.split(",")]
    types = args.types.split(",")

    for peer, module in (("reformer-pytorch", "reformer_pytorch"), ("HF transformers",
                                                                     "transformers")):
        if importlib.util.find_spec(module) is None:
            print(f"{peer}: not installed", file=sys.stderr)
    baseline_gflops = matmul_gflops()
    print(f"plain 1024x1024 fp32 matmul: {baseline_gflops:.1f} GFLOP/s", file=sys.stderr)

    header = (f"{'type':<6}{'tokens':>8}{'fwd s':>9}{'fwd+bwd s':>11}{'peak MiB':>10}"
              f"{'fwd/full':>10}{'train/full':>11}{'mem/full':>10}{'GFLOP/s f':>11}"
              f"{'GFLOP/s t':>11}{'t+rc':>8}{'%mm':>6}")
    print(f"{args.layers} layers, batch 1, fp32", file=sys.stderr)
    print(header)
    for length in lengths:
        rows = {kind: run_row(kind, length, args.repeats) for kind in types}
        full = rows.get("full", {})
        for kind, row in rows.items():
            if "error" in row:
                print(f"{kind:<6}{length:>8}  error: {row['error']}")
                continue
            flops = forward_flops(kind, length)

            def ratio(key, row=row, full=full):
                return f"{row[key] / full[key]:.2f}" if key in full else "-"
            print(f"{kind:<6}{length:>8}{row['forward_s']:>9.3f}{row['train_s']:>11.3f}"
                  f"{row['peak_mib']:>10.0f}{ratio('forward_s'):>10}{ratio('train_s'):>11}"
                  f"{ratio('peak_mib'):>10}{flops / row['forward_s'] / 1e9:>11.1f}"
                  f"{3 * flops / row['train_s'] / 1e9:>11.1f}"
                  f"{4 * flops / row['train_s'] / 1e9:>8.1f}"
                  f"{100 * 4 * flops / row['train_s'] / 1e9 / baseline_gflops:>6.0f}", flush=True)


if __name__ == "__main__":
    main()
