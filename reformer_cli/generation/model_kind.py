"""Whether a trained model reads text left to right: the one check, and its message, for the
commands that need a causal language model (`continue`, and `eval` on held-out text). Read
from the checkpoint's config, so it runs before the weights load or a seed is drawn."""

from __future__ import annotations

from pathlib import Path

from reformer_cli.errors import InputError


def check_language_model(config, model_dir: Path, purpose: str, alternative: str = "") -> None:
    """An InputError unless `config` (a RunConfig) is causal. `purpose` names what needs it
    ("continuing a text"); `alternative`, if given, is one more way out for the hint."""
    if config.model.causal:
        return
    # bidirectional: each position sees the token it would have to predict
    raise InputError(f"{purpose} needs a causal language model; the model at {model_dir} was "
                     f"trained with --task {config.data.task} (causal: false)",
                     "pass a language model (--task lm)" + (f", or {alternative}" if alternative else ""))
