"""The command line shared by the scripts that fit shipped tables from (document, summary) pairs
(fit_keywords.py, fit_phrases.py): read the pairs, keep the English ones, take a seeded sample,
fit, and write the file atomically; bad input is one line on stderr and leaves the old file."""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Callable

from reformer_cli.errors import InputError
from reformer_cli.shards.format import write_file_atomically
from reformer_cli.summarize.summary import detect_language
from reformer_cli.text.reading import read_summarization_pairs

LANGUAGE = "en"  # the fitted tables are English ones

Pairs = list[tuple[str, str]]


def english_pairs(pairs: Pairs, what: str) -> Pairs:
    """The pairs whose document is English; none is an InputError naming what is fitted."""
    english = [pair for pair in pairs if detect_language(pair[0], "auto") == LANGUAGE]
    if not english:
        raise InputError(f"no English document/summary pairs to fit {what} from",
                         "give a JSONL file of English pairs")
    return english


def fit_command(argv: list[str] | None, description: str, what: str, default_out: Path,
                default_documents: int | None, fit: Callable[[Pairs, str], bytes]) -> int:
    """Parse PAIRS [--documents N] [--seed S] [--out FILE], then write fit(pairs, fitted_on)
    (the file's bytes) to FILE."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("pairs", help="JSONL (.xz too) of document/summary (or reference) pairs")
    parser.add_argument("--documents", type=int, default=default_documents,
                        help=f"a random sample this big (default: {default_documents or 'all'})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(default_out))
    args = parser.parse_args(argv)
    try:
        pairs = read_summarization_pairs(args.pairs)
        fitted_on = f"{len(pairs)} pairs of {Path(args.pairs).name}"
        if args.documents is not None and args.documents < len(pairs):
            pairs = random.Random(args.seed).sample(pairs, args.documents)
            fitted_on = f"{len(pairs)} pairs of {Path(args.pairs).name} (seed {args.seed})"
        data = fit(pairs, fitted_on)
    except InputError as error:
        print(error.one_line(), file=sys.stderr)
        return 2
    write_file_atomically(Path(args.out), data)
    print(f"{what} from {fitted_on} -> {args.out}")
    return 0
