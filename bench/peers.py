"""One causal LSH attention layer: ours beside reformer-pytorch 1.4.4 and Hugging Face
transformers' Reformer, in the same run on this CPU.

    make bench-peers                                   # its own environment, then this script
    .venv-peers/bin/python bench/peers.py --lengths 1024,4096,16384 --repeats 5

The peers live in .venv-peers (made by `make bench-peers`: torch 2.13.0, this package,
reformer-pytorch 1.4.4, transformers), never in the package's dependencies.

Shape (issue 2's): d_model 256, 4 heads of 64, chunk (reformer-pytorch: bucket_size) 64, 2
hash rounds, causal, batch 1, fp32, each implementation's default bucket count (about 2L/64
for all three), dropout 0, training mode (fresh random rotations every call, as in training).
Every layer includes its projections: shared query/key, value and output (HF's attention
layer has no output projection of its own; a 256x256 linear is added to it). "full" is our
SDPA layer, for scale. Each row runs in a fresh subprocess: forward with autograd off and
forward+backward (median of --repeats after one warm-up), and the peak resident memory of the
subprocess (VmHWM) above its resident memory once the layer and input exist. "x ours" is the
peer's time over ours at the same length (above 1: ours is faster). Not run by CI.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys

from attention_speed import matmul_gflops  # bench/ is this script's folder
from model_speed import CHILD_MEASURE, CHILD_START, run_child

D_MODEL, HEADS, CHUNK, ROUNDS = 256, 4, 64, 2
LAYERS = ("ours lsh", "reformer-pytorch", "HF transformers", "ours full")
NEEDS = {"reformer-pytorch": "reformer_pytorch", "HF transformers": "transformers"}

CHILD = CHILD_START + r"""
from torch import nn

D_MODEL, HEADS, CHUNK, ROUNDS = 256, 4, 64, 2
settings = json.loads(sys.argv[1])
name, length, repeats = settings["layer"], settings["length"], settings["repeats"]

def ours(kind):
    from reformer_cli.config.model import ModelConfig
    from reformer_cli.core.attention_types import build_attention
    config = ModelConfig(d_model=D_MODEL, n_heads=HEADS, chunk_length=CHUNK, n_hashes=ROUNDS,
                         causal=True, dropout=0.0, max_seq_len=max(length, 1024))
    layer = build_attention(kind, config, 0)
    return lambda x: layer(x)[0], layer

def lucidrains():
    from reformer_pytorch import LSHSelfAttention
    layer = LSHSelfAttention(dim=D_MODEL, heads=HEADS, bucket_size=CHUNK, n_hashes=ROUNDS,
                             causal=True)
    return layer, layer

def hugging_face():
    from transformers.models.reformer import modeling_reformer as reformer
    config = reformer.ReformerConfig(
        hidden_size=D_MODEL, num_attention_heads=HEADS, attention_head_size=D_MODEL // HEADS,
        lsh_attn_chunk_length=CHUNK, num_hashes=ROUNDS, num_buckets=None,
        lsh_num_chunks_before=1, lsh_num_chunks_after=0, is_decoder=True,
        lsh_attention_probs_dropout_prob=0.0, attn_layers=["lsh"],
        max_position_embeddings=max(length, 1024))
    attention = reformer.LSHSelfAttention(config, layer_idx=0)
    output = nn.Linear(D_MODEL, D_MODEL, bias=False)
    layer = nn.ModuleList([attention, output])
    return lambda x: output(attention(x).hidden_states), layer

torch.manual_seed(0)
build = {"ours lsh": lambda: ours("lsh"), "ours full": lambda: ours("full"),
         "reformer-pytorch": lucidrains, "HF transformers": hugging_face}[name]
call, layer = build()
layer.train()
x = torch.randn(1, length, D_MODEL, requires_grad=True)
baseline = rss_mib("VmRSS:")

def forward_only():
    with torch.no_grad():
        call(x)

def forward_backward():
    layer.zero_grad(set_to_none=True)
    x.grad = None
    call(x).square().mean().backward()

""" + CHILD_MEASURE


def run_row(layer: str, length: int, repeats: int) -> dict:
    return run_child(CHILD, dict(layer=layer, length=length, repeats=repeats))


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for package in ("torch", "reformer-pytorch", "transformers"):
        try:
            parts.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            parts.append(f"{package} absent")
    return ", ".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="1024,4096,16384")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    missing = [peer for peer, module in NEEDS.items() if importlib.util.find_spec(module) is None]
    if missing:
        print(f"peers: {', '.join(missing)} not installed in {sys.executable}; run "
              "`make bench-peers` (it builds .venv-peers)", file=sys.stderr)
        return 2
    print(f"{versions()}; plain 1024x1024 fp32 matmul: {matmul_gflops():.1f} GFLOP/s")
    print(f"one causal layer: d_model {D_MODEL}, {HEADS} heads, chunk {CHUNK}, {ROUNDS} rounds, "
          "batch 1, fp32")
    print(f"{'layer':<18}{'tokens':>8}{'fwd s':>9}{'fwd+bwd s':>11}{'peak MiB':>10}"
          f"{'fwd x ours':>12}{'f+b x ours':>12}")
    for length in [int(x) for x in args.lengths.split(",")]:
        rows = {layer: run_row(layer, length, args.repeats) for layer in LAYERS}
        mine = rows["ours lsh"]
        for layer, row in rows.items():
            if "error" in row:
                print(f"{layer:<18}{length:>8}  error: {row['error']}", flush=True)
                continue

            def ratio(key, row=row, mine=mine):
                return f"{row[key] / mine[key]:.2f}" if key in mine else "-"
            print(f"{layer:<18}{length:>8}{row['forward_s']:>9.3f}{row['train_s']:>11.3f}"
                  f"{row['peak_mib']:>10.0f}{ratio('forward_s'):>12}{ratio('train_s'):>12}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
