"""Fixed training examples (one row of ids and one of targets each), served in a seeded order
that resumes exactly, like the language-model windows. The summarization and extraction tasks
build the rows; this class batches them."""

from __future__ import annotations

import numpy as np
import torch

from reformer_cli.data.windows import check_saved_position


class FixedExamples:
    kind = "examples"  # recorded in the data position; a resume must find the same kind
    stat_names: tuple[str, ...] = ()  # counts a task's builder reports, kept with prepared pairs

    def __init__(self, inputs: np.ndarray, targets: np.ndarray, seq_len: int, seed: int = 0):
        self.inputs, self.targets = inputs, targets  # (N, seq_len) integers each, int64 in batches
        self.seq_len, self.seed = int(seq_len), int(seed)
        self.epoch = self.index = 0

    @classmethod
    def from_arrays(cls, inputs: np.ndarray, targets: np.ndarray, seq_len: int, seed: int,
                    stats: dict[str, int]):
        """Examples prepared earlier (data/pair_cache.py), with the counts built with them."""
        examples = cls.__new__(cls)
        FixedExamples.__init__(examples, inputs, targets, seq_len, seed)
        for name in cls.stat_names:
            setattr(examples, name, int(stats[name]))
        return examples

    def stats(self) -> dict[str, int]:
        return {name: int(getattr(self, name)) for name in self.stat_names}

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
        return self._tensors(chosen)

    def evaluation_batches(self, batch_size: int, max_batches: int) -> list:
        """The first examples in file order (deterministic)."""
        count = min(len(self.inputs), batch_size * max_batches)
        return [self._tensors(slice(i, min(i + batch_size, count)))
                for i in range(0, count, batch_size)]

    def _tensors(self, rows) -> tuple[torch.Tensor, torch.Tensor]:
        return (torch.from_numpy(self.inputs[rows].astype(np.int64)),
                torch.from_numpy(self.targets[rows].astype(np.int64)))

    def state_dict(self) -> dict:
        return {"kind": self.kind, "seed": self.seed, "epoch": self.epoch, "index": self.index,
                "seq_len": self.seq_len, "n_examples": len(self.inputs)}

    def load_state_dict(self, state: dict) -> None:
        check_saved_position(state, {"kind": self.kind, "seq_len": self.seq_len,
                                     "n_examples": len(self.inputs)})
        self.seed, self.epoch, self.index = int(state["seed"]), int(state["epoch"]), int(state["index"])
