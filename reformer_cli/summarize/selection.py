"""Choosing sentences under a budget: greedy by score with MMR redundancy control, then back in
document order. The budget's bookkeeping (BudgetFill) is shared with salience.py's selection.

A word budget is never exceeded and is filled with whole sentences. At most one sentence is cut:
the best one that does not fit, and only when its opening that fits keeps MIN_CUT_WORDS words or
more outside brackets, ends on a content word and leaves no bracket open (`cut_sentence`);
otherwise it is skipped for the next best one that fits whole. Only a budget smaller than that
gets the best sentence's first words.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from reformer_cli.config.checks import check_positive, check_range
from reformer_cli.errors import ConfigError, InputError
from reformer_cli.summarize.terms import STOPWORDS
from reformer_cli.text.words import CJK_RE, count_words, truncate_words

DEFAULT_SENTENCES = 5
# A cut sentence keeps at least this many words (CJK characters): fewer read as a fragment
# ("SAs…", "馬騰…"). A strict clause-boundary rule (cut only at , ; :) was measured on the dev
# sets too; it left more of the budget empty and lost about 0.5 ROUGE-1.
MIN_CUT_WORDS = 5
CUT_MARK = "…"  # ends a cut sentence; not a word
# What a cut opening may not end with: clause punctuation, dashes, opening quotes and brackets.
CJK_CLAUSE_MARK = re.compile("[，；、]")  # not "：", which announces what the cut drops
DANGLING = " \t,;:，、：；-–—([{\"'“‘「『（《"
OPEN_BRACKETS, CLOSE_BRACKETS = "([{（《", ")]}）》"
ASIDE = re.compile(r"\([^()]*\)|\[[^\[\]]*\]|（[^（）]*）")


@dataclass(frozen=True)
class Budget:
    """At most one of the three is set; none means DEFAULT_SENTENCES sentences."""

    sentences: int | None = None
    ratio: float | None = None  # share of the candidate sentences, rounded up
    max_words: int | None = None  # hard cap; a CJK character counts as one word

    def validate(self) -> "Budget":
        given = [name for name, value in (("--sentences", self.sentences), ("--ratio", self.ratio),
                                          ("--max-words", self.max_words)) if value is not None]
        if len(given) > 1:
            raise InputError(f"conflicting budgets {' and '.join(given)}", "give only one of them")
        try:  # the words of every flag's range (`--sentences=0 is out of range; ...`)
            for flag, value in (("--sentences", self.sentences), ("--max-words", self.max_words)):
                if value is not None:
                    check_range(flag, value, low=1)
            if self.ratio is not None:
                check_positive("--ratio", self.ratio, "> 0 and <= 1")
                check_range("--ratio", self.ratio, high=1)
        except ConfigError as error:  # still an InputError, as the conflict of two budgets is
            raise InputError(error.message, error.hint) from None
        return self

    def sentence_limit(self, n_candidates: int) -> int | None:
        if self.max_words is not None:
            return None
        if self.ratio is not None:
            return max(1, math.ceil(self.ratio * n_candidates))
        return self.sentences if self.sentences is not None else DEFAULT_SENTENCES


def cut_sentence(text: str, max_words: int, min_words: int = MIN_CUT_WORDS) -> str | None:
    """The longest opening of `text` within `max_words` that ends on a content word (no dangling
    "the", "of", comma or open quote; in Chinese, at the last clause mark), with CUT_MARK; None
    when it would keep fewer than `min_words` words, or Chinese text has no clause mark to end on."""
    opening = truncate_words(text, max_words)
    clause_ends = [mark.start() for mark in CJK_CLAUSE_MARK.finditer(opening)]
    if clause_ends and count_words(opening[:clause_ends[-1]]) >= min_words:
        opening = opening[:clause_ends[-1]]
    elif CJK_RE.match(opening[-1:]):
        return None  # Chinese has no word boundary to fall back on: "馬騰…" is no clause
    words = opening.rstrip(DANGLING).split(" ")
    while (words and not CJK_RE.search(words[-1]) and _bare(words[-1]) in STOPWORDS
           and not words[-1].endswith(tuple(CLOSE_BRACKETS))):  # "(… of it)" is whole
        words.pop()  # a trailing function word, after which the clause would go on
    kept = _before_open_bracket(" ".join(words)).rstrip(DANGLING)
    # The words of an aside do not count: "When (to take the present book only)…" says nothing.
    return kept + CUT_MARK if count_words(ASIDE.sub("", kept)) >= min_words else None


def _before_open_bracket(opening: str) -> str:
    """The opening up to a bracket it leaves open: "When (to take the present book" would end
    inside the aside, so it ends before it."""
    depth, cut = 0, None
    for position, char in enumerate(opening):
        if char in OPEN_BRACKETS:
            if depth == 0:
                cut = position
            depth += 1
        elif char in CLOSE_BRACKETS and depth:
            depth -= 1
    return opening[:cut] if depth and cut is not None else opening


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


def _same_text_key(text: str) -> str:
    """Sentences equal up to case, spacing and their final stop read the same in a summary."""
    return " ".join(text.casefold().split()).rstrip(".!?;:。！？；：… ")


class BudgetFill:
    """What the budget has room for, as greedy selectors pick: whole sentences, at most one cut
    (the first pick that does not fit whole and cuts into a clause), never over --max-words."""

    def __init__(self, budget: Budget, n_candidates: int):
        self.budget = budget
        self.limit = budget.sentence_limit(n_candidates)
        self.words_left = budget.max_words
        self.cut_made = False
        self.picks: list[Pick] = []
        self.taken_texts: set[str] = set()  # as `_same_text_key` gives them

    @property
    def full(self) -> bool:
        return ((self.limit is not None and len(self.picks) >= self.limit)
                or (self.words_left is not None and self.words_left <= 0))

    def take(self, candidate: int, text: str, n_words: int) -> bool:
        """Add the candidate, cut if it must be; False (and nothing added) when it cannot fit
        or says what a pick already says word for word (a document's repeated boilerplate)."""
        key = _same_text_key(text)
        if key in self.taken_texts:
            return False
        truncated = False
        if self.words_left is not None:
            if n_words > self.words_left:
                text = None if self.cut_made else cut_sentence(text, self.words_left)
                if text is None:
                    return False
                n_words, truncated, self.cut_made = count_words(text), True, True
            self.words_left -= n_words
        self.picks.append(Pick(candidate=candidate, text=text, truncated=truncated,
                               rank=len(self.picks)))
        self.taken_texts.add(key)
        return True

    def in_document_order(self, texts: list[str], best: int | None) -> list[Pick]:
        """The picks sorted by place; when the word budget fits no sentence at all, the first
        words of `best` (the top-scored candidate)."""
        if not self.picks and self.budget.max_words is not None and best is not None:
            self.picks.append(Pick(candidate=best, text=first_words(texts[best], self.budget.max_words),
                                   truncated=True, rank=0))
        return sorted(self.picks, key=lambda pick: pick.candidate)


def select(texts: list[str], scores: np.ndarray, vectors: np.ndarray, budget: Budget,
           redundancy: float, spread: float = 0.0, spread_scale: float = 0.01,
           word_counts: list[int] | None = None) -> list[Pick]:
    """Greedy MMR selection; returns the picks in document (candidate) order.

    The value of a candidate is its score times (1 - redundancy * its largest cosine to a
    chosen sentence) times (1 - spread * its closeness in the text to a chosen sentence)."""
    fill = BudgetFill(budget, len(texts))
    word_counts = np.array([count_words(text) for text in texts]) if word_counts is None \
        else np.asarray(word_counts)
    pool = _candidate_pool(scores, word_counts, fill.limit, fill.words_left)  # (n_pool,) indexes
    pool_scores = scores[pool]
    pool_vectors = vectors[pool]  # (n_pool, n_terms)
    # One similarity matrix up front when it is small; otherwise one row per pick.
    similarity = pool_vectors @ pool_vectors.T if len(pool) <= 4000 else None  # (n_pool, n_pool)
    max_similarity = np.zeros(len(pool))  # (n_pool,) similarity to the closest chosen sentence
    available = np.ones(len(pool), dtype=bool)
    max_proximity = np.zeros(len(pool))  # (n_pool,) closeness in the text to a chosen one
    width = spread_scale * len(texts) + 1.0
    pool_word_counts = word_counts[pool]  # (n_pool,)
    while available.any() and not fill.full:
        value = np.where(available, pool_scores * (1.0 - redundancy * max_similarity)
                         * (1.0 - spread * max_proximity), -np.inf)
        best = int(np.argmax(value))
        available[best] = False
        candidate = int(pool[best])
        if not fill.take(candidate, texts[candidate], int(pool_word_counts[best])):
            continue  # skipped: the next best may fit whole
        row = similarity[best] if similarity is not None else pool_vectors @ pool_vectors[best]
        max_similarity = np.maximum(max_similarity, row)
        max_proximity = np.maximum(max_proximity, np.exp(-np.abs(pool - candidate) / width))
    return fill.in_document_order(texts, int(pool[0]) if len(pool) else None)
