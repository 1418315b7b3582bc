"""Extractive summarization quality on the dev sets, with the issue's rules so numbers compare.

Rules: each summary is cut to the reference's length (English: its whitespace word count;
Chinese: its character count without punctuation); ROUGE-1/2/L F1 as Google's rouge-score
computes them, stemming on for English, single characters (punctuation and spaces dropped) for
Chinese: reformer_cli/evaluation/rouge.py, the code `reformer eval` uses.
Lead is recomputed here with the same rules; the other baselines are quoted from the issue.

    .venv/bin/python bench/summarization.py [--data ../shared/data/summarization] [--limit N]
                                            [--model M [--device D]]

`reformer summarize`'s default (the model shipped for the document's language, the model-free
method for a language without one) gets a row of its own, and with --model so do that model's
summaries (learned or abstractive, as `reformer eval` chooses); next to them, the issue's targets:
a third of the way from the model-free method's score when the issue was filed to the greedy
extractive oracle (both quoted from issue 16).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from reformer_cli.checkpoint import resolve_model_dir
from reformer_cli.evaluation.files import summarizer_for
from reformer_cli.evaluation.pairs import EvalPair, evaluate_summaries
from reformer_cli.evaluation.rouge import ROUGE_TYPES
from reformer_cli.shipped_models import SUMMARIZERS, shipped_summarizer
from reformer_cli.summarize.extractive import summarize_extractive
from reformer_cli.summarize.methods import choose_method
from reformer_cli.summarize.selection import Budget
from reformer_cli.text.sentences import split_sentences

DEV_SETS = {  # file: (label, best baseline R-1/R-2/R-L as quoted in issue 5, which)
    "peps_abstract.dev.jsonl": ("PEP abstracts", {
        "Lead (quoted)": (33.66, 6.63, 17.31), "LexRank (quoted)": (36.13, 7.70, 18.89),
        "TextRank (quoted)": (34.31, 6.65, 18.00), "LSA (quoted)": (29.70, 4.32, 14.71),
        "Luhn (quoted)": (32.03, 6.28, 16.88)}),
    "rfc_abstract.dev.jsonl": ("RFC abstracts", {
        "Lead (quoted)": (46.16, 22.21, 30.99), "LexRank (quoted)": (26.89, 4.49, 15.44),
        "TextRank (quoted)": (23.26, 3.27, 13.67), "LSA (quoted)": (25.34, 4.27, 14.00),
        "Luhn (quoted)": (19.79, 3.83, 11.60)}),
    "zh_classics_huimu.dev.jsonl": ("Chinese classics", {
        "Lead (quoted)": (13.45, 2.59, 7.69), "LexRank (quoted)": (13.79, 3.98, 9.95),
        "TextRank (quoted)": (10.69, 1.99, 7.08), "LSA (quoted)": (13.94, 2.18, 8.13),
        "Luhn (quoted)": (12.61, 2.79, 7.90)}),
}

# Issue 16: the model-free method when it was filed, and the greedy extractive oracle.
ISSUE_16 = {"peps_abstract.dev.jsonl": ((38.44, 9.32, 19.74), (53.98, 20.78, 27.08)),
            "rfc_abstract.dev.jsonl": ((49.34, 23.62, 31.64), (70.55, 47.43, 48.21)),
            "zh_classics_huimu.dev.jsonl": ((16.13, 5.08, 10.09), (38.02, 15.66, 22.74))}


def lead_summary(document: str) -> str:
    return "\n".join(sentence.text for sentence in split_sentences(document))


def method_summary(document: str, length: int, language: str) -> str:
    return summarize_extractive(document, Budget(max_words=length), language=language).text


def evaluate(rows: list[dict], summarizer) -> tuple[tuple[float, float, float], float]:
    """Mean ROUGE-1/2/L F1 (x100) and the mean seconds per document."""
    pairs = [EvalPair(row["document"], row["reference"], row.get("lang", "en")) for row in rows]
    report = evaluate_summaries(pairs, summarizer)
    return tuple(report.rouge[name] for name in ROUGE_TYPES), report.seconds_per_document


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent
                                              / "shared" / "data" / "summarization"))
    parser.add_argument("--limit", type=int, default=None, help="first N documents of each set")
    parser.add_argument("--model", default=None, help="also a trained summarizer (models/NAME or a folder)")
    parser.add_argument("--device", default="auto", help="the model's device")
    args = parser.parse_args()
    model_rows = [("default (shipped)", summarizer_for("auto", None, args.device))]
    for language, folder in SUMMARIZERS.items():
        print(f"shipped for {language}: {shipped_summarizer(language) or f'none ({folder} is absent)'}")
    if args.model:
        model_dir = resolve_model_dir(args.model)
        method = choose_method("auto", model_dir)
        model_rows.append((f"model ({method})", summarizer_for(method, model_dir, args.device)))
        print(f"model: {model_dir} ({method})")
    data = Path(args.data)
    if not data.is_dir():
        print(f"no dev data at {data}; pass --data", file=sys.stderr)
        return 2
    print(f"{'dev set':18} {'method':20} {'R-1':>6} {'R-2':>6} {'R-L':>6} {'s/doc':>7}  beats best?")
    for file_name, (label, quoted) in DEV_SETS.items():
        rows = [json.loads(line) for line in (data / file_name).open(encoding="utf-8")]
        rows = rows[: args.limit] if args.limit else rows
        best = tuple(max(values[k] for values in quoted.values()) for k in range(3))
        ours, ours_seconds = evaluate(rows, method_summary)
        lead, lead_seconds = evaluate(rows, lambda doc, n, lang: lead_summary(doc))
        verdict = "/".join("yes" if o > b else "no" for o, b in zip(ours, best))
        name = f"{label} ({len(rows)})"
        print(f"{name:18} {'ours (extractive)':20} {ours[0]:6.2f} {ours[1]:6.2f} {ours[2]:6.2f} "
              f"{ours_seconds:7.3f}  {verdict}")
        print(f"{'':18} {'Lead (recomputed)':20} {lead[0]:6.2f} {lead[1]:6.2f} {lead[2]:6.2f} "
              f"{lead_seconds:7.3f}")
        then, oracle = ISSUE_16[file_name]
        target = [t + (o - t) / 3 for t, o in zip(then, oracle)]
        for row_label, summarizer in model_rows:
            scores, seconds = evaluate(rows, summarizer)
            verdict = "/".join("yes" if s >= t else "no" for s, t in zip(scores, target))
            print(f"{'':18} {row_label:20} {scores[0]:6.2f} {scores[1]:6.2f} {scores[2]:6.2f} "
                  f"{seconds:7.3f}  third of the way? {verdict}")
        print(f"{'':18} {'target (1/3 way)':20} {target[0]:6.2f} {target[1]:6.2f} {target[2]:6.2f}")
        print(f"{'':18} {'oracle (quoted)':20} {oracle[0]:6.2f} {oracle[1]:6.2f} {oracle[2]:6.2f}")
        for method, values in quoted.items():
            print(f"{'':18} {method:20} {values[0]:6.2f} {values[1]:6.2f} {values[2]:6.2f}")
        print(f"{'':18} {'best baseline':20} {best[0]:6.2f} {best[1]:6.2f} {best[2]:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
