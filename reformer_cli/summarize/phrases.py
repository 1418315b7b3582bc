"""Phrase prior: how much likelier a word pair (two stemmed words in a row) is in abstracts than
in the documents they summarise, fitted on (document, abstract) pairs. Abstracts reuse set
phrases ("this memo defines", "obsoletes RFC", "is a protocol for") and avoid others ("as shown
in", "the following figure"), whatever the document is about.

For each pair p: log(P_abstract(p) / P_document(p)), each P the pair's share of all pairs in that
kind of text, with P_abstract smoothed toward P_document by PRIOR_PAIRS pseudo-pairs (Dirichlet),
so a pair seen a few times says little and "of the", as common in both, says nothing. A pair
seen fewer than MIN_COUNT times in the documents is not kept, and an unknown pair counts 0. A
sentence's prior is the mean over its pairs; it scales the sentence's score by
exp(ScoringConfig.phrase_weight * prior). The fitted table ships as shipped_models/phrases-en.tsv.xz
(written by shipped_models/fit_phrases.py from the RFC train split): plain text, read without
running anything.
"""

from __future__ import annotations

import functools
import io
import lzma
import math
from collections import Counter
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from reformer_cli.summarize.terms import WORD, stem

MIN_COUNT = 5  # rarer pairs are noise, and would make the shipped table three times as big
PRIOR_PAIRS = 100_000.0  # pseudo-pairs at the document rate that the abstract rate starts from
DECIMALS = 2  # the shipped log odds are rounded to this many
HEADER = "# fitted on: "  # the table file's first line


@dataclass(frozen=True)
class PhrasePrior:
    log_odds: dict[str, float]  # "word word" (stemmed, lower case) -> log odds of the abstract
    fitted_on: str = ""  # what the table was fitted from, for the record

    def to_bytes(self) -> bytes:
        """The table as xz-compressed text: the header line, then one "pair<TAB>log odds" line
        per pair, sorted."""
        lines = [HEADER + self.fitted_on.replace("\n", " ")]
        lines += [f"{pair}\t{value:g}" for pair, value in sorted(self.log_odds.items())]
        return lzma.compress(("\n".join(lines) + "\n").encode("utf-8"), preset=9)

    @classmethod
    def from_bytes(cls, data: bytes) -> "PhrasePrior":
        text = io.StringIO(lzma.decompress(data).decode("utf-8"))
        header = text.readline()
        if not header.startswith(HEADER):
            raise ValueError("not a phrase prior table (no header line)")
        log_odds = {}
        for line in text:
            pair, value = line.rstrip("\n").split("\t")
            log_odds[pair] = float(value)
        return cls(log_odds, header[len(HEADER):].rstrip("\n"))


def word_pairs(text: str) -> list[str]:
    """The text's stemmed lower-case word pairs, in order ("This memo defines" -> "this memo",
    "memo defin")."""
    words = [stem(token.lower()) for token in WORD.findall(text)]
    return [f"{first} {second}" for first, second in zip(words, words[1:])]


def fit_phrase_prior(pairs: Iterable[tuple[str, str]], fitted_on: str = "",
                     min_count: int = MIN_COUNT, prior_pairs: float = PRIOR_PAIRS) -> PhrasePrior:
    """The prior from (document, abstract) pairs: how often each word pair occurs in all the
    documents and in all the abstracts."""
    in_documents, in_abstracts = Counter(), Counter()
    for document, abstract in pairs:
        in_documents.update(word_pairs(document))
        in_abstracts.update(word_pairs(abstract))
    document_total, abstract_total = sum(in_documents.values()), sum(in_abstracts.values())
    log_odds = {}
    for pair, count in in_documents.items():
        if count >= min_count:
            document_rate = count / document_total
            abstract_rate = ((in_abstracts[pair] + prior_pairs * document_rate)
                             / (abstract_total + prior_pairs))
            log_odds[pair] = round(math.log(abstract_rate / document_rate), DECIMALS)
    return PhrasePrior(log_odds, fitted_on)


def phrase_scores(texts: list[str], prior: PhrasePrior) -> np.ndarray:
    """(len(texts),) the mean log odds of each text's word pairs; 0 for a text of one word."""
    scores = np.zeros(len(texts))
    for row, text in enumerate(texts):
        found = word_pairs(text)
        if found:
            scores[row] = sum(prior.log_odds.get(pair, 0.0) for pair in found) / len(found)
    return scores


@functools.lru_cache(maxsize=4)
def shipped_phrase_prior(language: str) -> PhrasePrior | None:
    """The phrase prior shipped for `language`, or None for a language without one."""
    from reformer_cli.shipped_models import shipped_phrases

    path = shipped_phrases(language)
    return PhrasePrior.from_bytes(path.read_bytes()) if path else None
