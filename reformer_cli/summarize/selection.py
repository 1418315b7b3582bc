"""Choosing sentences under a budget: greedy by score with MMR redundancy control, then back in
document order.

A word budget is never exceeded and is filled with whole sentences. At most one sentence is cut:
the best one that does not fit, and only when its opening that fits keeps MIN_CUT_WORDS words or
more and ends on a content word (`cut_sentence`); otherwise it is skipped for the next best one
that fits whole. Only a budget smaller than that gets the best sentence's first words.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from reformer_cli.errors import InputError
from reformer_cli.summarize.terms import STOPWORDS
from reformer_cli.text.sentences import CJK_RE, count_words, truncate_words

DEFAULT_SENTENCES = 5
# A cut sentence keeps at least this many words (CJK characters): fewer read as a fragment
# ("SAs…", "馬騰…"). A strict clause-boundary rule (cut only at , ; :) was measured on the dev
# sets too; it left more of the budget empty and lost about 0.5 ROUGE-1.
MIN_CUT_WORDS = 5
CUT_MARK = "…"  # ends a cut sentence; not a word
# What a cut opening may not end with: clause punctuation, dashes, opening quotes and brackets.
CJK_CLAUSE_MARK = re.compile("[，；：、]")
DANGLING = " \t,;:，、：；-–—([{\"'“‘「『（《"


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


def cut_sentence(text: str, max_words: int, min_words: int = MIN_CUT_WORDS) -> str | None:
    """The longest opening of `text` within `max_words` that ends on a content word (no dangling
    "the", "of", comma or open quote; in Chinese, at the last clause mark if there is one), with
    CUT_MARK; None when it would keep fewer than `min_words` words."""
    opening = truncate_words(text, max_words)
    clause_ends = [mark.start() for mark in CJK_CLAUSE_MARK.finditer(opening)]
    if clause_ends and count_words(opening[:clause_ends[-1]]) >= min_words:
        opening = opening[:clause_ends[-1]]
    words = opening.rstrip(DANGLING).split(" ")
    while words and not CJK_RE.search(words[-1]) and _bare(words[-1]) in STOPWORDS:
        words.pop()  # a trailing function word, after which the clause would go on
    kept = " ".join(words).rstrip(DANGLING)
    return kept + CUT_MARK if count_words(kept) >= min_words else None


def _bare(word: str) -> str:
    return word.strip(DANGLING + ".)]}\"'”’").lower()


def first_words(text: str, max_words: int) -> str:
    """The last resort for a budget smaller than MIN_CUT_WORDS: the first words, marked cut."""
    return truncate_words(text, max_words) + CUT_MARK


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
    pool_word_counts = word_counts[pool]  # (n_pool,)
    cut_made = False
    picks: list[Pick] = []
    while available.any() and (limit is None or len(picks) < limit):
        value = np.where(available, pool_scores * (1.0 - redundancy * max_similarity)
                         * (1.0 - spread * max_proximity), -np.inf)
        best = int(np.argmax(value))
        available[best] = False
        candidate = int(pool[best])
        text, truncated = texts[candidate], False
        if words_left is not None:
            n_words = int(pool_word_counts[best])
            if n_words > words_left:
                text = None if cut_made else cut_sentence(text, words_left)
                if text is None:
                    continue  # skipped: the next best may fit whole
                n_words, truncated, cut_made = count_words(text), True, True
            words_left -= n_words
        picks.append(Pick(candidate=candidate, text=text, truncated=truncated, rank=len(picks)))
        if words_left is not None and words_left <= 0:
            break
        row = similarity[best] if similarity is not None else pool_vectors @ pool_vectors[best]
        max_similarity = np.maximum(max_similarity, row)
        max_proximity = np.maximum(max_proximity, np.exp(-np.abs(pool - candidate) / width))
    if not picks and budget.max_words is not None and len(pool):  # the budget fits no sentence
        candidate = int(pool[0])
        picks.append(Pick(candidate=candidate, text=first_words(texts[candidate], budget.max_words),
                          truncated=True, rank=0))
    return sorted(picks, key=lambda pick: pick.candidate)
