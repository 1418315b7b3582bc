"""Which summarizer runs: the user's --method, the task the --model was trained for, and without
--model the model shipped for the document's language (reformer_cli/shipped_models).

One home for the choice and for building the summarizer, so `reformer summarize` and `reformer
eval` agree. Only the model methods import torch, when they are built."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from reformer_cli.errors import InputError
from reformer_cli.shipped_models import SUMMARIZERS, shipped_summarizer
from reformer_cli.summarize.summary import NO_SUMMARIZER_TASK, NOT_A_SUMMARIZER, Progress, detect_language

METHODS = ("auto", "extractive", "learned", "abstractive")
METHOD_OF_TASK = {"summarize": "abstractive", "extract": "learned"}  # what auto runs for a model
NEEDS_A_MODEL = {"abstractive": NOT_A_SUMMARIZER}  # learned without --model: the shipped one


def choose_method(method: str, model_dir: Path | None) -> str:
    """auto: the method the model was trained for (abstractive for --task summarize, learned for
    --task extract); a model trained for neither is an error, since a user who names a model
    means it to be used. Without a model, auto stays auto: each document gets its language's
    shipped model, if any."""
    from reformer_cli.checkpoint import load_config

    if method not in METHODS:
        raise InputError(f"unknown method {method!r}", f"use one of {', '.join(METHODS)}")
    if method in NEEDS_A_MODEL and model_dir is None:
        raise InputError(NEEDS_A_MODEL[method], "pass --model or use --method extractive")
    if method != "auto":
        return method
    if model_dir is None:
        return "auto"
    task = load_config(model_dir).data.task
    if task not in METHOD_OF_TASK:
        raise InputError(f"{NO_SUMMARIZER_TASK}; the model at {model_dir} was trained with "
                         f"--task {task}", "pass such a model, or drop --model")
    return METHOD_OF_TASK[task]


def summarizer(method: str, model_dir: Path | None, device_name: str = "auto",
               decoding: dict | None = None) -> Callable:
    """A (text, SummarizeOptions, progress=None) -> Summary function for a chosen method. A
    model method resolves the device and loads the model here, so a wrong model fails before
    any document. Auto or learned without a model use the model shipped for each document's
    language. Only the learned method reports progress (the document's windows read); the
    model-free method is quick, and the abstractive one does not report yet."""
    if method == "extractive":
        from reformer_cli.summarize.extractive import summarize_extractive

        return lambda text, options, progress=None: summarize_extractive(text, options.budget,
                                                                         options.language)
    if model_dir is None and method in ("auto", "learned"):
        return _shipped_model_summarizer(method == "learned", device_name)
    from reformer_cli.config.device import resolve_device

    device = resolve_device(device_name)  # as `continue --device`: unavailable = one line
    if method == "learned":
        from reformer_cli.summarize.learned import load_scorer, summarize_learned

        load_scorer(model_dir, device)
        return lambda text, options, progress=None: summarize_learned(text, model_dir, options,
                                                                      device, progress=progress)
    from reformer_cli.summarize.abstractive import load_summarizer, summarize_abstractive

    load_summarizer(model_dir, device)
    return lambda text, options, progress=None: summarize_abstractive(text, model_dir, options,
                                                                      decoding, device)


def _shipped_model_summarizer(model_required: bool, device_name: str) -> Callable:
    """Summarizes each document with the sentence scorer shipped for its language, loaded on
    first use; a language without one gets the model-free method, or with `model_required` (the
    learned method asked for by name) an error."""
    extractive = summarizer("extractive", None)
    by_language: dict[str, Callable] = {}

    def summarize(text, options, progress: Progress | None = None):
        language = detect_language(text, options.language)
        model_dir = shipped_summarizer(language)
        if model_dir is None:
            if model_required:
                which = "documents in this language" if language == "other" else f"{language} documents"
                raise InputError(f"no sentence scorer ships for {which} (only for "
                                 f"{', '.join(SUMMARIZERS)})",
                                 "pass --model M trained with --task extract, or use --method "
                                 "extractive")
            return extractive(text, options)
        if language not in by_language:
            by_language[language] = summarizer("learned", model_dir, device_name)
        return by_language[language](text, options, progress)

    return summarize
