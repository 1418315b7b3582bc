"""Summarization training examples: document (cut to fit) + <sep> + summary + </s>.

Targets count only the summary; the examples resume exactly, like the language-model windows.
"""

from __future__ import annotations

import warnings
from functools import partial
from typing import Callable, Sequence

import numpy as np

from reformer_cli.core.head_loss import IGNORE_INDEX
from reformer_cli.data.examples import FixedExamples
from reformer_cli.data.pair_pool import POOL_MIN_PAIRS, map_pairs
from reformer_cli.errors import InputError


def pair_example(document: str, summary: str, *, tokenizer, seq_len: int, max_summary: int
                 ) -> tuple[np.ndarray, np.ndarray, bool]:
    """(ids, targets) of one pair, each (seq_len,), and whether its summary was truncated."""
    eos_id = tokenizer.eos_id
    summary_ids = list(tokenizer.encode(summary)) + [eos_id]
    truncated = len(summary_ids) > max_summary
    summary_ids = summary_ids[:max_summary]
    document_ids = list(tokenizer.encode(document))[: seq_len - len(summary_ids)]
    sequence = document_ids + [tokenizer.sep_id] + summary_ids  # at most seq_len + 1 tokens
    ids = np.full(seq_len, eos_id, dtype=np.int64)
    target = np.full(seq_len, IGNORE_INDEX, dtype=np.int64)
    ids[: len(sequence) - 1] = sequence[:-1]
    first = len(document_ids)  # position of <sep>: it predicts the first summary token
    target[first: len(sequence) - 1] = sequence[first + 1:]
    return ids, target, truncated


class SummarizationExamples(FixedExamples):
    """document (cut to fit) + <sep> + summary + </s>, padded with </s> to seq_len.

    Targets are IGNORE_INDEX except where the next token is a summary token or the final </s>, so the
    loss counts only the summary. A summary that leaves less than a quarter of the window for
    the document is truncated (without </s>) and a warning says how many were.
    """

    kind = "summarization"
    stat_names = ("n_pairs", "truncated", "max_summary")

    def __init__(self, pairs: Sequence[tuple[str, str]], tokenizer, seq_len: int, seed: int = 0,
                 on_document: Callable[[], None] | None = None, workers: int = 1,
                 pool_min_pairs: int = POOL_MIN_PAIRS):
        if not pairs:
            raise InputError("no document/summary pairs to train on")
        if seq_len < 8:
            raise InputError(f"seq_len={seq_len} is too short for document + summary examples",
                             "use --seq-len 256 or more")
        seq_len = int(seq_len)
        self.sep_id, self.eos_id = tokenizer.sep_id, tokenizer.eos_id
        max_summary = seq_len - max(1, seq_len // 4) - 1  # tokens incl. </s>
        inputs, targets, truncated = [], [], 0
        build = partial(pair_example, tokenizer=tokenizer, seq_len=seq_len, max_summary=max_summary)
        for ids, target, cut in map_pairs(build, pairs, workers, on_document, pool_min_pairs):
            inputs.append(ids)
            targets.append(target)
            truncated += cut
        super().__init__(np.stack(inputs), np.stack(targets), seq_len, seed)  # (N, seq_len) each
        self.n_pairs, self.truncated, self.max_summary = len(pairs), truncated, max_summary
        self.warn_truncated()

    @classmethod
    def from_arrays(cls, inputs, targets, seq_len, seed, stats):
        examples = super().from_arrays(inputs, targets, seq_len, seed, stats)
        examples.warn_truncated()  # every start says so, prepared now or before
        return examples

    def warn_truncated(self) -> None:
        if self.truncated:
            warnings.warn(f"{self.truncated} of {self.n_pairs} summaries were longer than "
                          f"{self.max_summary} tokens and were truncated to fit "
                          f"seq_len={self.seq_len}", stacklevel=3)
