"""The summarization dev and train sets in ../shared/data (CI has them there), and the model-free
method's ROUGE on them under the dev rules (summary cut to the reference's length)."""

from pathlib import Path

import numpy as np

from reformer_cli.evaluation.pairs import EvalPair, evaluate_summaries
from reformer_cli.summarize.extractive import summarize_extractive
from reformer_cli.summarize.selection import Budget

DEV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "summarization"
NO_DATA = "the summarization data is not in ../shared/data"


def model_free_rouge(rows: list[dict], language: str, config) -> np.ndarray:
    """(R-1, R-2, R-L) F1 x100 of summarize_extractive with `config` over the rows."""
    pairs = [EvalPair(row["document"], row["reference"], language) for row in rows]
    report = evaluate_summaries(pairs, lambda document, length, language: summarize_extractive(
        document, Budget(max_words=length), language, config).text)
    return np.array([report.rouge[name] for name in ("rouge1", "rouge2", "rougeL")])
