"""The generation loop of `reformer continue`: prompt ids in, token ids out. No printing.

The prompt is prefilled once (core/decoding.py); each sample then continues from a copy of that
state, one cached decode step per token, drawing tokens as sampling.py says. A sample stops
after max_new_tokens, at the end-of-text token, or when the sequence reaches the model's
max_seq_len (positions beyond it were never validated, so we stop rather than slide). The
caller reads only the prompt's last `prompt_limit` tokens: the context asked for (by default
the length the model was trained on), and never so many that the new tokens would not fit in
max_seq_len.

A model without its own hash_seed draws its LSH rotations at prefill from the global RNG, so
the caller seeds it with `continuation_seed`, which also seeds the sampling.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Iterator

import torch

from reformer_cli.config.checks import check_range
from reformer_cli.errors import InputError
from reformer_cli.generation.sampling import SamplingConfig, choose_token
from reformer_cli.generation.stop_reasons import STOP_CONTEXT, STOP_EOS, STOP_LENGTH

# Seed of a greedy continuation's LSH rotations when no --seed is given: the same prompt always
# gives the same text, as a summary does (summarize/abstractive.py, SUMMARY_HASH_SEED).
GREEDY_HASH_SEED = 0


@dataclass
class GenerationConfig:
    max_new_tokens: int = 256
    sampling: SamplingConfig = None  # type: ignore[assignment]
    stop_at_eos: bool = True

    def __post_init__(self):
        if self.sampling is None:
            self.sampling = SamplingConfig()

    def validate(self) -> "GenerationConfig":
        check_range("--max-new-tokens", self.max_new_tokens, low=1)
        self.sampling.validate()
        return self


def continuation_seed(sampling: SamplingConfig, seed: int | None) -> tuple[int, bool]:
    """(the seed of the LSH rotations and the sampling, whether it was drawn at random): the
    user's --seed; else for greedy decoding GREEDY_HASH_SEED, since the rotations are all that
    could change its text; else a random one, which the caller reports so that it can be
    repeated."""
    if seed is not None:
        return seed, False
    if sampling.greedy:
        return GREEDY_HASH_SEED, False
    return int.from_bytes(os.urandom(4), "little"), True


# Which bound set a PromptLimit: the context asked for, or model.max_seq_len less the new tokens.
BOUND_CONTEXT = "context"
BOUND_POSITIONS = "max_seq_len"


@dataclass(frozen=True)
class PromptLimit:
    tokens: int  # the most prompt tokens read (its last ones)
    bound: str  # BOUND_CONTEXT | BOUND_POSITIONS


def prompt_limit(context: int, max_seq_len: int, max_new_tokens: int) -> PromptLimit:
    """How many of the prompt's last tokens to read: `context`, unless the `max_new_tokens`
    after them would not fit in `max_seq_len` positions; then as many as leave them room."""
    room = max_seq_len - max_new_tokens  # positions left for the prompt
    if room < 1:
        raise InputError(f"--max-new-tokens={max_new_tokens} leaves no room for a prompt in "
                         f"the model's {max_seq_len:,} positions (model.max_seq_len)",
                         f"pass --max-new-tokens {max_seq_len - 1} or less")
    if context <= room:
        return PromptLimit(context, BOUND_CONTEXT)
    return PromptLimit(room, BOUND_POSITIONS)


class Generator:
    """Prefills a prompt once; `sample()` then yields one continuation's token ids at a time."""

    def __init__(self, model, prompt_ids: list[int], config: GenerationConfig,
                 eos_id: int | None = None):
        from reformer_cli.core.decoding import prefill

        self.config = config.validate()
        self.eos_id = eos_id if config.stop_at_eos else None
        max_seq_len = model.config.max_seq_len
        if len(prompt_ids) > max_seq_len:
            raise InputError(f"the prompt has {len(prompt_ids)} tokens, more than "
                             f"model.max_seq_len={max_seq_len}", "cut it first (prompt_limit)")
        device = next(model.parameters()).device
        self.device = device
        ids = torch.tensor([prompt_ids], dtype=torch.long, device=device)  # (1, L)
        capacity = min(max_seq_len, len(prompt_ids) + config.max_new_tokens)
        self.state, self.logits = prefill(model, ids, capacity)  # logits (1, vocab)
        self.stop_reason: str | None = None

    def sample(self, generator: torch.Generator | None = None,
               last: bool = False) -> Iterator[int]:
        """Token ids of one continuation; `stop_reason` tells why it ended. Each call starts
        again from the prompt: the prefilled state is copied, except for the `last` sample,
        which uses it up (no copy: at 64K tokens the caches are hundreds of MB)."""
        if self.state is None:
            raise RuntimeError("the prefilled state was used up by a sample(last=True)")
        state, logits = (self.state, self.logits) if last else (self.state.clone(), self.logits)
        if last:
            self.state = None
        self.stop_reason = None
        with decode_threads(self.device):
            yield from self._continue(state, logits, generator)

    def _continue(self, state, logits, generator) -> Iterator[int]:
        for produced in range(self.config.max_new_tokens):
            token = choose_token(logits, self.config.sampling, generator)  # (1,)
            token_id = int(token[0])
            if self.eos_id is not None and token_id == self.eos_id:
                self.stop_reason = STOP_EOS
                return
            yield token_id
            if produced + 1 == self.config.max_new_tokens:
                break
            if state.length >= state.capacity:
                self.stop_reason = STOP_CONTEXT
                return
            logits = state.step(token.to(self.device))
        self.stop_reason = STOP_LENGTH


@contextlib.contextmanager
def decode_threads(device: torch.device):
    """One intra-op thread on the CPU while decoding: a step is ~100 tiny ops, and waking a
    thread pool for each costs more than it saves (on a busy 2-core machine we measured
    1.4 ms per step with one thread against 113 ms with two). The prefill keeps all threads."""
    if device.type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
