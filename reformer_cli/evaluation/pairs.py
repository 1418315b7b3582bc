"""ROUGE of a summarizer over (document, reference) pairs, with the dev sets' rules: each summary
is asked for within the reference's length and cut to it (rouge.py), and the F1 scores are
averaged over the documents."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable

from reformer_cli.evaluation.rouge import ROUGE_TYPES, reference_length, rouge
from reformer_cli.summarize.summary import detect_language
from reformer_cli.text.language import DOCUMENT_LANGUAGES

# document, length (words; Chinese: characters), language -> the summary text
Summarizer = Callable[[str, int, str], str]


@dataclass(frozen=True)
class EvalPair:
    document: str
    reference: str
    language: str  # one of text/language.py's DOCUMENT_LANGUAGES


@dataclass(frozen=True)
class PairsReport:
    n_pairs: int
    rouge: dict  # "rouge1", "rouge2", "rougeL" -> mean F1 x 100
    seconds_per_document: float  # summarizing only, scoring excluded


def pairs_from_records(records: list[dict]) -> list[EvalPair]:
    """Pairs from JSONL records (text/reading.py): the record's "lang" where it has one, else
    the language detected in the document."""
    pairs = []
    for record in records:
        language = record.get("lang") if record.get("lang") in DOCUMENT_LANGUAGES else None
        pairs.append(EvalPair(record["document"], record["summary"],
                              language or detect_language(record["document"])))
    return pairs


def evaluate_summaries(pairs: list[EvalPair], summarize: Summarizer) -> PairsReport:
    """Mean ROUGE-1/2/L F1 (x100) of `summarize`'s summaries against the references."""
    per_type: list[list[float]] = [[] for _ in ROUGE_TYPES]
    seconds = 0.0
    for pair in pairs:
        length = reference_length(pair.reference, pair.language)
        started = time.perf_counter()
        summary = summarize(pair.document, length, pair.language)
        seconds += time.perf_counter() - started
        for values, score in zip(per_type, rouge(summary, pair.reference, pair.language).as_tuple()):
            values.append(score * 100)
    means = {name: statistics.fmean(values) if values else 0.0
             for name, values in zip(ROUGE_TYPES, per_type)}
    return PairsReport(len(pairs), means, seconds / max(1, len(pairs)))
