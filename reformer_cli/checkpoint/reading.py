"""Reading checkpoints: verified against the manifest, loaded from safetensors, YAML and JSON only
(never pickle, never torch.load), so loading cannot execute code."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from reformer_cli import __version__
from reformer_cli.checkpoint.finding import resolve_model_dir
from reformer_cli.checkpoint.layout import (
    CONFIG_FILE,
    FORMAT_VERSION,
    MANIFEST_FILE,
    MODEL_FILE,
    STATE_JSON,
    STATE_TENSORS,
    file_sha256,
)
from reformer_cli.checkpoint.state_codec import load_nested
from reformer_cli.errors import CheckpointError, ReformerError


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
        if file_sha256(file) != expected.get("sha256"):
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
    from reformer_cli.config.load import run_config_from_dict

    try:
        raw = yaml.safe_load((path / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise CheckpointError(f"cannot read {path / CONFIG_FILE}: {str(error).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path / CONFIG_FILE} does not hold a run configuration")
    _check_version(path, raw.get("format_version"), raw.get("reformer_version"))
    try:
        return run_config_from_dict(raw, source=str(path / CONFIG_FILE))
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
