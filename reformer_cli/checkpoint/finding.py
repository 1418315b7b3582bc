"""Finding checkpoints in run folders, resolving a model name, and clearing what a killed writer
left behind."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

from reformer_cli.checkpoint.layout import (
    FINAL_NAME,
    MANIFEST_FILE,
    MODEL_FILE,
    MODELS_DIR,
    OLD_PREFIX,
    STEP_PATTERN,
    TMP_PREFIX,
)
from reformer_cli.errors import CheckpointError


def is_checkpoint_dir(path: Path) -> bool:
    return path.is_dir() and (path / MANIFEST_FILE).exists()


def list_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints of a run folder as (step, path), oldest first (final/ after a tie).

    A folder moved aside by an interrupted replace (".old-NAME-*") counts when NAME is missing.
    Temporary folders and folders without a readable manifest are not checkpoints, and the
    superseded-* folders that keep an abandoned branch (branches.py) are not looked into.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = []
    for child in run_dir.iterdir():
        name = checkpoint_name(child)
        if name != child.name and (run_dir / name).exists():
            continue
        if not (name == FINAL_NAME or STEP_PATTERN.match(name)) or not child.is_dir():
            continue
        step = checkpoint_step(child)
        if step is None:
            continue
        found.append((step, name == FINAL_NAME, child))
    found.sort(key=lambda item: (item[0], item[1]))
    return [(step, path) for step, _, path in found]


def checkpoint_name(path: Path) -> str:
    """The name a folder has as a checkpoint: ".old-final-1234abcd" (moved aside by an
    interrupted replace) is final."""
    name = path.name
    return name[len(OLD_PREFIX):].rsplit("-", 1)[0] if name.startswith(OLD_PREFIX) else name


def checkpoint_step(path: Path) -> int | None:
    """The step a checkpoint folder's manifest records, or None without a readable one."""
    try:
        return int(json.loads((Path(path) / MANIFEST_FILE).read_text(encoding="utf-8"))["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The checkpoint with the highest step (final/ wins a tie), or None."""
    checkpoints = list_checkpoints(run_dir)
    return checkpoints[-1][1] if checkpoints else None


def prune_step_checkpoints(run_dir: str | Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` step-* checkpoints (final/ is never deleted)."""
    steps = [(step, path) for step, path in list_checkpoints(run_dir)
             if STEP_PATTERN.match(path.name)]
    doomed = [path for _, path in steps[:max(len(steps) - keep, 0)]]
    for path in doomed:
        delete_folder(path)
    return doomed


def delete_folder(path: Path) -> None:
    """Rename first, then delete: a kill mid-delete never leaves a half-deleted checkpoint under
    a checkpoint's name (the temporary name is cleaned up by remove_stale_temporaries)."""
    doomed = path.with_name(f"{TMP_PREFIX}deleting-{path.name}-{uuid.uuid4().hex[:8]}")
    os.replace(path, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def remove_stale_temporaries(run_dir: str | Path) -> None:
    """Delete temporary folders, and old copies of replaced checkpoints, left by a killed writer
    (only as the run's owner)."""
    run_dir = Path(run_dir)
    if run_dir.is_dir():
        for child in run_dir.iterdir():
            replaced = (child.name.startswith(OLD_PREFIX) and
                        (run_dir / checkpoint_name(child)).exists())
            if child.name.startswith(TMP_PREFIX) or replaced:
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)


def named_run_folder(name_or_dir: str | Path) -> Path | None:
    """The folder `name_or_dir` names (as resolve_model_dir reads it) when that folder is not
    itself a checkpoint: a run folder, whose newest checkpoint is for the caller to find."""
    for candidate in _named_paths(name_or_dir):
        if candidate.is_dir():
            return None if _is_model_folder(candidate) else candidate
    return None


def _named_paths(name_or_dir: str | Path) -> list[Path]:
    """The path itself, then for a bare name that is no path here, models/NAME."""
    path = Path(name_or_dir)
    if len(path.parts) == 1 and not path.exists():
        return [path, Path(MODELS_DIR) / path]
    return [path]


def _is_model_folder(path: Path) -> bool:
    return is_checkpoint_dir(path) or (path / MODEL_FILE).exists()


def resolve_model_dir(name_or_dir: str | Path) -> Path:
    """A checkpoint folder, a run folder (→ its newest checkpoint), or a bare run name (→ models/NAME)."""
    candidates = _named_paths(name_or_dir)
    for candidate in candidates:
        if not candidate.is_dir():
            continue
        if _is_model_folder(candidate):
            return candidate
        newest = latest_checkpoint(candidate)
        if newest is not None:
            return newest
        raise CheckpointError(f"{candidate} holds no complete checkpoint (no final/ or step-*/ "
                              "folder with a manifest)", "train a model first with `reformer train`")
    where = " or ".join(str(c) for c in candidates)
    raise CheckpointError(f"no model found at {where}",
                          "give a run name from models/, a run folder or a checkpoint folder")
