"""The training files of a run: recorded at every start (data.inputs in config.yaml, with
data.val_path and data.encoding beside it), and found again by a resume given no PATH.

Paths are recorded as os.path.abspath makes them (not resolved through links), the form that
names a corpus's shard entry (shards/entries.py): a resume from the recorded paths maps the
shards its first run made, and reads the same tokens in the same order as one given the files.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Callable

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


def _resume_command(paths: str, resume: str | None, run_dir: Path) -> str:
    """The `reformer train` that resumes this run given `paths`: `--resume auto` finds its run
    by --out (or --name), so it names the folder it looked in."""
    where = f" --out {shlex.quote(str(run_dir))}" if resume == "auto" else ""
    return f"reformer train {paths} --resume {shlex.quote(str(resume))}{where}"
