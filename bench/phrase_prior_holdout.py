"""The phrase prior's effect on RFCs it was not fitted on, measured on more documents than the
31 of the RFC dev set: 300 long RFCs (8,000 words or more, as the dev ones are) are held out of
the train split, the prior is fitted on the rest, and the model-free method summarizes the
held-out ones with and without it (the dev rules: summary cut to the reference's length).
With --set FIELD=VALUE (repeatable), each setting of ScoringConfig is compared instead, one at
a time, against the shipped settings, the held-out prior on in both.

Obsoleted and updated RFCs repeat their predecessors' abstracts, which a prior fitted on them
would simply remember; so a training RFC whose abstract shares more than SIBLING_OVERLAP of its
word pairs (Jaccard) with a held-out abstract is left out of the fit too. Prints mean ROUGE
F1 x100 each way and the paired difference with its standard error.

    .venv/bin/python bench/phrase_prior_holdout.py [--data ../shared/data/summarization]
                                                   [--set min_words=12 --set meta_factor=1 ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
import time
from pathlib import Path

import numpy as np

from reformer_cli.evaluation.rouge import reference_length, rouge
from reformer_cli.summarize.extractive import read_sentences, select_sentences, sentence_scores
from reformer_cli.summarize.phrases import fit_phrase_prior, word_pairs
from reformer_cli.summarize.scoring import ScoringConfig
from reformer_cli.summarize.selection import Budget
from reformer_cli.text.reading import read_summarization_records

HELD_OUT, MIN_WORDS, SEED = 300, 8000, 7
SIBLING_OVERLAP = 0.15


def split(records: list[dict]) -> tuple[list[dict], list[dict]]:
    """(held-out long RFCs, the rest without the held-out ones' siblings)."""
    random.Random(SEED).shuffle(records)
    held = [r for r in records if len(r["document"].split()) >= MIN_WORDS][:HELD_OUT]
    held_ids = {id(r) for r in held}
    held_pairs = [set(word_pairs(r["summary"])) for r in held]

    def sibling(record: dict) -> bool:
        pairs = set(word_pairs(record["summary"]))
        return any(len(pairs & other) > SIBLING_OVERLAP * len(pairs | other) for other in held_pairs)

    return held, [r for r in records if id(r) not in held_ids and not sibling(r)]


def rouge_rows(held: list[dict], prior, config: ScoringConfig) -> np.ndarray:
    """(len(held), 3) ROUGE-1/2/L F1 x100 of the model-free method with `prior` (not the shipped
    one, which saw these documents) under `config`."""
    rows = []
    for record in held:
        length = reference_length(record["summary"], "en")
        language, sentences, features = read_sentences(record["document"], "en", config)
        scores = sentence_scores(language, sentences, features, config, phrase_prior=prior)
        chosen = select_sentences(sentences, features, scores, Budget(max_words=length), config)
        summary = "\n".join(sentence.text for sentence in chosen)
        rows.append([score * 100 for score in rouge(summary, record["summary"], "en").as_tuple()])
    return np.array(rows)


def setting(text: str) -> tuple[str, object]:
    """"FIELD=VALUE" as (field, value of the field's type); an unknown field is an error."""
    field, _, value = text.partition("=")
    defaults = ScoringConfig()
    if not hasattr(defaults, field) or not value:
        raise argparse.ArgumentTypeError(f"not FIELD=VALUE for a ScoringConfig field: {text!r}")
    kind = type(getattr(defaults, field))
    if kind is tuple:
        raise argparse.ArgumentTypeError(f"{field} is not a number")
    return field, kind(value)


def paired(label: str, rows: np.ndarray, base: np.ndarray) -> str:
    difference = rows - base
    error = difference.std(axis=0, ddof=1) / np.sqrt(len(rows))
    return (f"{label:28} " + " ".join(f"{v:6.2f}" for v in rows.mean(axis=0)) + "   "
            + " ".join(f"{m:+.2f}±{e:.2f}" for m, e in zip(difference.mean(axis=0), error)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent
                                              / "shared" / "data" / "summarization"))
    parser.add_argument("--set", dest="settings", type=setting, action="append", default=[],
                        metavar="FIELD=VALUE", help="compare this ScoringConfig setting instead")
    args = parser.parse_args()
    path = Path(args.data) / "rfc_abstract.train.jsonl.xz"
    if not path.is_file():
        print(f"no RFC train split at {path}; pass --data", file=sys.stderr)
        return 2
    started = time.perf_counter()
    held, fit = split(read_summarization_records(path))
    prior = fit_phrase_prior(((r["document"], r["summary"]) for r in fit), "bench")
    print(f"held out {len(held)} RFCs of {MIN_WORDS:,}+ words; prior fitted on {len(fit)} others "
          f"({len(prior.log_odds):,} word pairs) in {time.perf_counter() - started:.0f} s")
    shipped = ScoringConfig()
    print(f"{'model-free':28} {'R-1':>6} {'R-2':>6} {'R-L':>6}   paired difference (± s.e.)")
    if args.settings:
        base = rouge_rows(held, prior, shipped)
        print(paired("shipped settings", base, base))
        for field, value in args.settings:
            rows = rouge_rows(held, prior, dataclasses.replace(shipped, **{field: value}))
            print(paired(f"{field}={value:g}", rows, base))
        return 0
    without = rouge_rows(held, prior, dataclasses.replace(shipped, phrase_weight=0.0))
    print(paired("without the prior", without, without))
    print(paired(f"with it (weight {shipped.phrase_weight:g})", rouge_rows(held, prior, shipped), without))
    return 0


if __name__ == "__main__":
    sys.exit(main())
