"""What a checkpoint folder holds, and the names every part of the checkpoint code shares.

A checkpoint folder holds
    config.yaml                 the whole resolved RunConfig + format_version + reformer_version
    model.safetensors           model.state_dict() (a tied weight stored once, its alias in metadata)
    tokenizer.model | .json     whatever the tokenizer's save() writes
    training_state.safetensors  every tensor of the training state (optimizer moments, RNG states)
    training_state.json         the rest of the training state, with references to those tensors
    manifest.json               format version, step, and the size and SHA-256 of every file above

A run folder (models/<name>/) holds step-000200/ ... (the last K) and final/, plus the run's
config.yaml and metrics.jsonl; superseded-<step>-<time>/ holds the checkpoints of a branch that
a resume from an older step abandoned, and .run.lock marks the folder as being trained.

Writes go to a temporary folder in the same parent, every file and the folder are fsynced, then
one os.replace() makes the checkpoint appear: a crash or kill -9 at any moment leaves either the
old set of checkpoints or the new one, never a half-written folder under a checkpoint's name.
Loading uses safetensors, YAML and JSON only: never pickle, never torch.load.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import yaml

from reformer_cli import __version__

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
SUPERSEDED_PREFIX = "superseded-"  # checkpoints moved aside by a resume from an older step
# superseded-<step>-<YYYYmmdd>-<HHMMSS>[-<n>], as branches.py names them (not a run named so)
SUPERSEDED_PATTERN = re.compile(rf"^{SUPERSEDED_PREFIX}\d+-\d{{8}}-\d{{6}}(-\d+)?$")
RUN_LOCK_FILE = ".run.lock"  # not shards' ".lock": a run may keep its shards in its own folder


def step_dir_name(step: int) -> str:
    return f"step-{step:06d}"


def config_text(config) -> str:
    """A RunConfig as the YAML of a checkpoint's (or run folder's) config.yaml."""
    document = {"format_version": FORMAT_VERSION, "reformer_version": __version__,
                **config.to_dict()}
    return yaml.safe_dump(document, sort_keys=False)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
