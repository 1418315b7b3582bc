"""Fits the shipped keyword weights (summarize/keywords.py) from (document, abstract) pairs and
writes them as JSON, atomically:

    python -m reformer_cli.shipped_models.fit_keywords PAIRS.jsonl[.xz] [--documents N]
                                                       [--seed S] [--out FILE]

`make summarizer` runs it on 1,000 RFCs of the train split (seed 0) and writes keywords-en.json
here. Pure NumPy: no torch, no model. Only English pairs are read (the weights are English).
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

from reformer_cli.errors import InputError
from reformer_cli.shards.format import write_file_atomically
from reformer_cli.shipped_models import KEYWORDS, SHIPPED_DIR
from reformer_cli.summarize.extractive import read_sentences
from reformer_cli.summarize.keywords import (
    KeywordModel,
    fit_keyword_model,
    summary_labels,
    term_features,
)
from reformer_cli.summarize.scoring import ScoringConfig
from reformer_cli.summarize.summary import detect_language
from reformer_cli.text.reading import read_summarization_pairs

LANGUAGE = "en"


def fit_from_pairs(pairs: list[tuple[str, str]], fitted_on: str) -> KeywordModel:
    """The keyword weights for these (document, summary) pairs (English ones only)."""
    tables, labels = [], []
    for document, summary in pairs:
        if detect_language(document, "auto") != LANGUAGE:
            continue
        _, sentences, features = read_sentences(document, LANGUAGE, ScoringConfig())
        found, table = term_features(sentences, features)
        tables.append(table)
        labels.append(summary_labels(found, summary))
    if not tables:
        raise InputError("no English document/summary pairs to fit keyword weights from",
                         "give a JSONL file of English pairs")
    return fit_keyword_model(tables, labels, fitted_on)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", help="JSONL (.xz too) of document/summary (or reference) pairs")
    parser.add_argument("--documents", type=int, default=1000, help="a random sample this big")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(SHIPPED_DIR / KEYWORDS[LANGUAGE]))
    args = parser.parse_args(argv)
    try:
        pairs = read_summarization_pairs(args.pairs)
        if args.documents < len(pairs):
            pairs = random.Random(args.seed).sample(pairs, args.documents)
        model = fit_from_pairs(pairs, f"{len(pairs)} pairs of {Path(args.pairs).name} "
                                      f"(seed {args.seed})")
    except InputError as error:
        print(error.one_line(), file=sys.stderr)
        return 2
    write_file_atomically(Path(args.out), (model.to_json() + "\n").encode("utf-8"))
    print(f"keyword weights from {model.fitted_on} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
