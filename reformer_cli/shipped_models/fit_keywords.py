"""Fits the shipped keyword weights (summarize/keywords.py) from (document, abstract) pairs and
writes them as JSON, atomically:

    python -m reformer_cli.shipped_models.fit_keywords PAIRS.jsonl[.xz] [--documents N]
                                                       [--seed S] [--out FILE]

`make summarizer` runs it on 1,000 RFCs of the train split (seed 0) and writes keywords-en.json
here. Pure NumPy: no torch, no model. Only English pairs are read (the weights are English).
"""

from __future__ import annotations

import sys

from reformer_cli.shipped_models import KEYWORDS, SHIPPED_DIR
from reformer_cli.shipped_models.fitting import LANGUAGE, english_pairs, fit_command
from reformer_cli.summarize.extractive import read_sentences
from reformer_cli.summarize.keywords import (
    KeywordModel,
    fit_keyword_model,
    summary_labels,
    term_features,
)
from reformer_cli.summarize.scoring import ScoringConfig

WHAT = "keyword weights"


def fit_from_pairs(pairs: list[tuple[str, str]], fitted_on: str) -> KeywordModel:
    """The keyword weights for these (document, summary) pairs (English ones only)."""
    tables, labels = [], []
    for document, summary in english_pairs(pairs, WHAT):
        _, sentences, features = read_sentences(document, LANGUAGE, ScoringConfig())
        found, table = term_features(sentences, features)
        tables.append(table)
        labels.append(summary_labels(found, summary))
    return fit_keyword_model(tables, labels, fitted_on)


def main(argv: list[str] | None = None) -> int:
    return fit_command(argv, __doc__.splitlines()[0], WHAT, SHIPPED_DIR / KEYWORDS[LANGUAGE], 1000,
                       lambda pairs, fitted_on: (fit_from_pairs(pairs, fitted_on).to_json()
                                                 + "\n").encode("utf-8"))


if __name__ == "__main__":
    sys.exit(main())
