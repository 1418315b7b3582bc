"""One process of the data-parallel equivalence test (tests/test_distributed.py).

    python tests/distributed_worker.py OUT_DIR BATCH_SIZE

Trains the tiny reversible LSH model for STEPS optimizer steps of GRAD_ACCUM micro-batches with
the real Trainer, then writes the parameters to OUT_DIR/rank-R.safetensors and a few counters to
OUT_DIR/rank-R.json. With RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT set it joins the group like
`reformer train` under torchrun; without them it is one plain process. The test also imports
`train_tiny` to run the single-process reference in its own process.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from reformer_cli.config.load import load_run_config
from reformer_cli.core.model import ReformerLM
from reformer_cli.data.windows import WindowSampler
from reformer_cli.training import data_parallel
from reformer_cli.training.runtime import Runtime
from reformer_cli.training.trainer import Trainer, seed_everything

VOCAB, SEQ_LEN, STEPS, GRAD_ACCUM = 61, 64, 2, 2


def tiny_config(batch_size: int):
    return load_run_config(None, [], {
        "model.vocab_size": VOCAB, "model.d_model": 32, "model.n_heads": 2, "model.d_ff": 64,
        "model.n_layers": 2, "model.layer_types": ["lsh", "local"], "model.chunk_length": 16,
        "model.reversible": True, "model.dropout": 0.0, "model.hash_seed": 7,
        "model.ff_chunk_size": 16, "model.loss_chunk_size": 32,
        "data.seq_len": SEQ_LEN, "train.steps": STEPS, "train.batch_size": batch_size,
        "train.grad_accum": GRAD_ACCUM, "train.warmup_steps": 1, "train.lr": 1e-4,
        "train.eval_every": 0, "train.checkpoint_every": 0, "train.log_every": 1,
        "train.device": "cpu"})


def train_tiny(batch_size: int, runtime: Runtime) -> tuple[dict, Trainer]:
    # lr 1e-4: Adam's first steps divide by |g| + eps, so float noise in near-zero gradients
    # moves a weight by up to ~lr * noise / eps; a small lr keeps that far below the 1e-5 check.
    config = tiny_config(batch_size)
    seed_everything(0)
    model = ReformerLM(config.model)
    if runtime.rank > 0:  # prove that the start-up broadcast, not the seed, aligns the replicas
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(1.0)
    tokens = np.random.default_rng(123).integers(0, VOCAB, size=20_000).astype(np.int32)
    sampler = WindowSampler(tokens, SEQ_LEN, seed=0)
    trainer = Trainer(config, model, None, sampler, None, None, runtime=runtime)
    trainer.fit()
    return {name: t.detach().clone().contiguous() for name, t in model.state_dict().items()}, trainer


def main(out_dir: str, batch_size: int) -> None:
    torch.set_num_threads(1)
    runtime = data_parallel.start("cpu") or Runtime()
    with data_parallel.leaving_in_order():
        state, trainer = train_tiny(batch_size, runtime)
        out = Path(out_dir)
        save_file(state, str(out / f"rank-{runtime.rank}.safetensors"))
        (out / f"rank-{runtime.rank}.json").write_text(json.dumps({
            "world_size": runtime.world_size, "step": trainer.step,
            "gradient_syncs": getattr(runtime, "gradient_syncs", None)}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
