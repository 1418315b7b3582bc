"""Training throughput of the default config, and what a fixed time budget buys.

    .venv/bin/python bench/train_throughput.py                      # tokens/s at 4K, 16K, 64K
    .venv/bin/python bench/train_throughput.py --seq-lens 4096,16384 --steps 3
    .venv/bin/python bench/train_throughput.py --budget-minutes 10  # + bits/char after 10 minutes

Throughput: the real Trainer step (forward, reversible backward, clipping, AdamW) on random
token windows, `--steps` measured steps after one warm-up step, median tokens/s per length.
Budget: `reformer train` on the English books of ../shared/data/lm, training on all but the last
book in alphabetical order and validating on the last; the budget counts the training loop
(including its periodic evaluations), not reading the books or training the tokenizer.
Prints a table on stdout; progress on stderr. Results depend on how busy the machine is.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from reformer_cli.config.device import resolve_device  # noqa: E402
from reformer_cli.config.load import load_run_config  # noqa: E402
from reformer_cli.core.model import ReformerLM  # noqa: E402
from reformer_cli.data.windows import WindowSampler  # noqa: E402
from reformer_cli.training.trainer import Runtime, Trainer, seed_everything  # noqa: E402

BOOKS = REPO.parent / "shared" / "data" / "lm"


def measure_throughput(config_name: str, seq_len: int, steps: int, device: str,
                       batch_size: int | None) -> dict:
    flags = {"data.seq_len": seq_len, "train.steps": steps + 1, "train.log_every": 1,
             "train.eval_every": 0, "train.checkpoint_every": 0, "train.warmup_steps": 1,
             "train.device": device, "train.batch_size": batch_size}
    config = load_run_config(config_name, flags=flags)
    config.model.vocab_size = config.data.vocab_size  # the size a trained tokenizer would have
    seed_everything(0)
    tokens = np.random.default_rng(0).integers(0, config.model.vocab_size,
                                               (config.train.batch_size + 1) * (seq_len + 1) * 4,
                                               dtype=np.int32)
    model = ReformerLM(config.model)
    speeds, seconds = [], []
    last = [time.perf_counter()]

    def on_event(event):
        if event.kind == "log":
            now = time.perf_counter()
            speeds.append(event.values["tokens_per_second"])
            seconds.append(now - last[0])
            last[0] = now
        elif event.kind == "start":
            last[0] = time.perf_counter()

    trainer = Trainer(config, model, None, WindowSampler(tokens, seq_len, seed=0), None, None,
                      runtime=Runtime(resolve_device(device)), on_event=on_event)
    trainer.fit()
    measured = speeds[1:] or speeds  # the first step pays for allocation and warm-up
    return {"seq_len": seq_len, "batch_size": config.train.batch_size,
            "parameters": model.num_parameters(), "steps": len(measured),
            "tokens_per_second": statistics.median(measured),
            "seconds_per_step": statistics.median(seconds[1:] or seconds)}


def budget_run(config_name: str, minutes: float, device: str) -> dict:
    from reformer_cli.commands.progress import ProgressDisplay
    from reformer_cli.config.run import UNLIMITED_STEPS
    from reformer_cli.training.setup import TrainRequest, run_training

    books = sorted(BOOKS.glob("*.en.txt"))
    if len(books) < 2:
        raise SystemExit(f"need at least two English books (*.en.txt) in {BOOKS}")
    train_books, val_book = books[:-1], books[-1]
    with tempfile.TemporaryDirectory() as folder:
        request = TrainRequest(
            paths=[str(b) for b in train_books], config_path=config_name, out=str(Path(folder) / "run"),
            flags={"data.val_path": str(val_book), "train.time_budget": minutes * 60.0,
                   "train.steps": UNLIMITED_STEPS, "train.device": device})
        with ProgressDisplay() as display:
            result = run_training(request, on_event=display, notify=display.print)
    return {"train": [b.name for b in train_books], "validate": val_book.name, "minutes": minutes,
            "steps": result["step"], "val_loss": result.get("val_loss"),
            "val_bits_per_char": result.get("val_bits_per_char")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="default", help="config file or preset (default: default)")
    parser.add_argument("--seq-lens", default="4096,16384,65536", help="comma-separated lengths")
    parser.add_argument("--steps", type=int, default=3, help="measured steps per length")
    parser.add_argument("--batch-size", type=int, default=None, help="override train.batch_size")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--budget-minutes", type=float, default=0.0,
                        help="also train on the English books for this long (0 = skip)")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()

    rows = []
    if not args.skip_throughput:
        for seq_len in [int(s) for s in args.seq_lens.split(",") if s]:
            print(f"measuring seq_len={seq_len} ...", file=sys.stderr, flush=True)
            rows.append(measure_throughput(args.config, seq_len, args.steps, args.device, args.batch_size))
    budget = budget_run(args.config, args.budget_minutes, args.device) if args.budget_minutes > 0 else None
    if args.json:
        print(json.dumps({"throughput": rows, "budget": budget}, indent=2))
        return
    if rows:
        print(f"training throughput, config {args.config}, {rows[0]['parameters']:,} parameters, "
              f"device {args.device}, {torch.get_num_threads()} threads")
        print(f"{'seq_len':>8} {'batch':>5} {'steps':>5} {'s/step':>8} {'tokens/s':>10}")
        for row in rows:
            print(f"{row['seq_len']:>8} {row['batch_size']:>5} {row['steps']:>5} "
                  f"{row['seconds_per_step']:>8.2f} {row['tokens_per_second']:>10.0f}")
    if budget:
        print(f"time budget {budget['minutes']:g} min: trained on {', '.join(budget['train'])}; "
              f"validated on {budget['validate']}: {budget['steps']} steps, val loss "
              f"{budget['val_loss']:.4f}, {budget['val_bits_per_char']:.3f} bits/char")


if __name__ == "__main__":
    main()
