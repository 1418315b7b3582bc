"""Bits per character and perplexity of a trained model on held-out text, computed by the
trainer's own evaluation (training/trainer.py `evaluate`) over the validation windows the
trainer would cut from that text (data/windows.py `evaluation_batches`), here all of them."""

from __future__ import annotations

import math
from dataclasses import dataclass

from reformer_cli.errors import InputError


@dataclass(frozen=True)
class TextReport:
    loss: float  # nats per token
    perplexity: float
    bits: float  # per character (per byte with the byte tokenizer)
    unit: str  # "char" | "byte"
    tokens: int  # tokens scored
    characters: int  # characters (bytes) those tokens spell


def evaluate_text(loaded, text: str, device) -> TextReport:
    """Score `text` with `loaded` (checkpoint.LoadedModel, already on `device`): the windows are
    the model's training length, batched as in training, with its evaluation seed."""
    import numpy as np

    from reformer_cli.data.windows import evaluation_batches
    from reformer_cli.training.prepared import eval_set_for
    from reformer_cli.training.trainer import evaluate

    config = loaded.config
    token_ids = np.asarray(loaded.tokenizer.encode_to_array(text))  # (N,)
    if len(token_ids) < 2:
        raise InputError(f"the text has {len(token_ids)} token(s); scoring needs at least 2",
                         "give a longer text")
    seq_len = min(config.data.seq_len, loaded.model.config.max_seq_len, len(token_ids) - 1)
    n_windows = (len(token_ids) - 1) // seq_len
    batch_size = config.train.batch_size
    batches = evaluation_batches(token_ids, seq_len, batch_size, math.ceil(n_windows / batch_size))
    eval_set = eval_set_for(batches, loaded.tokenizer)
    result = evaluate(loaded.model, eval_set, device, seed=config.train.seed,
                      precision=config.train.precision)  # as the trainer evaluates
    bits_key = "val_bits_per_byte" if eval_set.unit == "byte" else "val_bits_per_char"
    return TextReport(loss=result["val_loss"], perplexity=result["val_perplexity"],
                      bits=result[bits_key], unit=eval_set.unit, tokens=result["val_tokens"],
                      characters=eval_set.characters)
