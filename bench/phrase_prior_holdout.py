"""The phrase prior's effect on RFCs it was not fitted on, measured on more documents than the
31 of the RFC dev set: 300 long RFCs (8,000 words or more, as the dev ones are) are held out of
the train split, the prior is fitted on the rest, and the model-free method summarizes the
held-out ones with and without it (the dev rules: summary cut to the reference's length).

Obsoleted and updated RFCs repeat their predecessors' abstracts, which a prior fitted on them
would simply remember; so a training RFC whose abstract shares more than SIBLING_OVERLAP of its
word pairs (Jaccard) with a held-out abstract is left out of the fit too. Prints mean ROUGE
F1 x100 each way and the paired difference with its standard error.

    .venv/bin/python bench/phrase_prior_holdout.py [--data ../shared/data/summarization]
"""

from __future__ import annotations

import argparse
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


def rouge_rows(held: list[dict], prior, weight: float) -> np.ndarray:
    """(len(held), 3) ROUGE-1/2/L F1 x100 of the model-free method with `prior` (not the shipped
    one, which saw these documents) at `weight`."""
    config = ScoringConfig(phrase_weight=weight)
    rows = []
    for record in held:
        length = reference_length(record["summary"], "en")
        language, sentences, features = read_sentences(record["document"], "en", config)
        scores = sentence_scores(language, sentences, features, config, phrase_prior=prior)
        chosen = select_sentences(sentences, features, scores, Budget(max_words=length), config)
        summary = "\n".join(sentence.text for sentence in chosen)
        rows.append([score * 100 for score in rouge(summary, record["summary"], "en").as_tuple()])
    return np.array(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent
                                              / "shared" / "data" / "summarization"))
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
    without = rouge_rows(held, prior, 0.0)
    weight = ScoringConfig().phrase_weight
    with_prior = rouge_rows(held, prior, weight)
    difference = with_prior - without
    error = difference.std(axis=0, ddof=1) / np.sqrt(len(held))
    print(f"{'model-free':28} {'R-1':>6} {'R-2':>6} {'R-L':>6}")
    for label, values in (("without the prior", without.mean(axis=0)),
                          (f"with it (weight {weight:g})", with_prior.mean(axis=0))):
        print(f"{label:28} " + " ".join(f"{v:6.2f}" for v in values))
    print(f"{'difference (± s.e.)':28} "
          + " ".join(f"{m:+.2f}±{e:.2f}" for m, e in zip(difference.mean(axis=0), error)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
