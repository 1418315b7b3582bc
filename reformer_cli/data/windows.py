"""Language-model training windows over the token ids of the corpus.

`WindowSampler` cuts windows of seq_len + 1 tokens (inputs and next-token targets) at a fresh
random phase each epoch, in a shuffled order; it resumes exactly: its whole position is
(seed, epoch, index), saved by `state_dict()`. `evaluation_batches` gives fixed validation
windows.
"""

from __future__ import annotations

import numpy as np
import torch

from reformer_cli.config.model import ModelConfig
from reformer_cli.config.run import MIN_SEQ_LEN
from reformer_cli.errors import InputError
from reformer_cli.shards.tokens import as_token_sequence


class WindowSampler:
    """Random windows of seq_len + 1 tokens; each epoch a new phase and a new order.

    Epoch e (deterministic from (seed, e)) starts the windows at phase + k * seq_len for a
    random phase in [0, seq_len) and visits them in a random order; batches run on across
    epoch ends. The state is (epoch, index), so resuming replays exactly the same batches.
    """

    def __init__(self, tokens, seq_len: int, seed: int = 0):
        self.tokens = as_token_sequence(tokens)  # an array, or shards read through memmap
        self.seq_len = int(seq_len)
        self.seed = int(seed)
        if len(self.tokens) < self.seq_len + 1:
            raise InputError(
                f"the training text has {len(self.tokens)} tokens, fewer than one window of "
                f"seq_len={self.seq_len} (+1 for the targets)", _shorter_window_hint(len(self.tokens)))
        self.epoch = 0
        self.index = 0  # windows of this epoch already handed out
        self._order_epoch = -1

    def _epoch_starts(self) -> np.ndarray:
        """Start offsets of this epoch's windows, in visiting order (cached per epoch)."""
        if self._order_epoch != self.epoch:
            rng = np.random.default_rng([self.seed, self.epoch])
            spare = len(self.tokens) - 1 - self.seq_len  # room left after one window
            phase = int(rng.integers(0, min(self.seq_len - 1, spare) + 1))
            count = (len(self.tokens) - 1 - phase) // self.seq_len
            self._starts = phase + self.seq_len * rng.permutation(count)
            self._order_epoch = self.epoch
        return self._starts

    @property
    def windows_per_epoch(self) -> int:
        return len(self._epoch_starts())

    def next_starts(self, batch_size: int) -> np.ndarray:
        starts = []
        while len(starts) < batch_size:
            epoch_starts = self._epoch_starts()
            if self.index >= len(epoch_starts):
                self.epoch, self.index = self.epoch + 1, 0
                continue
            take = epoch_starts[self.index:self.index + batch_size - len(starts)]
            starts.extend(take.tolist())
            self.index += len(take)
        return np.asarray(starts, dtype=np.int64)

    def next_batch(self, batch_size: int):
        """(ids, targets): LongTensors (B, seq_len); targets are ids shifted by one."""
        return _windows(self.tokens, self.next_starts(batch_size), self.seq_len)

    def state_dict(self) -> dict:
        return {"kind": "windows", "seed": self.seed, "epoch": self.epoch, "index": self.index,
                "seq_len": self.seq_len, "n_tokens": int(len(self.tokens))}

    def load_state_dict(self, state: dict) -> None:
        check_saved_position(state, {"kind": "windows", "seq_len": self.seq_len,
                                     "n_tokens": len(self.tokens)})
        self.seed, self.epoch, self.index = int(state["seed"]), int(state["epoch"]), int(state["index"])
        self._order_epoch = -1


def _windows(tokens, starts: np.ndarray, seq_len: int):
    block = torch.from_numpy(tokens.take(starts, seq_len + 1))  # (B, seq_len + 1)
    return block[:, :-1].contiguous(), block[:, 1:].contiguous()  # (B, seq_len) each


def evaluation_batches(tokens, seq_len: int, batch_size: int, max_batches: int) -> list:
    """Deterministic validation batches: non-overlapping windows spread evenly over the tokens.

    A validation text shorter than one window gives one shorter window (the model takes any
    length); fewer than 2 tokens give no batches.
    """
    tokens = as_token_sequence(tokens)
    if len(tokens) < 2:
        return []
    seq_len = min(seq_len, len(tokens) - 1)
    available = (len(tokens) - 1) // seq_len
    wanted = min(available, batch_size * max_batches)
    chosen = np.unique(np.linspace(0, available - 1, wanted).round().astype(np.int64))
    starts = chosen * seq_len
    return [_windows(tokens, starts[i:i + batch_size], seq_len) for i in range(0, len(starts), batch_size)]


def _shorter_window_hint(token_count: int) -> str:
    """A fix that passes the config checks too: a window no shorter than MIN_SEQ_LEN, and a
    chunk_length no longer than the window (the sampler does not know the model's, so it is set)."""
    longest = token_count - 1  # a window also needs the token after it
    if longest < MIN_SEQ_LEN:
        return f"give more text (at least {MIN_SEQ_LEN + 1} tokens)"
    example = _largest_power_of_two(longest)
    chunk_length = min(example, ModelConfig.chunk_length)
    return (f"use a shorter --seq-len, at most {longest}, with a model.chunk_length no longer than "
            f"it (e.g. --seq-len {example} --set model.chunk_length={chunk_length}), or more text")


def _largest_power_of_two(n: int) -> int:
    return 1 << (max(n, 1).bit_length() - 1)


def check_saved_position(state: dict, expected: dict) -> None:
    for key, value in expected.items():
        if state.get(key) != value:
            raise InputError(f"the saved data position does not match this data: {key} was "
                             f"{state.get(key)!r}, now {value!r}",
                             "resume with the same input files, tokenizer and --seq-len")
