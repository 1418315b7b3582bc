"""Searching a summary with the cached decoder: greedy or beam search, with repetition control.

Beam search keeps the beams as the rows of one batched decode state; after every step the
state is reordered to the surviving beams' parents by `index_select` on the batch dimension of
every per-beam cache tensor.

Repetition control looks at the generated tokens only (copying from the document is what a
summary is for): a repetition penalty (Keskar et al. 2019, CTRL: a positive logit of an already
generated token is divided by the penalty, a negative one multiplied) and no-repeat n-grams (a
token that would complete an n-gram already generated is forbidden).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from reformer_cli.config.checks import check_range
from reformer_cli.errors import ConfigError, InputError
from reformer_cli.generation.stop_reasons import STOP_BUDGET, STOP_CONTEXT, STOP_EOS, STOP_LENGTH

# Cache tensors that are shared by every row of the batch (not per beam): the LSH hash rotations
# and the local ring's position index.
SHARED_CACHE_TENSORS = frozenset({"rotations", "positions"})

@dataclass
class DecodingOptions:
    max_new_tokens: int | None = None  # None: an eighth of the context (at least 16)
    num_beams: int = 1  # 1 = greedy
    no_repeat_ngram_size: int | None = None  # None: 0 for byte models, 4 for subword models
    repetition_penalty: float = 1.0  # 1 = off
    length_penalty: float = 1.0  # beam scores are sum(log p) / length ** length_penalty
    n_hashes: int | None = None  # LSH hash rounds while decoding; None: as trained

    @classmethod
    def from_any(cls, value) -> "DecodingOptions":
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        return cls(**{key: item for key, item in dict(value).items() if item is not None})

    def validate(self) -> "DecodingOptions":
        for key, value, low in (("--max-new-tokens", self.max_new_tokens, 1),
                                ("--num-beams", self.num_beams, 1),
                                ("--no-repeat-ngram", self.no_repeat_ngram_size, 0),
                                ("--n-hashes", self.n_hashes, 1)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ConfigError(f"{key}={value!r} is not an integer")
            if value is not None:
                check_range(key, value, low=low)
        check_range("--repetition-penalty", self.repetition_penalty, low=1.0)
        check_range("--length-penalty", self.length_penalty, low=0.0)
        return self


@dataclass
class Generated:
    tokens: list[int]
    score: float  # sum of the token log-probabilities (after repetition control), </s> included
    stop_reason: str


# ------------------------------------------------------------------------------ decoder adapter

def reorder_state(state, index: torch.Tensor) -> None:
    """Make row i of every per-beam cache tensor a copy of row index[i] (the batch may grow,
    e.g. from the one prefilled row to num_beams rows)."""
    batch = None
    for cache in state.caches:
        for name, value in list(vars(cache).items()):
            if not isinstance(value, torch.Tensor) or name in SHARED_CACHE_TENSORS:
                continue
            if batch is None:
                batch = value.shape[0]
            if value.dim() == 0 or value.shape[0] != batch:
                raise ConfigError(f"cannot reorder the decode cache: {type(cache).__name__}."
                                  f"{name} has shape {tuple(value.shape)}, "
                                  f"not (batch={batch}, ...)")
            setattr(cache, name, value.index_select(0, index.to(value.device)))


class CachedDecoder:
    """prefill once, then `step(tokens, parents)`: reorder the rows to `parents`, append
    tokens (B,), return next-token logits (B, vocab)."""

    def __init__(self, model, prompt_ids: list[int], capacity: int):
        from reformer_cli.core.decoding import prefill

        self.device = next(model.parameters()).device
        ids = torch.tensor([prompt_ids], dtype=torch.long, device=self.device)  # (1, L)
        self.state, self.first_logits = prefill(model, ids, capacity)  # logits (1, vocab)
        self.rows = 1  # hypotheses held in the state's batch dimension

    @property
    def full(self) -> bool:
        return self.state.length >= self.state.capacity

    def step(self, tokens: torch.Tensor, parents: torch.Tensor | None) -> torch.Tensor:
        if parents is not None and not (len(parents) == self.rows and
                                        torch.equal(parents, torch.arange(self.rows))):
            reorder_state(self.state, parents)
            self.rows = len(parents)
        return self.state.step(tokens.to(self.device)).float().cpu()


# ------------------------------------------------------------------------ repetition control

def banned_tokens(history: list[int], n: int) -> list[int]:
    """Tokens that would complete an n-gram already present in `history`."""
    if n <= 0 or len(history) < n - 1:
        return []
    prefix = tuple(history[len(history) - (n - 1):])
    return [history[i + n - 1] for i in range(len(history) - n + 1)
            if tuple(history[i:i + n - 1]) == prefix]


def control_repetition(logits: torch.Tensor, histories: list[list[int]], penalty: float,
                       no_repeat_ngram: int) -> torch.Tensor:
    """logits (B, vocab) with row b adjusted for what beam b has generated so far."""
    logits = logits.clone()
    for row, history in enumerate(histories):
        if penalty != 1.0 and history:
            seen = torch.tensor(sorted(set(history)), dtype=torch.long)
            values = logits[row, seen]
            logits[row, seen] = torch.where(values > 0, values / penalty, values * penalty)
        banned = banned_tokens(history, no_repeat_ngram)
        if banned:
            logits[row, torch.tensor(banned, dtype=torch.long)] = -math.inf
    return logits


# ---------------------------------------------------------------------------------- searches

def greedy_search(decoder, eos_id: int, max_new_tokens: int, options: DecodingOptions,
                  no_repeat: int, stop_early=None) -> Generated:
    """Most likely token at every step; `stop_early(tokens)` may end it (e.g. word budget)."""
    tokens, score = [], 0.0
    logits = decoder.first_logits.float().cpu()
    for _ in range(max_new_tokens):
        logits = control_repetition(logits, [tokens], options.repetition_penalty, no_repeat)
        log_probs = torch.log_softmax(logits[0], dim=-1)
        token = int(log_probs.argmax())
        score += float(log_probs[token])
        if token == eos_id:
            return Generated(tokens, score, STOP_EOS)
        tokens.append(token)
        if stop_early is not None and stop_early(tokens):
            return Generated(tokens, score, STOP_BUDGET)
        if decoder.full:
            return Generated(tokens, score, STOP_CONTEXT)
        logits = decoder.step(torch.tensor([token]), None)
    return Generated(tokens, score, STOP_LENGTH)


def beam_search(decoder, eos_id: int, max_new_tokens: int, options: DecodingOptions,
                no_repeat: int) -> Generated:
    """Standard beam search: keep the num_beams best running hypotheses by total log-prob;
    a hypothesis that emits </s> is finished with score sum(log p) / length ** length_penalty.
    Stops when num_beams are finished and no running beam scores better than the worst of
    them, or at max_new_tokens / a full context (then the running beams count as finished)."""
    beams = options.num_beams
    histories: list[list[int]] = [[]]
    scores = torch.zeros(1)  # (B,) total log-prob of each running beam
    finished: list[tuple[float, float, list[int], str]] = []  # (normalised, raw, tokens, why)

    def normalise(raw: float, length: int) -> float:
        return raw / max(1, length) ** options.length_penalty

    logits = decoder.first_logits.float().cpu()
    for step in range(max_new_tokens):
        logits = control_repetition(logits, histories, options.repetition_penalty, no_repeat)
        log_probs = torch.log_softmax(logits, dim=-1)  # (B, vocab)
        vocab = log_probs.shape[-1]
        total = (scores[:, None] + log_probs).view(-1)  # (B * vocab,)
        top_scores, top_index = total.topk(min(2 * beams, total.numel()))
        parents, next_tokens, next_histories, next_scores = [], [], [], []
        for raw, flat in zip(top_scores.tolist(), top_index.tolist()):
            if raw == -math.inf or len(next_histories) == beams:
                break
            parent, token = divmod(flat, vocab)
            history = histories[parent]
            if token == eos_id:
                finished.append((normalise(raw, len(history) + 1), raw, history, STOP_EOS))
                continue
            parents.append(parent)
            next_tokens.append(token)
            next_histories.append(history + [token])
            next_scores.append(raw)
        finished = sorted(finished, key=lambda item: -item[0])[:beams]
        if not next_histories:
            break
        histories, scores = next_histories, torch.tensor(next_scores)
        best_running = normalise(max(next_scores), len(histories[0]))
        if len(finished) == beams and best_running <= finished[-1][0]:
            break
        last = step + 1 == max_new_tokens or decoder.full
        if last:
            why = STOP_LENGTH if step + 1 == max_new_tokens else STOP_CONTEXT
            finished.extend((normalise(raw, len(history)), raw, history, why)
                            for raw, history in zip(next_scores, histories))
            break
        logits = decoder.step(torch.tensor(next_tokens), torch.tensor(parents))
    if not finished:
        raise InputError("beam search found no hypothesis", "try --num-beams 1")
    _, raw, tokens, why = max(finished, key=lambda item: item[0])
    return Generated(list(tokens), raw, why)
