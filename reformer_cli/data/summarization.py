"""Summarization training examples: document (cut to fit) + <sep> + summary + </s>.

Targets count only the summary; the examples resume exactly, like the language-model windows.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import torch

from reformer_cli.core.head_loss import IGNORE_INDEX
from reformer_cli.data.windows import check_saved_position
from reformer_cli.errors import InputError


class SummarizationExamples:
    """document (cut to fit) + <sep> + summary + </s>, padded with </s> to seq_len.

    Targets are IGNORE_INDEX except where the next token is a summary token or the final </s>, so the
    loss counts only the summary. A summary that leaves less than a quarter of the window for
    the document is truncated (without </s>) and a warning says how many were.
    """

    def __init__(self, pairs: Sequence[tuple[str, str]], tokenizer, seq_len: int, seed: int = 0):
        if not pairs:
            raise InputError("no document/summary pairs to train on")
        if seq_len < 8:
            raise InputError(f"seq_len={seq_len} is too short for document + summary examples",
                             "use --seq-len 256 or more")
        self.seq_len, self.seed = int(seq_len), int(seed)
        self.sep_id, self.eos_id = tokenizer.sep_id, tokenizer.eos_id
        self.epoch = self.index = 0
        max_summary = self.seq_len - max(1, self.seq_len // 4) - 1  # tokens incl. </s>
        inputs, targets, truncated = [], [], 0
        for document, summary in pairs:
            summary_ids = list(tokenizer.encode(summary)) + [self.eos_id]
            if len(summary_ids) > max_summary:
                summary_ids, truncated = summary_ids[:max_summary], truncated + 1
            document_ids = list(tokenizer.encode(document))[: self.seq_len - len(summary_ids)]
            sequence = document_ids + [self.sep_id] + summary_ids  # at most seq_len + 1 tokens
            ids = np.full(self.seq_len, self.eos_id, dtype=np.int64)
            target = np.full(self.seq_len, IGNORE_INDEX, dtype=np.int64)
            ids[: len(sequence) - 1] = sequence[:-1]
            first = len(document_ids)  # position of <sep>: it predicts the first summary token
            target[first: len(sequence) - 1] = sequence[first + 1:]
            inputs.append(ids)
            targets.append(target)
        self.inputs, self.targets = np.stack(inputs), np.stack(targets)  # (N, seq_len) each
        self.truncated = truncated
        if truncated:
            warnings.warn(f"{truncated} of {len(pairs)} summaries were longer than "
                          f"{max_summary} tokens and were truncated to fit seq_len={self.seq_len}",
                          stacklevel=2)

    def __len__(self) -> int:
        return len(self.inputs)

    def _order(self) -> np.ndarray:
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.inputs))

    def next_batch(self, batch_size: int):
        """(ids, targets): LongTensors (B, seq_len)."""
        chosen = []
        while len(chosen) < batch_size:
            if self.index >= len(self.inputs):
                self.epoch, self.index = self.epoch + 1, 0
            take = self._order()[self.index:self.index + batch_size - len(chosen)]
            chosen.extend(take.tolist())
            self.index += len(take)
        return torch.from_numpy(self.inputs[chosen]), torch.from_numpy(self.targets[chosen])

    def evaluation_batches(self, batch_size: int, max_batches: int) -> list:
        """The first examples in file order (deterministic)."""
        count = min(len(self.inputs), batch_size * max_batches)
        return [(torch.from_numpy(self.inputs[i:i + batch_size]),
                 torch.from_numpy(self.targets[i:i + batch_size])) for i in range(0, count, batch_size)]

    def state_dict(self) -> dict:
        return {"kind": "summarization", "seed": self.seed, "epoch": self.epoch, "index": self.index,
                "seq_len": self.seq_len, "n_examples": len(self.inputs)}

    def load_state_dict(self, state: dict) -> None:
        check_saved_position(state, {"kind": "summarization", "seq_len": self.seq_len,
                                     "n_examples": len(self.inputs)})
        self.seed, self.epoch, self.index = int(state["seed"]), int(state["epoch"]), int(state["index"])
