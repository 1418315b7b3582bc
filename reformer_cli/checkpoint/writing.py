"""Writing checkpoints: a temporary folder, every file and the folder fsynced, then one rename.

A crash or kill -9 at any moment leaves either the old set of checkpoints or the new one, never
a half-written folder under a checkpoint's name.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Callable

from reformer_cli import __version__
from reformer_cli.checkpoint.finding import delete_folder
from reformer_cli.checkpoint.layout import (
    CONFIG_FILE,
    FORMAT_VERSION,
    MANIFEST_FILE,
    MODEL_FILE,
    OLD_PREFIX,
    STATE_JSON,
    STATE_TENSORS,
    TMP_PREFIX,
    config_text,
    file_sha256,
)
from reformer_cli.checkpoint.state_codec import save_nested


def save_checkpoint(target: str | Path, *, config, model, tokenizer, step: int,
                    training_state: dict | None = None) -> Path:
    """Write a complete checkpoint folder at `target` atomically and return its path.

    `config` is a RunConfig, `training_state` any nested dict of tensors, numpy arrays and plain
    values (optimizer.state_dict(), RNG states, sampler state, ...). An existing `target` is
    replaced only once the new folder is complete.
    """
    def write(folder: Path) -> None:
        (folder / CONFIG_FILE).write_text(config_text(config), encoding="utf-8")
        _save_model_state(model, folder / MODEL_FILE)
        tokenizer.save(folder)
        if training_state is not None:
            save_nested(training_state, folder / STATE_JSON, folder / STATE_TENSORS)

    return write_atomically(Path(target), write, step=step)


def save_inference_copy(source: str | Path, target: str | Path, dtype: str = "float16") -> Path:
    """A checkpoint folder for inference only: the model of `source` with its parameters stored
    in `dtype` (half the size in fp16), its config and tokenizer, no training state. Loading
    copies the weights into an fp32 model, so it runs as trained, to fp16 rounding."""
    import torch

    from reformer_cli.checkpoint.reading import load_model

    loaded = load_model(source)  # verified against its manifest
    for parameter in loaded.model.parameters():  # a tied weight is one parameter: cast once
        parameter.data = parameter.data.to(getattr(torch, dtype))
    step = json.loads((loaded.path / MANIFEST_FILE).read_text(encoding="utf-8")).get("step", 0)
    return save_checkpoint(target, config=loaded.config, model=loaded.model,
                           tokenizer=loaded.tokenizer, step=step)


def write_run_config(run_dir: str | Path, config) -> Path:
    """The run folder's own config.yaml (the config of the latest start), replaced atomically."""
    path = Path(run_dir) / CONFIG_FILE
    temp = path.with_name(f"{TMP_PREFIX}{CONFIG_FILE}-{uuid.uuid4().hex[:8]}")
    temp.write_text(config_text(config), encoding="utf-8")
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
                                     "sha256": file_sha256(temp / name)} for name in files}}
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
        delete_folder(old)
    return target


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
