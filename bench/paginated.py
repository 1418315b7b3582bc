"""Summaries of paginated documents: the RFC dev set as the dev file holds it, and the same
documents laid out the way rfc-editor.org's text files are (paragraphs indented and wrapped at
72 columns, 54 lines a page, a "[Page N]" footer, a form feed and a running header at every break;
wrapping breaks after hyphens, as RFCs do). The rules are bench/summarization.py's.

    .venv/bin/python bench/paginated.py [--data ../shared/data/summarization] [--limit N]

Both layouts should score alike: the page furniture is no part of any sentence (text/pages.py).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from pathlib import Path

from reformer_cli.evaluation.files import summarizer_for
from reformer_cli.evaluation.pairs import EvalPair, evaluate_summaries
from reformer_cli.evaluation.rouge import ROUGE_TYPES

LINES_PER_PAGE = 54
FOOTER = "{author:<29}{status:<35}[Page {page}]"
HEADER = "RFC {number:<14}{title:^40}{date:>14}"
FURNITURE = re.compile(r"\[Page \d+\]|Protocol Specification")


def paginated(document: str, number: str, date: str) -> str:
    """`document` (paragraphs between blank lines) in the raw RFC layout."""
    lines = []
    for paragraph in document.split("\n\n"):
        if len(paragraph) < 60 and not paragraph.rstrip().endswith("."):
            lines.append(paragraph.strip())  # a heading stays at the margin
        else:
            lines += textwrap.wrap(paragraph, 69, initial_indent="   ", subsequent_indent="   ")
        lines.append("")
    out = []
    for page, start in enumerate(range(0, len(lines), LINES_PER_PAGE), 1):
        out += lines[start:start + LINES_PER_PAGE]
        if start + LINES_PER_PAGE < len(lines):
            out += ["", FOOTER.format(author="Author, et al.", status="Standards Track", page=page),
                    "\f" + HEADER.format(number=number, title="Protocol Specification", date=date), ""]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent
                                              / "shared" / "data" / "summarization"))
    parser.add_argument("--limit", type=int, default=None, help="first N documents")
    args = parser.parse_args()
    path = Path(args.data) / "rfc_abstract.dev.jsonl"
    if not path.is_file():
        print(f"no RFC dev set at {path}; pass --data", file=sys.stderr)
        return 2
    # A dev row's "title" holds the RFC's date, which its running header shows.
    rows = [json.loads(line) for line in path.open(encoding="utf-8")][: args.limit]
    print(f"{'layout':10} {'method':12} {'R-1':>6} {'R-2':>6} {'R-L':>6}  lines with furniture")
    for method in ("extractive", "auto"):
        summarize = summarizer_for(method, None)
        for layout in ("dev file", "paginated"):
            pairs = [EvalPair(row["document"] if layout == "dev file" else
                              paginated(row["document"], row["id"].removeprefix("rfc"), row["title"]),
                              row["reference"], "en") for row in rows]
            lines: list[str] = []

            def summarize_and_keep(document, length, language, summarize=summarize, lines=lines):
                text = summarize(document, length, language)
                lines.extend(text.splitlines())
                return text

            report = evaluate_summaries(pairs, summarize_and_keep)
            scores = " ".join(f"{report.rouge[name]:6.2f}" for name in ROUGE_TYPES)
            furniture = sum(bool(FURNITURE.search(line)) for line in lines)
            print(f"{layout:10} {'default' if method == 'auto' else method:12} {scores}  "
                  f"{furniture} of {len(lines)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
