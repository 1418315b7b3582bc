"""Bits per character and perplexity of a trained model on held-out text, computed by the
trainer's own evaluation (training/trainer.py `evaluate`) over the validation windows the
trainer would cut from that text (data/windows.py `evaluation_batches`), all of them, plus one
window for the tokens after the last whole one: every token is scored, once."""

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
    """Score `text` with `loaded` (checkpoint.LoadedModel, already on `device`): every token
    after the first (nothing precedes it) exactly once, in the windows of `scoring_batches`,
    batched as in training, with the trainer's evaluation seed and precision."""
    import numpy as np

    from reformer_cli.training.prepared import eval_set_for
    from reformer_cli.training.trainer import evaluate

    config = loaded.config
    token_ids = np.asarray(loaded.tokenizer.encode_to_array(text))  # (N,)
    if len(token_ids) < 2:
        raise InputError(f"the text has {len(token_ids)} token(s); scoring needs at least 2",
                         "give a longer text")
    seq_len = min(config.data.seq_len, loaded.model.config.max_seq_len)
    batches = scoring_batches(token_ids, seq_len, config.train.batch_size)
    eval_set = eval_set_for(batches, loaded.tokenizer)
    result = evaluate(loaded.model, eval_set, device, seed=config.train.seed,
                      precision=config.train.precision)  # as the trainer evaluates
    bits_key = "val_bits_per_byte" if eval_set.unit == "byte" else "val_bits_per_char"
    return TextReport(loss=result["val_loss"], perplexity=result["val_perplexity"],
                      bits=result[bits_key], unit=eval_set.unit, tokens=result["val_tokens"],
                      characters=eval_set.characters)


def scoring_batches(token_ids, seq_len: int, batch_size: int) -> list:
    """(ids, targets) batches whose targets are every token after the first, each once.

    First the trainer's validation windows (data/windows.py `evaluation_batches`, all of them:
    windows of seq_len side by side from the start, so a text of whole windows scores as
    `reformer train --val` does); then, when tokens are left after the last whole window, one
    window of seq_len that ends at the text's end, overlapping the one before, whose targets
    already scored are IGNORE_INDEX: each of the rest is read with a full window of context.
    A text shorter than one window is one shorter window."""
    import numpy as np
    import torch

    from reformer_cli.core.head_loss import IGNORE_INDEX
    from reformer_cli.data.windows import evaluation_batches

    n_targets = len(token_ids) - 1
    seq_len = min(seq_len, n_targets)
    n_windows = n_targets // seq_len
    batches = evaluation_batches(token_ids, seq_len, batch_size, math.ceil(n_windows / batch_size))
    left = n_targets - n_windows * seq_len  # targets after the last whole window
    if left:
        block = torch.from_numpy(np.array(token_ids[-seq_len - 1:]))  # (seq_len + 1,)
        ids, targets = block[:-1].clone(), block[1:].clone()
        targets[:seq_len - left] = IGNORE_INDEX  # scored by the last whole window
        batches.append((ids[None], targets[None]))  # (1, seq_len) each
    return batches
