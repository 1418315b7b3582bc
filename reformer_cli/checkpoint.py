"""Checkpoints: self-describing folders, written atomically, loaded without executing code.

A checkpoint folder holds
    config.yaml                 the whole resolved RunConfig + format_version + reformer_version
    model.safetensors           model.state_dict() (a tied weight stored once, its alias in metadata)
    tokenizer.model | .json     whatever the tokenizer's save() writes
    training_state.safetensors  every tensor of the training state (optimizer moments, RNG states)
    training_state.json         the rest of the training state, with references to those tensors
    manifest.json               format version, step, and the size and SHA-256 of every file above

A run folder (models/<name>/) holds step-000200/ ... (the last K) and final/, plus the run's
config.yaml and metrics.jsonl. Writes go to a temporary folder in the same parent, every file and
the folder are fsynced, then one os.replace() makes the checkpoint appear: a crash or kill -9 at any
moment leaves either the old set of checkpoints or the new one, never a half-written folder under a
checkpoint's name. Loading uses safetensors, YAML and JSON only: never pickle, never torch.load.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from reformer_cli import __version__
from reformer_cli.errors import CheckpointError, ReformerError
from reformer_cli.state_codec import load_nested, save_nested

FORMAT_VERSION = 2  # 2: rotary positions pair dimensions (2i, 2i+1) instead of (i, i + d/2)
MODELS_DIR = "models"
FINAL_NAME = "final"
STEP_PATTERN = re.compile(r"^step-(\d+)$")
MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.yaml"
MANIFEST_FILE = "manifest.json"
STATE_JSON = "training_state.json"
STATE_TENSORS = "training_state.safetensors"
TMP_PREFIX = ".tmp-"
OLD_PREFIX = ".old-"


def step_dir_name(step: int) -> str:
    return f"step-{step:06d}"


# ---------------------------------------------------------------------------------------------
# Writing


def save_checkpoint(target: str | Path, *, config, model, tokenizer, step: int,
                    training_state: dict | None = None) -> Path:
    """Write a complete checkpoint folder at `target` atomically and return its path.

    `config` is a RunConfig, `training_state` any nested dict of tensors, numpy arrays and plain
    values (optimizer.state_dict(), RNG states, sampler state, ...). An existing `target` is
    replaced only once the new folder is complete.
    """
    def write(folder: Path) -> None:
        config_dict = {"format_version": FORMAT_VERSION, "reformer_version": __version__,
                       **config.to_dict()}
        (folder / CONFIG_FILE).write_text(yaml.safe_dump(config_dict, sort_keys=False),
                                          encoding="utf-8")
        _save_model_state(model, folder / MODEL_FILE)
        tokenizer.save(folder)
        if training_state is not None:
            save_nested(training_state, folder / STATE_JSON, folder / STATE_TENSORS)

    return write_atomically(Path(target), write, step=step)


def write_run_config(run_dir: str | Path, config) -> Path:
    """The run folder's own config.yaml (the config of the latest start), replaced atomically."""
    path = Path(run_dir) / CONFIG_FILE
    temp = path.with_name(f"{TMP_PREFIX}{CONFIG_FILE}-{uuid.uuid4().hex[:8]}")
    config_dict = {"format_version": FORMAT_VERSION, "reformer_version": __version__, **config.to_dict()}
    temp.write_text(yaml.safe_dump(config_dict, sort_keys=False), encoding="utf-8")
    _fsync_path(temp)
    os.replace(temp, path)
    return path


def write_atomically(target: Path, write: Callable[[Path], None], step: int) -> Path:
    """Run `write(temp_folder)`, add the manifest, fsync, and rename the folder to `target`."""
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    temp = parent / f"{TMP_PREFIX}{target.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    temp.mkdir()
    try:
        write(temp)
        files = sorted(p.name for p in temp.iterdir() if p.is_file())
        manifest = {"format_version": FORMAT_VERSION, "reformer_version": __version__, "step": step,
                    "files": {name: {"bytes": (temp / name).stat().st_size,
                                     "sha256": _sha256(temp / name)} for name in files}}
        (temp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        for name in files + [MANIFEST_FILE]:
            _fsync_path(temp / name)
        _fsync_path(temp)
        old = None
        if target.exists():
            # Directories cannot be replaced in one rename: move the old one aside first. Until
            # the second rename, list_checkpoints() still finds the old folder under its new name.
            old = parent / f"{OLD_PREFIX}{target.name}-{uuid.uuid4().hex[:8]}"
            os.replace(target, old)
        os.replace(temp, target)
        _fsync_path(parent)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    if old is not None:
        _delete_folder(old)
    return target


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _save_model_state(model, path: Path) -> None:
    """Save the state dict; tensors sharing storage are stored once and named as aliases."""
    from safetensors.torch import save_file

    tensors, aliases, seen = {}, {}, {}
    for name, tensor in model.state_dict().items():
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape),
               tensor.stride()) if tensor.numel() else None
        if key is not None and key in seen:
            aliases[name] = seen[key]
            continue
        if key is not None:
            seen[key] = name
        tensors[name] = tensor.detach().to("cpu").contiguous()
    save_file(tensors, str(path), metadata={"aliases": json.dumps(aliases)})


# ---------------------------------------------------------------------------------------------
# Finding checkpoints


def is_checkpoint_dir(path: Path) -> bool:
    return path.is_dir() and (path / MANIFEST_FILE).exists()


def list_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints of a run folder as (step, path), oldest first (final/ after a tie).

    A folder moved aside by an interrupted replace (".old-NAME-*") counts when NAME is missing.
    Temporary folders and folders without a readable manifest are not checkpoints.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = []
    for child in run_dir.iterdir():
        name = child.name
        if name.startswith(OLD_PREFIX):
            name = name[len(OLD_PREFIX):].rsplit("-", 1)[0]
            if (run_dir / name).exists():
                continue
        if not (name == FINAL_NAME or STEP_PATTERN.match(name)) or not child.is_dir():
            continue
        try:
            step = int(json.loads((child / MANIFEST_FILE).read_text(encoding="utf-8"))["step"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        found.append((step, name == FINAL_NAME, child))
    found.sort(key=lambda item: (item[0], item[1]))
    return [(step, path) for step, _, path in found]


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
        _delete_folder(path)
    return doomed


def _delete_folder(path: Path) -> None:
    """Rename first, then delete: a kill mid-delete never leaves a half-deleted checkpoint under
    a checkpoint's name (the temporary name is cleaned up by remove_stale_temporaries)."""
    doomed = path.with_name(f"{TMP_PREFIX}deleting-{path.name}-{uuid.uuid4().hex[:8]}")
    os.replace(path, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def remove_stale_temporaries(run_dir: str | Path) -> None:
    """Delete temporary and superseded folders left by a killed writer (only as the run's owner)."""
    run_dir = Path(run_dir)
    if run_dir.is_dir():
        for child in run_dir.iterdir():
            superseded = (child.name.startswith(OLD_PREFIX) and
                          (run_dir / child.name[len(OLD_PREFIX):].rsplit("-", 1)[0]).exists())
            if child.name.startswith(TMP_PREFIX) or superseded:
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)


def resolve_model_dir(name_or_dir: str | Path) -> Path:
    """A checkpoint folder, a run folder (→ its newest checkpoint), or a bare run name (→ models/NAME)."""
    path = Path(name_or_dir)
    candidates = [path]
    if len(path.parts) == 1 and not path.exists():
        candidates.append(Path(MODELS_DIR) / path)
    for candidate in candidates:
        if not candidate.is_dir():
            continue
        if is_checkpoint_dir(candidate) or (candidate / MODEL_FILE).exists():
            return candidate
        newest = latest_checkpoint(candidate)
        if newest is not None:
            return newest
        raise CheckpointError(f"{candidate} holds no complete checkpoint (no final/ or step-*/ "
                              "folder with a manifest)", "train a model first with `reformer train`")
    where = " or ".join(str(c) for c in candidates)
    raise CheckpointError(f"no model found at {where}",
                          "give a run name from models/, a run folder or a checkpoint folder")


# ---------------------------------------------------------------------------------------------
# Reading


def verify_checkpoint(path: Path) -> dict:
    """Check every file against the manifest; return the manifest. Raises CheckpointError."""
    manifest_file = path / MANIFEST_FILE
    if not path.is_dir():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if not manifest_file.exists():
        hint = ("it looks like a pickle checkpoint, which is never loaded because unpickling runs code"
                if any(path.glob("*.pt")) or any(path.glob("*.bin")) else
                "it is incomplete or not a reformer checkpoint")
        raise CheckpointError(f"checkpoint {path} has no {MANIFEST_FILE}", hint)
    try:
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        version, files = manifest["format_version"], manifest["files"]
    except (OSError, ValueError, KeyError, TypeError):
        raise CheckpointError(f"checkpoint {path} has an unreadable {MANIFEST_FILE}",
                              "the checkpoint is corrupt; use an older one") from None
    _check_version(path, version, manifest.get("reformer_version"))
    for name, expected in files.items():
        file = path / name
        if not file.is_file():
            raise CheckpointError(f"checkpoint {path} is missing {name}", "the checkpoint is incomplete")
        size = file.stat().st_size
        if size != expected.get("bytes"):
            raise CheckpointError(f"checkpoint {path} is truncated or corrupt: {name} has {size} "
                                  f"bytes, expected {expected.get('bytes')}", "use an older checkpoint")
        if _sha256(file) != expected.get("sha256"):
            raise CheckpointError(f"checkpoint {path} is corrupt: {name} does not match its checksum",
                                  "use an older checkpoint")
    return manifest


def _check_version(path: Path, version, made_by) -> None:
    if version != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {version!r} (made by reformer "
                              f"{made_by or 'unknown'}); this reformer {__version__} reads version "
                              f"{FORMAT_VERSION}", "retrain, or load it with the matching version")


def load_config(path: Path):
    """The RunConfig saved in a checkpoint folder."""
    from reformer_cli.config_loading import RunConfig

    try:
        raw = yaml.safe_load((path / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise CheckpointError(f"cannot read {path / CONFIG_FILE}: {str(error).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path / CONFIG_FILE} does not hold a run configuration")
    _check_version(path, raw.get("format_version"), raw.get("reformer_version"))
    try:
        return RunConfig.from_dict(raw, source=str(path / CONFIG_FILE))
    except ReformerError as error:
        raise CheckpointError(f"checkpoint {path} has an incompatible config: {error.one_line()}") from None


def read_model_state(path: Path) -> dict:
    """The model's state dict (CPU tensors), aliases restored."""
    from safetensors import safe_open

    try:
        tensors = {}
        with safe_open(str(path / MODEL_FILE), framework="pt", device="cpu") as handle:
            aliases = json.loads((handle.metadata() or {}).get("aliases", "{}"))
            for name in handle.keys():
                tensors[name] = handle.get_tensor(name)
        for alias, original in aliases.items():
            tensors[alias] = tensors[original]
    except Exception as error:  # safetensors raises its own error types for malformed files
        raise CheckpointError(f"cannot read {path / MODEL_FILE}: {str(error).splitlines()[0]}",
                              "the checkpoint is corrupt; use an older one") from None
    return tensors


def read_training_state(path: Path) -> dict:
    """The nested training state saved with the checkpoint (tensors on the CPU)."""
    if not (path / STATE_JSON).exists():
        raise CheckpointError(f"checkpoint {path} has no training state", "it can be loaded for "
                              "inference but not resumed; start a new run")
    try:
        return load_nested(path / STATE_JSON, path / STATE_TENSORS)
    except Exception as error:
        raise CheckpointError(f"cannot read the training state in {path}: "
                              f"{str(error).splitlines()[0]}", "the checkpoint is corrupt") from None


def load_model_state(model, path: Path) -> None:
    """Copy the saved weights into `model`; a shape or name mismatch is a CheckpointError."""
    state = read_model_state(path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        first = " ".join(str(error).split())[:300]
        raise CheckpointError(f"checkpoint {path} does not fit the model: {first}",
                              "the checkpoint was made by an incompatible version") from None


@dataclass
class LoadedModel:
    model: Any  # ReformerLM in eval mode
    tokenizer: Any
    config: Any  # RunConfig
    path: Path


def load_model(name_or_dir: str | Path, device="cpu") -> LoadedModel:
    """Rebuild the model, its tokenizer and config from a checkpoint; weights verified first."""
    from reformer_cli.core.model import ReformerLM
    from reformer_cli.text.tokenizer import load_tokenizer

    path = resolve_model_dir(name_or_dir)
    verify_checkpoint(path)
    config = load_config(path)
    try:
        tokenizer = load_tokenizer(path)
    except ReformerError as error:
        raise CheckpointError(f"cannot load the tokenizer of {path}: {error.one_line()}") from None
    if tokenizer.vocab_size > config.model.vocab_size:
        raise CheckpointError(f"checkpoint {path}: tokenizer has {tokenizer.vocab_size} tokens but "
                              f"the model only {config.model.vocab_size}", "the checkpoint is inconsistent")
    model = ReformerLM(config.model)
    load_model_state(model, path)
    model.to(device).eval()
    return LoadedModel(model=model, tokenizer=tokenizer, config=config, path=path)
