"""Which summarizer runs: the user's --method and the task the --model was trained for.

One home for the choice, so `reformer summarize` and `reformer eval` agree."""

from __future__ import annotations

from pathlib import Path

from reformer_cli.errors import InputError
from reformer_cli.summarize.summary import NOT_A_SCORER, NOT_A_SUMMARIZER

METHODS = ("auto", "extractive", "learned", "abstractive")
METHOD_OF_TASK = {"summarize": "abstractive", "extract": "learned"}  # what auto runs for a model
NEEDS_A_MODEL = {"abstractive": NOT_A_SUMMARIZER, "learned": NOT_A_SCORER}


def choose_method(method: str, model_dir: Path | None, model_must_summarize: bool = False) -> str:
    """auto: the method the model was trained for (abstractive for --task summarize, learned for
    --task extract), the model-free extractive method otherwise; with `model_must_summarize` a
    model trained for neither is an error instead (eval measures the model it is given)."""
    from reformer_cli.checkpoint import load_config

    if method not in METHODS:
        raise InputError(f"unknown method {method!r}", f"use one of {', '.join(METHODS)}")
    if method in NEEDS_A_MODEL and model_dir is None:
        raise InputError(NEEDS_A_MODEL[method], "pass --model or use --method extractive")
    if method != "auto":
        return method
    if model_dir is None:
        return "extractive"
    task = load_config(model_dir).data.task
    if task not in METHOD_OF_TASK and model_must_summarize:
        raise InputError(f"{NOT_A_SUMMARIZER} (or --task extract); the model at {model_dir} was "
                         f"trained with --task {task}", "pass such a model, or use --method extractive")
    return METHOD_OF_TASK.get(task, "extractive")
