"""The training files of a run: recorded at every start (data.inputs in config.yaml, with
data.val_path and data.encoding beside it), found again by a resume given no PATH, and what to
tell a user whose files (or lack of them) do not fit the run.

Paths are recorded as os.path.abspath makes them (not resolved through links), the form that
names a corpus's shard entry (shards/entries.py): a resume from the recorded paths maps the
shards its first run made, and reads the same tokens in the same order as one given the files.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Callable

from reformer_cli import checkpoint as ckpt
from reformer_cli.errors import InputError

STDIN = "-"


def recorded(paths: list[str]) -> list[str]:
    """The paths as a run records them: absolute, except stdin."""
    return [path if path == STDIN else os.path.abspath(path) for path in paths]


def record_inputs(config, paths: list[str]) -> None:
    """Write the run's inputs into its config (saved with the run folder and every checkpoint)."""
    config.data.inputs = recorded(paths)
    if config.data.val_path and config.data.val_path != STDIN:
        config.data.val_path = os.path.abspath(config.data.val_path)


def inputs_to_train_on(given: list[str], config, resume: str | None, resume_from: Path | None,
                       run_dir: Path, notify: Callable[[str], None]) -> list[str]:
    """PATH when given (a resume's recorded files differing from it is a note); else, resuming,
    the files the checkpoint's config recorded, each checked to still exist.

    `config` is the resolved config: on a resume, the checkpoint's with the command's settings
    on top, so its data.inputs are the recorded ones.
    """
    if given:
        if resume_from is not None and config.data.inputs and recorded(given) != config.data.inputs:
            notify(f"note: the training files given are not the ones {run_dir} recorded "
                   f"({', '.join(config.data.inputs)}); the run goes on if their text is the same")
        return list(given)
    again = _resume_command("FILES", resume, run_dir)
    if resume_from is None:  # --resume auto in a folder without checkpoints
        raise InputError(f"no run to resume in {run_dir}", f"pass training files to start one: {again}")
    inputs = config.data.inputs
    if not inputs:
        raise InputError(f"the run at {run_dir} does not record its training files (it predates "
                         "data.inputs in config.yaml)", f"pass them: {again}")
    if STDIN in inputs:
        raise InputError(f"the run at {run_dir} read its training text from stdin",
                         f"pass it again: {_resume_command('-', resume, run_dir)}")
    for path in inputs:
        if not os.path.exists(path):  # a file or a folder: gone, it cannot tell which
            raise InputError(f"the run's training input {path} is gone",
                             f"pass the training files again: {again}")
    val = config.data.val_path
    if val and val != STDIN and not os.path.exists(val):
        raise InputError(f"the run's validation file {val} is gone",
                         "pass another with --val FILE (or --set data.val_path=null to hold out "
                         "the corpus's tail)")
    return list(inputs)


def same_text_check(resume_from: Path | None, out: str | None) -> Callable[[str], None] | None:
    """For a resume, the check that the training data is the data its checkpoint was trained on
    (by its fingerprint), for the preparation to make at once: before the model is built, and
    while what it added to the data folder can still be removed again."""
    trained_on = _trained_on(resume_from) if resume_from is not None else ""
    if not trained_on:
        return None

    def check(fingerprint: str) -> None:
        if fingerprint != trained_on:
            raise text_differs(out)
    return check


def _trained_on(checkpoint: Path) -> str:
    """The data fingerprint in `checkpoint`'s training state ("" when it has none), read from
    its JSON alone (the tensors beside it are loaded later, with the model). The trainer
    checks it again when it loads that state."""
    try:
        state = json.loads((checkpoint / ckpt.STATE_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""  # the trainer says what is wrong with the checkpoint
    if not isinstance(state, dict):
        return ""
    return state.get("data_fingerprint") or ""


def run_without_files(run_dir: Path) -> InputError:
    """A new run given no PATH whose folder already holds a run: the user means to resume it."""
    return InputError(f"{run_dir} already holds a training run, and no training files were given",
                      f"continue it with the files it recorded: "
                      f"{_resume_command('', str(run_dir), run_dir)}")


def text_differs(out: str | None) -> InputError:
    """The text given to a resume is not the text the run was trained on (its data fingerprint)."""
    return InputError("the training text differs from the text this run was trained on",
                      f"resume with the same files, or start a new run with {new_run_option(out)}")


def new_run_option(out: str | None) -> str:
    """The option that starts a new run instead of this one: another --out where the command
    named its run folder so, else --name."""
    return "another --out" if out else "--name"


def _resume_command(paths: str, resume: str | None, run_dir: Path) -> str:
    """The `reformer train` that resumes this run given `paths` (none: the recorded ones):
    `--resume auto` finds its run by --out (or --name), so it names the folder it looked in."""
    where = f" --out {shlex.quote(str(run_dir))}" if resume == "auto" else ""
    return " ".join(["reformer train", *([paths] if paths else []),
                     f"--resume {shlex.quote(str(resume))}{where}"])
