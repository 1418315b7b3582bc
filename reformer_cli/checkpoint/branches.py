"""Resuming from an older checkpoint starts a new branch of the run: the run folder's later
checkpoints belong to the abandoned one. They are moved aside, never deleted, so that
`--resume auto`, pruning and model names follow the new branch while the old one stays loadable.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass
from pathlib import Path

from reformer_cli.checkpoint.finding import checkpoint_name, list_checkpoints
from reformer_cli.checkpoint.layout import SUPERSEDED_PATTERN, SUPERSEDED_PREFIX


@dataclass
class SetAside:
    folder: Path  # run_dir/superseded-<step>-<time>/
    names: list[str]  # the checkpoints moved there, oldest first


def set_aside_later_checkpoints(run_dir: str | Path, step: int) -> SetAside | None:
    """Move every checkpoint of `run_dir` with a step above `step` into a new folder inside
    it, each with one rename; None when there is none. Only the run folder's writer calls it."""
    run_dir = Path(run_dir)
    later = [path for found_step, path in list_checkpoints(run_dir) if found_step > step]
    if not later:
        return None
    folder = _new_folder(run_dir, step)
    names = []
    for path in later:
        name = checkpoint_name(path)  # an interrupted replace's ".old-final-*" goes as final
        target = folder / name if not (folder / name).exists() else folder / path.name
        os.replace(path, target)
        names.append(target.name)
    return SetAside(folder, names)


def archived_branch(checkpoint: str | Path) -> Path | None:
    """The superseded-*/ folder holding `checkpoint`, or None when it is not in one. Such a
    folder is an archive, never a run folder: nothing is trained into it."""
    folder = Path(checkpoint).parent
    return folder if SUPERSEDED_PATTERN.match(folder.name) else None


def _new_folder(run_dir: Path, step: int) -> Path:
    """superseded-<step>-<time>/, with a counter after a second one within the same second."""
    stem = f"{SUPERSEDED_PREFIX}{step}-{time.strftime('%Y%m%d-%H%M%S')}"
    for attempt in itertools.count(1):
        folder = run_dir / (stem if attempt == 1 else f"{stem}-{attempt}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
