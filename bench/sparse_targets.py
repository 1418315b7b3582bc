"""Training step time when only a few positions carry a target (a sentence scorer's markers, a
summary after its document): the output head and loss over the scored rows only, against the
head over every position, in the same run.

    .venv/bin/python bench/sparse_targets.py [--config extract] [--fractions 0.03,0.25]
                                             [--repeats 5]

One step = forward and backward of the config's model (its seq_len and batch_size) on random
tokens, targets at an evenly spread `fraction` of the positions; the two ways alternate, and
the table shows the median seconds per step of each and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from attention_speed import matmul_gflops  # noqa: E402  (bench/ is this script's folder)

from reformer_cli.config.load import load_run_config  # noqa: E402
from reformer_cli.core import head_loss  # noqa: E402
from reformer_cli.core.head_loss import IGNORE_INDEX  # noqa: E402
from reformer_cli.core.model import ReformerLM  # noqa: E402


def step_seconds(model, ids, targets, compact: bool) -> float:
    head_loss.COMPACT_BELOW = 0.5 if compact else 0.0
    started = time.perf_counter()
    model(ids, targets).backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="extract")
    parser.add_argument("--fractions", default="0.03,0.25", help="scored fraction of positions")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    config = load_run_config(args.config)
    config.model.vocab_size = config.data.vocab_size  # the size a trained tokenizer would have
    batch, length = config.train.batch_size, config.data.seq_len
    torch.manual_seed(0)
    model = ReformerLM(config.model)
    ids = torch.randint(0, config.model.vocab_size, (batch, length))
    print(f"CPU: plain 1024x1024 fp32 matmul {matmul_gflops():.0f} GFLOP/s; {args.config}: "
          f"{model.num_parameters():,} parameters, vocab {config.model.vocab_size:,}, "
          f"batch {batch} x {length} tokens; torch threads {torch.get_num_threads()}")
    print(f"{'scored':>8} {'all rows s/step':>16} {'scored rows s/step':>19} {'speed-up':>9}")
    for fraction in (float(text) for text in args.fractions.split(",")):
        targets = torch.full((batch, length), IGNORE_INDEX)
        every = max(1, round(1 / fraction))
        targets[:, ::every] = ids[:, ::every]
        step_seconds(model, ids, targets, True)  # warm-up
        plain, compact = [], []
        for _ in range(args.repeats):
            plain.append(step_seconds(model, ids, targets, False))
            compact.append(step_seconds(model, ids, targets, True))
        a, b = statistics.median(plain), statistics.median(compact)
        print(f"{fraction:>8.0%} {a:>16.3f} {b:>19.3f} {a / b:>8.2f}x", flush=True)


if __name__ == "__main__":
    main()
