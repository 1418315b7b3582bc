"""Keyword probabilities: how likely each term of a document is to occur in its summary, from a
logistic regression over the term's place in the document, fitted on (document, abstract) pairs.

A term's features say how often and where it occurs: its count, its first sentence, in how many
tenths of the document, in overview sections, cue sentences and the first ten sentences, how
often it is capitalised, its length, whether it has a digit, and the document's length. The
fitted weights ship as JSON (shipped_models/keywords-en.json, written by
shipped_models/fit_keywords.py from the RFC train split). A sentence's keyword density (the sum
of its terms' probabilities per word) then scales its score (scoring.ScoringConfig.keyword_*).

Fitted on RFCs, it raised the dev-set ROUGE of PEPs as well as RFCs, so it says something about
technical English documents in general, not only about the set it was fitted on.
"""

from __future__ import annotations

import functools
import json
import math
from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np

from reformer_cli.summarize.scoring import SentenceFeatures
from reformer_cli.summarize.terms import WORD, stem, terms
from reformer_cli.text.sentences import Sentence

FEATURES = ("log_count", "count_per_sentence", "first_place", "tenths", "log_overview",
            "log_cue", "log_opening", "capitalised", "length", "has_digit", "log_sentences")
OPENING_SENTENCES = 10  # "in the opening" means among the first this many candidates
L2_PENALTY = 1.0  # on the standardised weights, not the intercept
NEWTON_STEPS = 30


@dataclass(frozen=True)
class KeywordModel:
    mean: tuple[float, ...]  # per feature, for standardising
    scale: tuple[float, ...]
    weights: tuple[float, ...]  # on the standardised features
    intercept: float
    fitted_on: str = ""  # what the weights were fitted from, for the record

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """(n_terms,) P(term in the summary) for (n_terms, len(FEATURES)) features."""
        standard = (features - np.array(self.mean)) / np.array(self.scale)
        return 1.0 / (1.0 + np.exp(-(standard @ np.array(self.weights) + self.intercept)))

    def to_json(self) -> str:
        return json.dumps({"features": list(FEATURES), **asdict(self)}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "KeywordModel":
        record = json.loads(text)
        if record.pop("features") != list(FEATURES):
            raise ValueError("the keyword weights were fitted for other features")
        return cls(**{key: tuple(value) if isinstance(value, list) else value
                      for key, value in record.items()})


def term_features(sentences: list[Sentence], features: SentenceFeatures
                  ) -> tuple[list[str], np.ndarray]:
    """(the candidates' distinct terms, their (n_terms, len(FEATURES)) features)."""
    n = len(features.candidates)
    count, first, tenths = Counter(), {}, {}
    overview, cue, opening = Counter(), Counter(), Counter()
    for row, term_set in enumerate(features.term_sets):
        for term in term_set:
            count[term] += 1
            first.setdefault(term, row / n)
            tenths.setdefault(term, set()).add(row * 10 // n)
            overview[term] += features.overview[row]
            cue[term] += features.cue[row]
            opening[term] += row < OPENING_SENTENCES
    capitals, occurrences = Counter(), Counter()
    for index in features.candidates:
        for token in WORD.findall(sentences[index].text):
            term = stem(token.lower())
            occurrences[term] += 1
            capitals[term] += token[:1].isupper()
    found = list(count)
    rows = [[math.log(count[t]), count[t] / n, first[t], len(tenths[t]) / 10,
             math.log1p(overview[t]), math.log1p(cue[t]), math.log1p(opening[t]),
             capitals[t] / max(1, occurrences[t]), len(t), float(any(c.isdigit() for c in t)),
             math.log(n)] for t in found]
    return found, np.array(rows, dtype=np.float64).reshape(len(found), len(FEATURES))


def keyword_density(sentences: list[Sentence], features: SentenceFeatures,
                    model: KeywordModel) -> np.ndarray:
    """(n_candidates,) the sum of each candidate's terms' keyword probabilities per word."""
    found, table = term_features(sentences, features)
    probability = dict(zip(found, model.probabilities(table))) if found else {}
    return np.array([sum(probability[t] for t in term_set) / max(1, sentences[i].n_words)
                     for term_set, i in zip(features.term_sets, features.candidates)])


def summary_labels(found: list[str], summary: str) -> np.ndarray:
    """(n_terms,) 1 where the term occurs in the summary."""
    wanted = set(terms(summary))
    return np.array([term in wanted for term in found], dtype=np.float64)


def fit_keyword_model(tables: list[np.ndarray], labels: list[np.ndarray],
                      fitted_on: str = "") -> KeywordModel:
    """L2-regularised logistic regression by Newton's method on the standardised features."""
    features, targets = np.vstack(tables), np.concatenate(labels)  # (N, F), (N,)
    mean, scale = features.mean(axis=0), features.std(axis=0)
    scale[scale == 0] = 1.0
    design = np.hstack([(features - mean) / scale, np.ones((len(features), 1))])  # (N, F + 1)
    penalty = np.eye(design.shape[1]) * L2_PENALTY
    penalty[-1, -1] = 0.0  # the intercept is not shrunk
    coefficients = np.zeros(design.shape[1])
    for _ in range(NEWTON_STEPS):
        probability = 1.0 / (1.0 + np.exp(-design @ coefficients))
        gradient = design.T @ (probability - targets) + penalty @ coefficients
        hessian = (design * (probability * (1 - probability))[:, None]).T @ design + penalty
        coefficients -= np.linalg.solve(hessian, gradient)
    return KeywordModel(mean=tuple(mean.tolist()), scale=tuple(scale.tolist()),
                        weights=tuple(coefficients[:-1].tolist()),
                        intercept=float(coefficients[-1]), fitted_on=fitted_on)


@functools.lru_cache(maxsize=4)
def shipped_keyword_model(language: str) -> KeywordModel | None:
    """The keyword weights shipped for `language`, or None for a language without them."""
    from reformer_cli.shipped_models import shipped_keywords

    path = shipped_keywords(language)
    return KeywordModel.from_json(path.read_text(encoding="utf-8")) if path else None
