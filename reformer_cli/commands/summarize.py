"""`reformer summarize`: extractive summaries out of the box, abstractive with a trained model.

This module only reads input, picks the method and prints. The extractive path never imports
torch, so it starts fast; the abstractive summarizer (`reformer_cli/summarize_abstractive.py`)
is imported only when it is asked for.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import typer

from reformer_cli.errors import CheckpointError, InputError

METHODS = ("auto", "extractive", "abstractive")
FORMATS = ("text", "json")
ABSTRACTIVE_MODULE = "reformer_cli.summarize_abstractive"
NO_ABSTRACTIVE_MODEL = ("abstractive summarization needs a model trained with "
                        "`reformer train pairs.jsonl --task summarize`; pass --model or use "
                        "--method extractive")


def read_document(name: str) -> str:
    """The text of a file (or stdin for `-`), or an InputError that says what is wrong."""
    label = "stdin" if name == "-" else name
    if name == "-":
        data = sys.stdin.buffer.read()
    else:
        path = Path(name)
        if not path.exists():
            raise InputError(f"no such file: {name}", "check the path")
        if path.is_dir():
            raise InputError(f"{name} is a directory", "pass a text file")
        try:
            data = path.read_bytes()
        except OSError as error:
            raise InputError(f"cannot read {name}: {error.strerror}", "check its permissions")
    if not data:
        raise InputError(f"{label} is empty", "give a file with text in it")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise InputError(f"{label} looks binary (NUL byte at offset {nul})",
                         "pass a plain UTF-8 text file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        bad = data[error.start]
        raise InputError(f"{label} is not valid UTF-8: byte 0x{bad:02x} at offset {error.start}",
                         "convert it, e.g. `iconv -f latin1 -t utf-8`")
    if not text.strip():
        raise InputError(f"{label} contains only whitespace", "give a file with text in it")
    return text


def resolve_model_dir(model: str) -> Path:
    """A directory as given, else models/NAME/ relative to the working directory."""
    path = Path(model)
    if path.is_dir():
        return path
    named = Path("models") / model
    if named.is_dir():
        return named
    raise CheckpointError(f"no model at {model} or {named}",
                          "train one with `reformer train` or pass an existing directory")


def model_task(model_dir: Path) -> str | None:
    """The `task` a model was trained for, from its config.yaml (top level or under data)."""
    import yaml  # only needed with --model

    for config_path in (model_dir / "config.yaml", model_dir / "final" / "config.yaml"):
        if config_path.is_file():
            try:
                config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
            except (yaml.YAMLError, UnicodeDecodeError) as error:
                raise CheckpointError(f"cannot parse {config_path}: {type(error).__name__}",
                                      "re-train or repair the model directory")
            if not isinstance(config, dict):
                return None
            data = config.get("data") if isinstance(config.get("data"), dict) else {}
            for task in (config.get("task"), data.get("task")):
                if task == "summarize":
                    return "summarize"
            return config.get("task") or data.get("task")
    return None


def choose_method(method: str, model_dir: Path | None) -> str:
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}", f"use one of {', '.join(METHODS)}")
    if method != "auto":
        return method
    if model_dir is not None and model_task(model_dir) == "summarize":
        return "abstractive"
    return "extractive"


def load_abstractive():
    try:
        module = importlib.import_module(ABSTRACTIVE_MODULE)
    except ModuleNotFoundError as error:
        if error.name != ABSTRACTIVE_MODULE:
            raise
        raise InputError(NO_ABSTRACTIVE_MODEL)
    return module.summarize_abstractive


def summary_record(name: str, summary) -> dict:
    return {
        "file": name, "method": summary.method, "language": summary.language,
        "n_sentences": summary.n_sentences, "n_words": summary.n_words,
        "summary_words": sum(_count_words(s.text) for s in summary.sentences),
        "sentences": [{"text": s.text, "index": s.index,
                       "position": round(s.index / max(1, summary.n_sentences), 6),
                       "start": s.start, "end": s.end, "score": s.score, "rank": s.rank,
                       "truncated": s.truncated} for s in summary.sentences],
        # abstractive: the model, tokens read and generated, stop reason, decoding settings
        **({"generation": summary.config} if summary.config else {}),
    }


def _count_words(text: str) -> int:
    from reformer_cli.text.sentences import count_words

    return count_words(text)


def run_summarize(files: list[str], model: str | None, method: str, sentences: int | None,
                  ratio: float | None, max_words: int | None, language: str, output_format: str,
                  output: Path | None, decoding: dict | None = None) -> str:
    """Summarize each input; returns what goes to stdout (or to --output)."""
    from reformer_cli.summarize import (Summary, SummarizeOptions, SummarySentence, detect_language,
                                        summarize_extractive)
    from reformer_cli.summarize.selection import Budget

    if not files:
        raise InputError("no input given", "pass one or more files, or - for stdin")
    if output_format not in FORMATS:
        raise InputError(f"unknown format {output_format!r}", f"use one of {', '.join(FORMATS)}")
    if files.count("-") > 1:
        raise InputError("stdin (-) given more than once", "pass - at most once")
    budget = Budget(sentences=sentences, ratio=ratio, max_words=max_words).validate()
    options = SummarizeOptions(budget=budget, language=language)
    model_dir = resolve_model_dir(model) if model else None
    chosen = choose_method(method, model_dir)
    if chosen == "abstractive" and model_dir is None:
        raise InputError(NO_ABSTRACTIVE_MODEL)
    summarize_abstractive = load_abstractive() if chosen == "abstractive" else None
    documents = [(name, read_document(name)) for name in files]  # all checked before any work
    records, blocks, cut_notes = [], [], []
    for name, text in documents:
        if summarize_abstractive is not None:
            summary = (summarize_abstractive(text, model_dir, options, decoding=decoding)
                       if decoding else summarize_abstractive(text, model_dir, options))
            if isinstance(summary, str):  # a plain string is one summary, one sentence a line
                summary = Summary(sentences=[SummarySentence(line, i, 0, 0, 0.0, i, False)
                                             for i, line in enumerate(summary.splitlines())],
                                  method="abstractive", language=detect_language(text, language), n_sentences=0,
                                  n_words=_count_words(text))
        else:
            summary = summarize_extractive(text, budget, language=language)
        label = "<stdin>" if name == "-" else name
        kept, total = summary.config.get("kept_tokens"), summary.config.get("document_tokens")
        if kept is not None and total is not None and kept < total:
            cut_notes.append(f"summarize: {label}: only the first {kept} of its {total} tokens "
                             "fit the model's context")
        records.append(summary_record(label, summary))
        header = f"==> {label} <==\n" if len(documents) > 1 else ""
        blocks.append(header + summary.text)
    note = "" if chosen == "abstractive" or model_dir is None else " (the model is not used)"
    for cut_note in cut_notes:
        print(cut_note, file=sys.stderr)
    print(f"summarize: {chosen} method{note}", file=sys.stderr)  # after success: errors stay one line
    if output_format == "json":
        payload = records[0] if len(records) == 1 else records
        return json.dumps(payload, ensure_ascii=False, indent=2) + "\n"
    return "\n\n".join(blocks) + "\n"


def write_output(result: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(result)
        sys.stdout.flush()
        return
    if not output.parent.is_dir():
        raise InputError(f"cannot write {output}: {output.parent} does not exist",
                         "create the directory first")
    output.write_text(result, encoding="utf-8")


def register(app: typer.Typer) -> None:
    @app.command("summarize")
    def summarize(
        files: list[str] = typer.Argument(None, help="Text files to summarize; - reads stdin."),
        model: str = typer.Option(None, "--model", help="Model name (models/NAME/) or directory."),
        method: str = typer.Option("auto", "--method", help="auto, extractive or abstractive."),
        sentences: int = typer.Option(None, "--sentences", help="Number of sentences (default 5)."),
        ratio: float = typer.Option(None, "--ratio", help="Fraction of the document's sentences."),
        max_words: int = typer.Option(None, "--max-words",
                                      help="Hard word budget (a CJK character counts as a word)."),
        language: str = typer.Option("auto", "--language",
                                     help="auto, en or zh (reported; mixed text is handled either way)."),
        output_format: str = typer.Option("text", "--format", help="text or json."),
        output: Path = typer.Option(None, "--output", help="Write here instead of stdout."),
        max_new_tokens: int = typer.Option(None, "--max-new-tokens",
                                           help="Abstractive: most tokens generated "
                                                "(default: an eighth of the model's context)."),
        num_beams: int = typer.Option(None, "--num-beams",
                                      help="Abstractive: beam search width (default 1 = greedy)."),
        no_repeat_ngram: int = typer.Option(None, "--no-repeat-ngram",
                                            help="Abstractive: forbid repeating an n-gram of the "
                                                 "summary (0 = off; default: 0 for byte models, "
                                                 "4 for SentencePiece ones)."),
        repetition_penalty: float = typer.Option(None, "--repetition-penalty",
                                                 help="Abstractive: >= 1; divides the logits of "
                                                      "tokens already generated (default 1 = off)."),
        n_hashes: int = typer.Option(None, "--n-hashes",
                                     help="Abstractive: LSH hash rounds while reading the document "
                                          "(default: as trained; more rounds miss less)."),
    ) -> None:
        """Summarize documents: one sentence a line, in document order."""
        decoding = {"max_new_tokens": max_new_tokens, "num_beams": num_beams, "n_hashes": n_hashes,
                    "no_repeat_ngram_size": no_repeat_ngram,
                    "repetition_penalty": repetition_penalty}
        decoding = {key: value for key, value in decoding.items() if value is not None}
        write_output(run_summarize(files or [], model, method, sentences, ratio, max_words,
                                   language, output_format, output, decoding or None), output)
