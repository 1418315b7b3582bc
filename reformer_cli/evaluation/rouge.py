"""ROUGE-1/2/L F1 with the dev sets' rules, so every number compares with bench/summarization.py.

Tokens: English as Google's rouge-score tokenizes them (lower case, runs of [a-z0-9], Porter
stems of words over 3 letters); Chinese and Japanese one token per letter or digit, punctuation
and spaces dropped (rouge-score has no CJK tokenizer: its own would drop every Han character);
other languages their lower-cased runs of letters and digits in any script, unstemmed (rouge-score
would drop every letter outside a-z). The summary is first cut to the reference's length: its
whitespace words, or its letters and digits (Chinese, Japanese). ROUGE-L is the sentence-level
LCS of the whole token sequences (rouge-score's "rougeL"). Scores are F1 in [0, 1].

The Porter stemmer is NLTK's (the one rouge-score uses, so scores match it exactly); it is
imported only for English text.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from reformer_cli.errors import MissingDependency
from reformer_cli.text.language import CHARACTER_LANGUAGES

NON_ALPHANUMERIC = re.compile(r"[^a-z0-9]+")
ANY_ALPHANUMERIC_RUN = re.compile(r"[^\W_]+")
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
STEMMER_MISSING = ("ROUGE on English text stems words with NLTK's Porter stemmer (as rouge-score "
                   "does), and NLTK is not installed")
STEMMER_HINT = "pip install 'reformer-cli[eval]' (or pip install nltk)"


@dataclass(frozen=True)
class RougeScores:
    """F1 of ROUGE-1, ROUGE-2 and ROUGE-L, each in [0, 1]."""

    rouge1: float
    rouge2: float
    rougeL: float  # noqa: N815 (the metric's usual name)

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.rouge1, self.rouge2, self.rougeL)


@lru_cache(maxsize=1)
def _porter_stem():
    try:
        from nltk.stem import porter
    except ImportError:
        raise MissingDependency(STEMMER_MISSING, STEMMER_HINT) from None
    return lru_cache(maxsize=100_000)(porter.PorterStemmer().stem)


def tokens(text: str, language: str) -> list[str]:
    """ROUGE tokens of `text`: characters (Chinese, Japanese), stemmed English words (English),
    lower-cased words in any script ("other")."""
    if language in CHARACTER_LANGUAGES:
        return [char for char in text if char.isalnum()]
    if language == "other":
        return ANY_ALPHANUMERIC_RUN.findall(text.lower())
    words = NON_ALPHANUMERIC.sub(" ", text.lower()).split()
    if not words:
        return []
    stem = _porter_stem()
    stemmed = [stem(word) if len(word) > 3 else word for word in words]
    return [word for word in stemmed if word and NON_ALPHANUMERIC.search(word) is None]


def reference_length(reference: str, language: str) -> int:
    """The dev sets' summary length: the reference's whitespace words, or for Chinese and
    Japanese its letters and digits."""
    if language in CHARACTER_LANGUAGES:
        return sum(char.isalnum() for char in reference)
    return len(reference.split())


def cut_to_length(summary: str, length: int, language: str) -> str:
    """The first `length` whitespace words, or letters and digits (Chinese, Japanese), of
    `summary`."""
    if language not in CHARACTER_LANGUAGES:
        return " ".join(summary.split()[:length])
    kept, count = [], 0
    for char in summary:
        if char.isalnum():
            if count == length:
                break
            count += 1
        kept.append(char)
    return "".join(kept)


def f1(overlap: int, predicted: int, target: int) -> float:
    """rouge-score's F1: precision and recall each over at least 1, 0 when both are 0."""
    precision, recall = overlap / max(predicted, 1), overlap / max(target, 1)
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def ngram_f1(target: list[str], prediction: list[str], n: int) -> float:
    target_counts = Counter(zip(*(target[i:] for i in range(n))))
    prediction_counts = Counter(zip(*(prediction[i:] for i in range(n))))
    overlap = sum((target_counts & prediction_counts).values())
    return f1(overlap, sum(prediction_counts.values()), sum(target_counts.values()))


def lcs_length(first: list[str], second: list[str]) -> int:
    """Length of the longest common subsequence, bit-parallel (Hyyrö 2004): bit i of `row` is 1
    while position i of `first` is not yet the end of a longer common subsequence; each token of
    `second` updates all positions at once with one add. O(len(second) * len(first) / 64)."""
    positions: dict[str, int] = {}
    for index, token in enumerate(first):
        positions[token] = positions.get(token, 0) | (1 << index)
    mask = (1 << len(first)) - 1
    row = mask
    for token in second:
        matches = row & positions.get(token, 0)
        row = ((row + matches) | (row - matches)) & mask
    return len(first) - row.bit_count()


def lcs_f1(target: list[str], prediction: list[str]) -> float:
    if not target or not prediction:
        return 0.0
    common = lcs_length(target, prediction)
    return f1(common, len(prediction), len(target))


def rouge_tokens(target: list[str], prediction: list[str]) -> RougeScores:
    """ROUGE-1/2/L F1 of token lists."""
    return RougeScores(ngram_f1(target, prediction, 1), ngram_f1(target, prediction, 2),
                       lcs_f1(target, prediction))


def rouge(summary: str, reference: str, language: str) -> RougeScores:
    """ROUGE F1 of `summary` against `reference`, the summary first cut to the reference's
    length (the dev sets' rule)."""
    cut = cut_to_length(summary, reference_length(reference, language), language)
    return rouge_tokens(tokens(reference, language), tokens(cut, language))
