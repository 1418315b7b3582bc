"""A tiny saved model for command tests (random weights, byte tokenizer): what `--model NAME`
finds under models/NAME/final."""

from __future__ import annotations

from pathlib import Path

import torch

from reformer_cli.checkpoint import save_checkpoint
from reformer_cli.config.model import ModelConfig
from reformer_cli.config.run import DataConfig, RunConfig
from reformer_cli.core.model import ReformerLM
from reformer_cli.text.tokenizer import ByteTokenizer


def save_tiny_model(root: Path, name: str, task: str = "lm", seq_len: int = 64,
                    attention_gain: float = 1.0, **model_settings) -> Path:
    """models/NAME/final under `root`: d_model 32, 2 layers, chunk 8, seeded weights.
    `attention_gain` multiplies every attention layer's value and output weights: random
    weights barely read the context, so a test whose text must depend on what each token
    attends to (its LSH buckets, say) raises it."""
    torch.manual_seed(0)
    settings = dict(vocab_size=258, d_model=32, n_heads=2, d_ff=64, n_layers=2, chunk_length=8,
                    max_seq_len=4096)
    settings.update(model_settings)
    config = ModelConfig(**settings)
    run = RunConfig(name=name, model=config,
                    data=DataConfig(seq_len=seq_len, tokenizer="byte", task=task))
    model = ReformerLM(config)
    with torch.no_grad():
        for block in model.stack.blocks:
            block.attention.value.weight.mul_(attention_gain)
            block.attention.output.weight.mul_(attention_gain)
    folder = Path(root) / "models" / name / "final"
    save_checkpoint(folder, config=run, model=model, tokenizer=ByteTokenizer(), step=0)
    return folder
