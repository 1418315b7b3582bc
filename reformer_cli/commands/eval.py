"""`reformer eval FILE`: parse the options, measure the file (evaluation/files.py), print a table
or JSON. Pairs (a .jsonl, .jsonl.xz file, or JSONL on stdin) give ROUGE-1/2/L of the summaries;
any other input gives the model's bits per character and perplexity on it."""

from __future__ import annotations

import json
import sys
from typing import Optional

import typer

from reformer_cli.commands.encoding_option import encoding_option
from reformer_cli.commands.messages import note
from reformer_cli.config.device import DEVICE_NAMES
from reformer_cli.errors import InputError
from reformer_cli.summarize.methods import METHODS

FORMATS = ("text", "json")
ROUGE_COLUMNS = (("rouge1", "ROUGE-1"), ("rouge2", "ROUGE-2"), ("rougeL", "ROUGE-L"))


def eval_command(
    file: str = typer.Argument(..., metavar="FILE", show_default=False,
                               help="Pairs (.jsonl or .jsonl.xz: document, reference) or "
                                    "held-out text; - reads either from stdin."),
    model: Optional[str] = typer.Option(None, "--model", "-m", metavar="NAME_OR_DIR",
                                        show_default="pairs: `reformer summarize`'s default; "
                                                     "held-out text needs one",
                                        help="Run name under models/, a run folder or a "
                                             "checkpoint folder."),
    method: str = typer.Option("auto", "--method", metavar="|".join(METHODS),
                               help="Pairs: auto (what the model was trained for; without --model "
                                    "`reformer summarize`'s default), extractive (model-free), "
                                    "learned or abstractive."),
    device: str = typer.Option("auto", "--device", metavar=DEVICE_NAMES,
                               help="Where the model runs (auto: cuda > mps > cpu)."),
    limit: Optional[int] = typer.Option(None, "--limit", metavar="N", show_default="every pair",
                                        help="Pairs: only the first N (not for held-out text)."),
    output_format: str = typer.Option("text", "--format", metavar="|".join(FORMATS),
                                      help="A table, or a JSON object."),
    encoding: Optional[str] = encoding_option(),
) -> None:
    """Measure a summarizer (ROUGE F1 x 100, each summary cut to its reference's length) or a
    model (bits per character, perplexity on held-out text)."""
    from reformer_cli.evaluation.files import evaluate_file

    if output_format not in FORMATS:
        raise InputError(f"unknown format {output_format!r}", f"use one of {', '.join(FORMATS)}")
    record = evaluate_file(file, model, method, device, limit, encoding)
    if output_format == "json":
        sys.stdout.write(json.dumps(record, ensure_ascii=False, indent=2) + "\n")
    else:
        print_table(record)
    note(f"eval: {record['file']} done")


def print_table(record: dict) -> None:
    from rich.table import Table

    from reformer_cli.commands.messages import table_console

    console = table_console()
    table = Table()
    if record["kind"] == "rouge":
        source = record["method"] + (f" ({record['model']})" if record["model"] else "")
        cells = {"file": record["file"], "pairs": str(record["n_pairs"]), "summaries": source}
        cells.update((label, f"{record[key]:.2f}") for key, label in ROUGE_COLUMNS)
    else:
        unit = "byte" if "bits_per_byte" in record else "char"
        cells = {"file": record["file"], "model": record["model"],
                 f"bits/{unit}": f"{record['bits_per_' + unit]:.4f}",
                 "perplexity": f"{record['perplexity']:.3f}", "loss (nats/token)": f"{record['loss']:.4f}",
                 "tokens": f"{record['tokens']:,}", f"{unit}s": f"{record[unit + 's']:,}"}
    for index, label in enumerate(cells):
        table.add_column(label, justify="left" if index < 3 else "right")
    table.add_row(*cells.values())
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
