"""Choosing sentences under a budget: greedy by score with MMR redundancy control, then back in
document order; with a word budget the last sentence chosen is cut to fit, never exceeded."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from reformer_cli.errors import InputError
from reformer_cli.text.sentences import count_words, truncate_words

DEFAULT_SENTENCES = 5


@dataclass(frozen=True)
class Budget:
    """At most one of the three is set; none means DEFAULT_SENTENCES sentences."""

    sentences: int | None = None
    ratio: float | None = None  # fraction of the document's sentences
    max_words: int | None = None  # hard cap; a CJK character counts as one word

    def validate(self) -> "Budget":
        given = [name for name, value in (("--sentences", self.sentences), ("--ratio", self.ratio),
                                          ("--max-words", self.max_words)) if value is not None]
        if len(given) > 1:
            raise InputError(f"conflicting budgets {' and '.join(given)}", "give only one of them")
        if self.sentences is not None and self.sentences <= 0:
            raise InputError(f"--sentences must be positive, got {self.sentences}",
                             "pass --sentences 1 or more")
        if self.max_words is not None and self.max_words <= 0:
            raise InputError(f"--max-words must be positive, got {self.max_words}",
                             "pass --max-words 1 or more")
        if self.ratio is not None and not 0 < self.ratio <= 1:
            raise InputError(f"--ratio must be in (0, 1], got {self.ratio}",
                             "pass a fraction such as --ratio 0.1")
        return self

    def sentence_limit(self, n_candidates: int) -> int | None:
        if self.max_words is not None:
            return None
        if self.ratio is not None:
            return max(1, math.ceil(self.ratio * n_candidates))
        return self.sentences if self.sentences is not None else DEFAULT_SENTENCES


@dataclass(frozen=True)
class Pick:
    candidate: int  # row in the candidate arrays
    text: str  # possibly cut to the budget
    truncated: bool
    rank: int  # 0 = chosen first


def _candidate_pool(scores: np.ndarray, word_counts: np.ndarray, limit: int | None,
                    max_words: int | None) -> np.ndarray:
    """Indexes of the best-scored candidates that selection could plausibly reach: MMR only
    lowers scores, so a few times the expected number of picks is plenty."""
    if limit is None:
        median_words = float(np.median(word_counts)) if len(word_counts) else 1.0
        limit = math.ceil((max_words or 1) / max(1.0, median_words))
    size = min(len(scores), 4 * limit + 100)
    return np.argsort(-scores, kind="stable")[:size]


def select(texts: list[str], scores: np.ndarray, vectors: np.ndarray, budget: Budget,
           redundancy: float, spread: float = 0.0, spread_scale: float = 0.01,
           word_counts: list[int] | None = None) -> list[Pick]:
    """Greedy MMR selection; returns the picks in document (candidate) order.

    The value of a candidate is its score times (1 - redundancy * its largest cosine to a
    chosen sentence) times (1 - spread * its closeness in the text to a chosen sentence)."""
    limit = budget.sentence_limit(len(texts))
    words_left = budget.max_words
    word_counts = np.array([count_words(text) for text in texts]) if word_counts is None \
        else np.asarray(word_counts)
    pool = _candidate_pool(scores, word_counts, limit, words_left)  # (n_pool,) candidate indexes
    pool_scores = scores[pool]
    pool_vectors = vectors[pool]  # (n_pool, n_terms)
    # One similarity matrix up front when it is small; otherwise one row per pick.
    similarity = pool_vectors @ pool_vectors.T if len(pool) <= 4000 else None  # (n_pool, n_pool)
    max_similarity = np.zeros(len(pool))  # (n_pool,) similarity to the closest chosen sentence
    available = np.ones(len(pool), dtype=bool)
    max_proximity = np.zeros(len(pool))  # (n_pool,) closeness in the text to a chosen one
    width = spread_scale * len(texts) + 1.0
    picks: list[Pick] = []
    while available.any() and (limit is None or len(picks) < limit):
        value = np.where(available, pool_scores * (1.0 - redundancy * max_similarity)
                         * (1.0 - spread * max_proximity), -np.inf)
        best = int(np.argmax(value))
        available[best] = False
        candidate = int(pool[best])
        text, truncated = texts[candidate], False
        if words_left is not None:
            n_words = int(word_counts[candidate])
            if n_words > words_left:
                text, truncated = truncate_words(text, words_left) + "…", True
            words_left -= min(n_words, words_left)
        picks.append(Pick(candidate=candidate, text=text, truncated=truncated, rank=len(picks)))
        if words_left is not None and words_left <= 0:
            break
        row = similarity[best] if similarity is not None else pool_vectors @ pool_vectors[best]
        max_similarity = np.maximum(max_similarity, row)
        max_proximity = np.maximum(max_proximity, np.exp(-np.abs(pool - candidate) / width))
    return sorted(picks, key=lambda pick: pick.candidate)
