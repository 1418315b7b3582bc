"""Sampling one token from next-token logits.

In this order (each step sees the previous one's result):
  1. temperature: logits / T. T = 0 means greedy (argmax of the raw logits; top-k and top-p are
     then irrelevant: the argmax survives both filters).
  2. top-k: keep the k largest logits (k = 0: off).
  3. top-p (nucleus): of what is left, keep the smallest set of most likely tokens whose
     probabilities (renormalised after top-k) sum to >= p; the most likely token always stays
     (p = 1: off).
  4. draw one token from the softmax of what remains, with the caller's torch.Generator.
Sampling runs on the CPU in fp32, so a seed gives the same text on every device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from reformer_cli.config.checks import check_range
from reformer_cli.errors import ConfigError


@dataclass
class SamplingConfig:
    temperature: float = 1.0  # 0 = greedy
    top_k: int = 0  # keep the k most likely tokens; 0 = off
    top_p: float = 1.0  # nucleus: smallest set with probability >= p; 1 = off

    @property
    def greedy(self) -> bool:
        """Temperature 0: the argmax, no random draw."""
        return self.temperature == 0

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
    if sampling.greedy:
        return logits.argmax(dim=-1)
    probs = sampling_probabilities(logits, sampling)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


def sampling_probabilities(logits: torch.Tensor, sampling: SamplingConfig) -> torch.Tensor:
    """The distribution (..., vocab) a token is drawn from (temperature > 0)."""
    filtered = filter_logits(logits / sampling.temperature, sampling.top_k, sampling.top_p)
    return torch.softmax(filtered, dim=-1)
