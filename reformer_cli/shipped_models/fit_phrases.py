"""Fits the shipped phrase prior (summarize/phrases.py) from (document, abstract) pairs and writes
it as xz-compressed text, atomically:

    python -m reformer_cli.shipped_models.fit_phrases PAIRS.jsonl[.xz] [--documents N]
                                                      [--seed S] [--out FILE]

`make summarizer` runs it on every RFC of the train split and writes phrases-en.tsv.xz here.
Pure Python: no torch, no model. Only English pairs are read.
"""

from __future__ import annotations

import sys

from reformer_cli.shipped_models import PHRASES, SHIPPED_DIR
from reformer_cli.shipped_models.fitting import LANGUAGE, english_pairs, fit_command
from reformer_cli.summarize.phrases import fit_phrase_prior

WHAT = "phrase prior"


def main(argv: list[str] | None = None) -> int:
    return fit_command(argv, __doc__.splitlines()[0], WHAT, SHIPPED_DIR / PHRASES[LANGUAGE], None,
                       lambda pairs, fitted_on: fit_phrase_prior(english_pairs(pairs, WHAT),
                                                                 fitted_on).to_bytes())


if __name__ == "__main__":
    sys.exit(main())
