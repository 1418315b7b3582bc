"""Sampling and the generation loop: prompt ids in, token ids and text pieces out. No printing.

Sampling, in this order (each step sees the previous one's result):
  1. temperature: logits / T. T = 0 means greedy (argmax of the raw logits; top-k and top-p are
     then irrelevant: the argmax survives both filters).
  2. top-k: keep the k largest logits (k = 0: off).
  3. top-p (nucleus): of what is left, keep the smallest set of most likely tokens whose
     probabilities (renormalised after top-k) sum to >= p; the most likely token always stays
     (p = 1: off).
  4. draw one token from the softmax of what remains, with the caller's torch.Generator.
Sampling runs on the CPU in fp32, so a seed gives the same text on every device.

Generation: the prompt is prefilled once (core/decoding.py); each sample then continues from a
copy of that state, one cached decode step per token. A sample stops after max_new_tokens,
at the end-of-text token, or when the sequence reaches the model's max_seq_len (positions
beyond it were never validated, so we stop rather than slide). A prompt that would leave no
room is cut to its last part by `fit_prompt` (the caller reports it).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import torch

from reformer_cli.config import check_range
from reformer_cli.errors import ConfigError, InputError

STOP_LENGTH = "max_new_tokens"
STOP_EOS = "end_of_text"
STOP_CONTEXT = "context_full"
# A UTF-8 character is at most 4 bytes (4 byte ids, or 4 byte-fallback pieces): text still ending
# in U+FFFD after that many held ids is really invalid and is shown as it is.
MAX_HELD_IDS = 4


@dataclass
class SamplingConfig:
    temperature: float = 1.0  # 0 = greedy
    top_k: int = 0  # keep the k most likely tokens; 0 = off
    top_p: float = 1.0  # nucleus: smallest set with probability >= p; 1 = off

    def validate(self) -> "SamplingConfig":
        check_range("--temperature", self.temperature, low=0)
        if math.isinf(self.temperature):
            raise ConfigError("--temperature=inf is not allowed", "use a finite value, e.g. 1.0")
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int):
            raise ConfigError(f"--top-k={self.top_k!r} is not an integer")
        check_range("--top-k", self.top_k, low=0)
        check_range("--top-p", self.top_p, high=1)
        if self.top_p <= 0:
            raise ConfigError(f"--top-p={self.top_p} is out of range", "it must be in (0, 1]")
        return self


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


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """logits (..., vocab) with the tokens that top-k, then top-p, remove set to -inf."""
    logits = logits.clone()
    vocab = logits.shape[-1]
    if 0 < top_k < vocab:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]  # (..., 1)
        logits[logits < kth] = -math.inf
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        before = torch.cumsum(probs, dim=-1) - probs  # mass of the strictly more likely tokens
        drop_sorted = before >= top_p  # the first token has before = 0 < p: always kept
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits[drop] = -math.inf
    return logits


def choose_token(logits: torch.Tensor, sampling: SamplingConfig,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """logits (B, vocab) -> token ids (B,), following the order in the module doc."""
    logits = logits.detach().float().cpu()
    if sampling.temperature == 0:
        return logits.argmax(dim=-1)
    probs = sampling_probabilities(logits, sampling)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


def sampling_probabilities(logits: torch.Tensor, sampling: SamplingConfig) -> torch.Tensor:
    """The distribution (..., vocab) a token is drawn from (temperature > 0)."""
    filtered = filter_logits(logits / sampling.temperature, sampling.top_k, sampling.top_p)
    return torch.softmax(filtered, dim=-1)


def fit_prompt(prompt_ids: list[int], max_seq_len: int, max_new_tokens: int) -> list[int]:
    """The part of the prompt that is kept: all of it when prompt + new tokens fit in
    max_seq_len, else its last max(max_seq_len - max_new_tokens, max_seq_len // 2) tokens (so a
    huge --max-new-tokens never throws away more than half of the context)."""
    if not prompt_ids:
        raise InputError("the prompt is empty", "give a file with some text")
    if len(prompt_ids) + max_new_tokens <= max_seq_len:
        return list(prompt_ids)
    keep = min(len(prompt_ids), max(max_seq_len - max_new_tokens, max_seq_len // 2, 1))
    return list(prompt_ids[-keep:])


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
                             f"model.max_seq_len={max_seq_len}", "cut it first with fit_prompt")
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


class TextStream:
    """Turns generated ids into the new text of each step, with spaces and multi-byte
    characters right.

    Decoding ids one by one is wrong for SentencePiece (a piece's leading space may depend on
    what precedes it) and for byte-level ids (a character can span several ids). So we decode a
    short window: `prefix` = the ids already shown (starting with a few prompt ids, so the first
    generated piece gets its space), and emit decode(prefix + new) minus decode(prefix). Text that
    ends in U+FFFD (an incomplete UTF-8 sequence, byte fallback or byte tokenizer) is held back
    until the next id completes it, for at most MAX_HELD_IDS ids, or until `flush()`.
    """

    def __init__(self, decode: Callable[[list[int]], str], context_ids: Iterable[int] = (),
                 context_tokens: int = 8):
        self.decode = decode
        self.ids = list(context_ids)[-context_tokens:] if context_tokens else []
        self.prefix_offset = 0
        self.read_offset = len(self.ids)

    def push(self, token_id: int) -> str:
        """Add one generated id; return the text that is now certain (possibly '')."""
        self.ids.append(int(token_id))
        return self._emit(final=False)

    def flush(self) -> str:
        """Whatever is still held back (call once at the end)."""
        return self._emit(final=True)

    def _emit(self, final: bool) -> str:
        shown = self.decode(self.ids[self.prefix_offset:self.read_offset])
        text = self.decode(self.ids[self.prefix_offset:])
        held = len(self.ids) - self.read_offset
        incomplete = text.endswith("\ufffd") and held < MAX_HELD_IDS
        if len(text) <= len(shown) or (incomplete and not final):
            return ""
        self.prefix_offset, self.read_offset = self.read_offset, len(self.ids)
        return text[len(shown):]


def stream_text(ids: Iterable[int], decode: Callable[[list[int]], str],
                context_ids: Iterable[int] = ()) -> Iterator[str]:
    """Text pieces of a stream of generated ids (empty pieces are skipped)."""
    stream = TextStream(decode, context_ids)
    for token_id in ids:
        piece = stream.push(token_id)
        if piece:
            yield piece
    rest = stream.flush()
    if rest:
        yield rest
