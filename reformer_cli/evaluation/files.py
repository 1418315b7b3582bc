"""What `reformer eval FILE` measures: pairs (a .jsonl or .jsonl.xz file, or JSONL on stdin:
evaluation/inputs.py decides) give the ROUGE of a summarizer's summaries against their
references; any other input is held-out text, scored by a causal language model in bits per
character and perplexity. Returns plain records; printing is the command's."""

from __future__ import annotations

import time
from pathlib import Path

from reformer_cli.config.checks import check_range
from reformer_cli.errors import InputError, no_such_file
from reformer_cli.evaluation.inputs import EvalInput, eval_input


def evaluate_file(name: str, model: str | None, method: str = "auto", device_name: str = "auto",
                  limit: int | None = None, encoding: str | None = None) -> dict:
    """The measurement of one file as a JSON-ready record (see the module doc); `encoding` None
    reads it by what its bytes say."""
    from reformer_cli.summarize.methods import METHODS
    from reformer_cli.text.encodings import check_encoding

    if method not in METHODS:
        raise InputError(f"unknown method {method!r}", f"use one of {', '.join(METHODS)}")
    if limit is not None:
        check_range("--limit", limit, low=1)
    check_encoding(encoding)  # before stdin is read or a model loaded
    source = eval_input(name, encoding)
    if source.is_pairs:
        return evaluate_pairs_file(source, model, method, device_name, limit)
    if model is None:
        raise InputError(f"scoring the text of {name} needs a model",
                         "pass --model M, or give a .jsonl pairs file to measure summaries")
    for flag, given in (("--method", method != "auto"), ("--limit", limit is not None)):
        if given:
            raise InputError(f"{flag} applies to pairs (.jsonl, .jsonl.xz, or JSONL on stdin), "
                             f"not to the text of {name}",
                             f"leave {flag} out to score the whole text with the model")
    return evaluate_text_file(source, model, device_name)


def summarizer_for(method: str, model_dir: Path | None, device_name: str = "auto",
                   used: dict | None = None):
    """A (document, length, language) -> summary text function for `method`, each summary asked
    for within `length` words (the dev sets' rule). A model of the wrong kind fails here. `used`,
    if given, collects the (method, model) that made each summary."""
    from reformer_cli.summarize.methods import summarizer
    from reformer_cli.summarize.selection import Budget
    from reformer_cli.summarize.summary import SummarizeOptions

    summarize = summarizer(method, model_dir, device_name)

    def summary_text(document: str, length: int, language: str) -> str:
        options = SummarizeOptions(budget=Budget(max_words=max(1, length)), language=language)
        summary = summarize(document, options)
        if used is not None:
            used[summary.made_by] = None
        return summary.text

    return summary_text


def evaluate_pairs_file(source: EvalInput, model: str | None, method: str, device_name: str,
                        limit: int | None) -> dict:
    from reformer_cli.checkpoint import resolve_model_dir
    from reformer_cli.evaluation.pairs import evaluate_summaries, pairs_from_records
    from reformer_cli.summarize.methods import choose_method

    name = source.name
    if source.stdin_data is None and not Path(name).is_file():
        raise no_such_file(name)
    model_dir = resolve_model_dir(model) if model else None
    chosen = choose_method(method, model_dir)
    used: dict = {}  # (method, model) of the summaries, in order: auto may mix languages
    summarize = summarizer_for(chosen, model_dir, device_name, used)
    pairs = pairs_from_records(source.records())[:limit]
    started = time.perf_counter()
    report = evaluate_summaries(pairs, summarize)
    methods = list(dict.fromkeys(method for method, _ in used)) or [chosen]
    models = list(dict.fromkeys(model for _, model in used if model))
    return {"file": name, "kind": "rouge", "method": "+".join(methods),
            "model": "+".join(models) or None,
            "n_pairs": report.n_pairs, **report.rouge,  # mean F1 x 100
            "seconds": round(time.perf_counter() - started, 3)}


def evaluate_text_file(source: EvalInput, model: str, device_name: str) -> dict:
    text = source.text()  # missing, empty, binary, undecodable: one line each
    from reformer_cli.checkpoint import load_config, load_model, resolve_model_dir
    from reformer_cli.config.device import resolve_device
    from reformer_cli.evaluation.perplexity import evaluate_text
    from reformer_cli.generation.model_kind import check_language_model

    model_dir = resolve_model_dir(model)
    check_language_model(load_config(model_dir), model_dir, "scoring held-out text",
                         "give pairs (.jsonl) to measure a summarizer")
    device = resolve_device(device_name)
    loaded = load_model(model_dir, device=device)
    report = evaluate_text(loaded, text, device)
    bits_name = "bits_per_byte" if report.unit == "byte" else "bits_per_char"
    return {"file": source.name, "kind": "text", "model": str(loaded.path), "device": str(device),
            "loss": report.loss, "perplexity": report.perplexity, bits_name: report.bits,
            "tokens": report.tokens, report.unit + "s": report.characters}
