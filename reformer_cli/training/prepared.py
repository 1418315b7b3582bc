"""What a run trains on, however it was prepared (token shards or pair examples): the tokenizer,
the sampler, the validation batches and the fingerprint a resume checks."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass
class PreparedData:
    tokenizer: object
    sampler: object  # WindowSampler | SummarizationExamples
    eval_set: object  # train.EvalSet | None (no validation text)
    fingerprint: str  # identifies the training tokens, checked on resume
    train_tokens: int
    warnings: list[str] = field(default_factory=list)  # for the user, e.g. a lowered vocabulary
    shards: object = None  # shards.prepare.PreparedShards (language models)
    keep_alive: object = None  # the temporary shard folder of a call without one


def eval_set_for(batches: list, tokenizer, per_sentence: bool = False):
    """Fixed validation batches plus the characters (or bytes) of the text their targets score;
    `per_sentence` (extraction): the number of sentence labels."""
    from reformer_cli.core.head_loss import IGNORE_INDEX
    from reformer_cli.training.trainer import EvalSet

    if tokenizer.kind == "byte" or per_sentence:
        scored = sum(int((targets != IGNORE_INDEX).sum()) for _, targets in batches)
        return EvalSet(batches, scored, unit="sentence" if per_sentence else "byte")
    characters = 0
    for _, targets in batches:
        for row in targets:
            characters += len(tokenizer.decode(row[row != IGNORE_INDEX].tolist()))
    return EvalSet(batches, characters, unit="char")


def data_fingerprint(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()[:32]
