"""`reformer summarize FILE...`: parse the options, summarize each document, print the summaries.

Several documents (or a folder: its text files) go one at a time, as grep and head go: one that
fails is its error line at its turn, the others are summarized, and the exit code says so at the
end. One file given fails as a whole, as it always did.

The extractive method never imports torch, so it starts fast; the learned and abstractive
summarizers (`reformer_cli/summarize/learned.py`, `abstractive.py`) are imported only when a model
trained with `--task extract` or `--task summarize` is used.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from reformer_cli.commands.encoding_option import encoding_option
from reformer_cli.commands.messages import error, note
from reformer_cli.commands.output_file import STDOUT, check_output_path, write_text_file
from reformer_cli.commands.reading_progress import ReadingProgress
from reformer_cli.config.device import DEVICE_NAMES
from reformer_cli.errors import InputError
from reformer_cli.summarize.methods import METHODS, choose_method, summarizer
from reformer_cli.summarize.summary import LANGUAGES

FORMATS = ("text", "json")


def summarize_command(
    files: Optional[List[str]] = typer.Argument(None, metavar="PATH", show_default=False,
                                                help="Text files or folders (their text files) to "
                                                     "summarize; - reads stdin."),
    model: Optional[str] = typer.Option(None, "--model", "-m", metavar="NAME_OR_DIR",
                                        show_default="the model shipped for the document's "
                                                     "language, if any",
                                        help="Model name (models/NAME/) or directory."),
    method: str = typer.Option("auto", "--method", metavar="|".join(METHODS),
                               help="auto (what the model was trained for; without --model the "
                                    "model shipped for the document's language, else "
                                    "extractive), extractive (model-free), learned or "
                                    "abstractive."),
    sentences: Optional[int] = typer.Option(None, "--sentences", metavar="N",
                                            show_default="5 when no budget is given; "
                                                         "abstractive: the whole summary",
                                            help="Number of sentences."),
    ratio: Optional[float] = typer.Option(None, "--ratio", metavar="FRACTION", show_default="off",
                                          help="Share of the candidate sentences, rounded up: "
                                               "prose and list items of two words or more, not "
                                               "headings or code lines (not the JSON's "
                                               "n_sentences, which counts every one); "
                                               "abstractive: of all sentences."),
    max_words: Optional[int] = typer.Option(None, "--max-words", metavar="N",
                                            show_default="no word limit",
                                            help="Hard word budget (a Chinese or Japanese "
                                                 "character counts as a word)."),
    language: str = typer.Option("auto", "--language", metavar="|".join(LANGUAGES),
                                 help="auto (detected), en, zh, ja or other (any other language: "
                                      "the model-free method on the text's own words)."),
    output_format: str = typer.Option("text", "--format", metavar="|".join(FORMATS),
                                      help="text or json (an object; for several files or a "
                                           "folder, a list of them in the order given, a "
                                           "failed one as {file, error})."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", metavar="FILE",
                                          show_default="stdout",
                                          help="Write here instead of stdout (- is stdout)."),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens", metavar="N",
                                                 show_default="an eighth of the model's context",
                                                 help="Abstractive: most tokens generated."),
    num_beams: Optional[int] = typer.Option(None, "--num-beams", metavar="N",
                                            show_default="1 = greedy",
                                            help="Abstractive: beam search width."),
    no_repeat_ngram: Optional[int] = typer.Option(None, "--no-repeat-ngram", metavar="N",
                                                  show_default="0 for byte models, 4 for "
                                                               "SentencePiece ones",
                                                  help="Abstractive: forbid repeating an n-gram of the "
                                                       "summary (0 = off)."),
    repetition_penalty: Optional[float] = typer.Option(None, "--repetition-penalty",
                                                       metavar="FACTOR", show_default="1 = off",
                                                       help="Abstractive: >= 1; divides the logits of "
                                                            "tokens already generated."),
    n_hashes: Optional[int] = typer.Option(None, "--n-hashes", metavar="N",
                                           show_default="as trained",
                                           help="Abstractive: LSH hash rounds while reading the "
                                                "document (more rounds miss less)."),
    device: str = typer.Option("auto", "--device", metavar=DEVICE_NAMES,
                               help="With a model: auto, cpu, cuda, cuda:N or mps (the "
                                    "model-free extractive method runs on the CPU)."),
    encoding: Optional[str] = encoding_option(),
) -> None:
    """Summarize documents: one sentence a line, in document order."""
    decoding = {"max_new_tokens": max_new_tokens, "num_beams": num_beams, "n_hashes": n_hashes,
                "no_repeat_ngram_size": no_repeat_ngram, "repetition_penalty": repetition_penalty}
    decoding = {key: value for key, value in decoding.items() if value is not None}
    if output is not None and str(output) == STDOUT:
        output = None
    if output is not None:
        check_output_path(output, files or [])  # before any work
    failed = run_summarize(files or [], model, method, sentences, ratio, max_words, language,
                           output_format, decoding, device, encoding, output)
    if failed:  # each has had its error line; grep's way: the others' output, then the code
        raise typer.Exit(InputError.exit_code)


def run_summarize(files: list[str], model: str | None, method: str, sentences: int | None,
                  ratio: float | None, max_words: int | None, language: str, output_format: str,
                  decoding: dict, device_name: str = "auto", encoding: str | None = None,
                  output: Path | None = None) -> int:
    """Summarize each input and write the summaries to stdout (or `output`); returns how many
    documents failed. One file given: its failure is its InputError, as it always was. Several
    inputs, or a folder (its text files): a document that fails is one error line at its turn,
    and the others are still summarized. What holds for every document (the options, the model)
    is checked before any is read."""
    from reformer_cli.checkpoint import resolve_model_dir
    from reformer_cli.summarize.selection import Budget
    from reformer_cli.summarize.summary import SummarizeOptions, detect_language
    from reformer_cli.text.encodings import check_encoding

    if not files:
        raise InputError("no input given", "pass one or more files, or - for stdin")
    if output_format not in FORMATS:
        raise InputError(f"unknown format {output_format!r}", f"use one of {', '.join(FORMATS)}")
    if files.count("-") > 1:
        raise InputError("stdin (-) given more than once", "pass - at most once")
    budget = Budget(sentences=sentences, ratio=ratio, max_words=max_words).validate()
    detect_language("", language)  # an unknown --language fails before any work
    check_encoding(encoding)  # as does an unknown --encoding
    model_dir = resolve_model_dir(model) if model else None
    chosen = choose_method(method, model_dir)
    names = documents(files, encoding, output)  # a folder: its text files
    if output is not None:
        check_output_path(output, names)
    several = len(files) > 1 or any(name != "-" and Path(name).is_dir() for name in files)
    # One document is read before the model loads, as it always was: a bad file fails fast.
    first_text = None if several else read_input(names[0], encoding)
    summarize = summarizer(chosen, model_dir, device_name, decoding)
    options = SummarizeOptions(budget=budget, language=language)
    written = SummaryOutput(output_format, several, output, names)
    summaries, failed = [], 0
    reading = ReadingProgress()  # on a terminal, a bar while a long document is read
    for name in names:
        label = "<stdin>" if name == "-" else name
        try:
            text = read_input(name, encoding) if first_text is None else first_text
            with reading:  # the bar goes even if the document fails
                try:
                    summary = summarize(text, options, reading.for_document(label))
                except InputError as problem:  # the core knows no file names: say which one
                    raise InputError(f"{label}: {problem.message}", problem.hint) from None
        except InputError as problem:  # reading errors name the file already
            if not several:
                raise
            failed += 1
            error(problem.one_line())
            written.add_error(label, problem)
            continue
        summaries.append(summary)
        kept, total = summary.config.get("kept_tokens"), summary.config.get("document_tokens")
        if kept is not None and total is not None and kept < total:
            note(f"summarize: {label}: only the first {kept} of its {total} tokens fit the "
                 "model's context")
        written.add(label, summary)
    if summaries:
        note(f"summarize: {methods_used(summaries)}"
             f"{' (the model is not used)' if chosen == 'extractive' and model_dir else ''}")
    written.finish(any_summary=bool(summaries))
    return failed


def documents(files: list[str], encoding: str | None, output: Path | None) -> list[str]:
    """The documents `files` stand for (`document_names`), less the --output file where a folder
    holds it: that is this command's own product, from an earlier run, not a document. A file
    named itself stays, for `check_output_path` to refuse."""
    from reformer_cli.text.reading import document_names

    names = []
    for name in files:
        inside = document_names([name], encoding)
        if output is not None and name != "-" and Path(name).is_dir():
            inside = [found for found in inside if not _same_file(found, output)] or [name]
        names.extend(inside)
    return names


def _same_file(name: str, output: Path) -> bool:
    try:
        return os.path.samefile(name, output)
    except OSError:  # either is missing (the output before its first run)
        return False


def read_input(name: str, encoding: str | None) -> str:
    """The text of a file or stdin (`read_document`); a folder left by `document_names` is one
    without a text file."""
    from reformer_cli.text.reading import empty_folder_error, read_document

    if name != "-" and Path(name).is_dir():
        raise empty_folder_error(name)
    return read_document(name, encoding)


class SummaryOutput:
    """Where the summaries go. Text to stdout goes as each document is done, so an error line on
    stderr comes at its document's turn; JSON (one list) and --output (replaced at the end, so a
    failed run leaves it as it was) are written at the end, the file only when a document was
    summarized. Several documents: text blocks with a `==> FILE <==` header, and a JSON list in
    the order given, a failed document as {"file": ..., "error": ...}."""

    def __init__(self, output_format: str, several: bool, output: Path | None, inputs: list[str]):
        self.json = output_format == "json"
        self.several, self.output, self.inputs = several, output, inputs
        self.records: list[dict] = []
        self.blocks: list[str] = []

    def add(self, label: str, summary) -> None:
        if self.json:
            self.records.append(summary_record(label, summary))
            return
        header = f"==> {label} <==\n" if self.several else ""
        self.blocks.append(header + summary.text)
        if self.output is None:
            sys.stdout.write(("\n" if len(self.blocks) > 1 else "") + self.blocks[-1] + "\n")
            sys.stdout.flush()

    def add_error(self, label: str, problem: InputError) -> None:
        if self.json:
            self.records.append({"file": label, "error": problem.one_line()})

    def finish(self, any_summary: bool) -> None:
        if self.json:
            payload = self.records if self.several else self.records[0]
            result = json.dumps(payload, ensure_ascii=False, indent=2) + "\n"
        else:
            result = "\n\n".join(self.blocks) + "\n"
        if self.output is not None:
            if any_summary:
                write_text_file(self.output, result, self.inputs)
        elif self.json:
            sys.stdout.write(result)
            sys.stdout.flush()


def methods_used(summaries) -> str:
    """"learned method (model M)", "extractive method", or both for a mix of languages."""
    used = dict.fromkeys(summary.made_by for summary in summaries)
    return "; ".join(f"{method} method" + (f" (model {model})" if model else "")
                     for method, model in used)


def summary_record(name: str, summary) -> dict:
    from reformer_cli.text.words import count_words

    return {
        "file": name, "method": summary.method, "language": summary.language,
        "n_sentences": summary.n_sentences, "n_words": summary.n_words,
        "summary_words": sum(count_words(s.text) for s in summary.sentences),
        "sentences": [{"text": s.text, "index": s.index,
                       "position": round(s.index / max(1, summary.n_sentences), 6),
                       "start": s.start, "end": s.end, "score": s.score, "rank": s.rank,
                       "truncated": s.truncated} for s in summary.sentences],
        # the model and device that made the summary: None for the model-free method
        "model": summary.config.get("model"), "device": summary.config.get("device"),
        # abstractive: tokens read and generated, stop reason, decoding settings
        **({"generation": summary.config} if summary.method == "abstractive" else {}),
    }


def register(app: typer.Typer) -> None:
    app.command("summarize")(summarize_command)
