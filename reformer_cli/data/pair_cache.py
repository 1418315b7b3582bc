"""Prepared (document, summary) examples kept on disk, beside the token shards (data.cache, else
the run's data folder), so that a resumed run, the other ranks of a torchrun launch and another
run on the same pairs skip the minutes of labelling and tokenizing thousands of documents.

A file is named by a hash of everything its content depends on. Examples: the task, seq_len,
the tokenizer's fingerprint, the text of every training and validation pair in order, and the
source code of this package, which labels and cuts them. A SentencePiece model trained on the
pairs is kept too (its own file: the vocabulary size, the seed, the training pairs, the code), so
that a later start finds it, then the examples made with it; a resumed run, which takes its
tokenizer from the checkpoint, finds the same examples by the same fingerprint. Changed input
or code therefore misses and prepares afresh; nothing is ever invalidated in place. Since every
upgrade of the tool misses too, a folder keeps only the KEEP_FILES most recently used files of
each kind (a file read back counts as used): writing one deletes the older ones. Files are
compressed NumPy archives read with allow_pickle=False: loading one runs no code from it.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence, TypeVar

import numpy as np

from reformer_cli.shards.format import disk_error, write_file_atomically

CACHE_FORMAT = 1
EXAMPLES_PREFIX, TOKENIZER_PREFIX, FILE_SUFFIX = "pairs-", "pairs-tokenizer-", ".npz"
WHAT = "prepared pairs"  # in the message of a disk that refuses them
KEEP_FILES = 4  # of each kind (examples, tokenizers) per folder, the most recently used
# The names this module gives, by kind: nothing else in the folder is ever deleted.
KINDS = (re.compile(re.escape(EXAMPLES_PREFIX) + r"[0-9a-f]{32}" + re.escape(FILE_SUFFIX)),
         re.compile(re.escape(TOKENIZER_PREFIX) + r"[0-9a-f]{32}" + re.escape(FILE_SUFFIX)))
PACKAGE_DIR = Path(__file__).resolve().parents[1]
Pairs = Sequence[tuple[str, str]]
Stored = TypeVar("Stored")


@dataclass
class PreparedSplit:
    """One split's example rows and the counts its builder reported (examples.stat_names)."""

    inputs: np.ndarray  # (N, seq_len) token ids
    targets: np.ndarray  # (N, seq_len) target ids, IGNORE_INDEX where nothing is scored
    stats: dict[str, int]


@dataclass
class PreparedPairs:
    train: PreparedSplit
    val: PreparedSplit | None


@dataclass
class TrainedTokenizer:
    """A SentencePiece model trained on the pairs, and what its training adjusted."""

    model_proto: bytes
    notes: list[str] = field(default_factory=list)
    character_coverage: float | None = None


@functools.lru_cache(maxsize=1)
def package_source_hash() -> str:
    """sha256 of every module of the package: the labelling code the examples came from."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE_DIR)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def examples_key(task: str, seq_len: int, tokenizer_fingerprint: str, train_pairs: Pairs,
                 val_pairs: Pairs) -> str:
    """The name-giving hash of the examples these settings and pairs make."""
    return _content_key(["examples", task, int(seq_len), tokenizer_fingerprint], train_pairs, val_pairs)


def tokenizer_key(vocab_size: int, seed: int, train_pairs: Pairs) -> str:
    """The name-giving hash of the SentencePiece model trained on these pairs."""
    return _content_key(["sentencepiece", int(vocab_size), int(seed)], train_pairs, ())


def _content_key(settings: list, train_pairs: Pairs, val_pairs: Pairs) -> str:
    digest = hashlib.sha256(json.dumps([CACHE_FORMAT, *settings, package_source_hash(),
                                        len(train_pairs), len(val_pairs)]).encode())
    for document, summary in (*train_pairs, *val_pairs):
        for text in (document, summary):
            encoded = text.encode("utf-8", "surrogatepass")
            digest.update(len(encoded).to_bytes(8, "little") + encoded)
    return digest.hexdigest()[:32]


def examples_file(folder: Path, key: str) -> Path:
    return Path(folder) / f"{EXAMPLES_PREFIX}{key}{FILE_SUFFIX}"


def tokenizer_file(folder: Path, key: str) -> Path:
    return Path(folder) / f"{TOKENIZER_PREFIX}{key}{FILE_SUFFIX}"


def save_prepared(path: Path, prepared: PreparedPairs) -> None:
    """Write atomically (temporary file, then rename); a failure raises ResourceError."""
    meta, arrays = {"format": CACHE_FORMAT}, {}
    for name, split in (("train", prepared.train), ("val", prepared.val)):
        if split is None:
            meta[name] = None
            continue
        # The dtypes come back as built: the run's data fingerprint hashes the arrays' bytes.
        meta[name] = {"stats": split.stats, "inputs_dtype": split.inputs.dtype.str,
                      "targets_dtype": split.targets.dtype.str}
        arrays[f"{name}_inputs"] = _narrow(split.inputs)
        arrays[f"{name}_targets"] = _narrow(split.targets)
    _save_archive(path, meta, arrays)


def load_prepared(path: Path) -> PreparedPairs | None:
    """The examples stored at `path`; None when there is no such file or it cannot be read
    whole (a partial copy, another format): the caller prepares the pairs again."""
    def read(meta, archive):
        train, val = (_read_split(archive, name, meta[name]) for name in ("train", "val"))
        return None if train is None else PreparedPairs(train, val)

    return _read_archive(path, read)


def save_tokenizer(path: Path, tokenizer: TrainedTokenizer) -> None:
    meta = {"format": CACHE_FORMAT, "notes": tokenizer.notes,
            "character_coverage": tokenizer.character_coverage}
    _save_archive(path, meta, {"model_proto": np.frombuffer(tokenizer.model_proto, dtype=np.uint8)})


def load_tokenizer_record(path: Path) -> TrainedTokenizer | None:
    """The SentencePiece model stored at `path`, or None (as load_prepared)."""
    return _read_archive(path, lambda meta, archive: TrainedTokenizer(
        archive["model_proto"].tobytes(), [str(note) for note in meta["notes"]],
        meta["character_coverage"]))


def _save_archive(path: Path, meta: dict, arrays: dict) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, meta=_text_array(json.dumps(meta)), **arrays)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise disk_error(path.parent, error, WHAT) from None
    write_file_atomically(path, buffer.getbuffer(), what=WHAT)
    remove_least_recently_used(path)


def remove_least_recently_used(path: Path, keep: int = KEEP_FILES) -> list[Path]:
    """Delete the files of `path`'s kind in its folder beyond the `keep` most recently used
    (modified or read back; `path` itself is never deleted); returns what was deleted. A file
    that cannot be deleted stays: it costs disk, not the run."""
    kind = next((pattern for pattern in KINDS if pattern.fullmatch(path.name)), None)
    if kind is None:
        return []
    others = []
    for other in path.parent.iterdir():
        if other != path and kind.fullmatch(other.name):
            try:
                others.append((other.stat().st_mtime, other))
            except OSError:
                continue  # deleted meanwhile by another run
    deleted = []
    for _, other in sorted(others, reverse=True)[max(0, keep - 1):]:
        try:
            other.unlink()
            deleted.append(other)
        except OSError:
            pass
    return deleted


def _mark_used(path: Path) -> None:
    """Make a file read back the most recently used of its folder (a read-only folder: no)."""
    try:
        os.utime(path)
    except OSError:
        pass


def _read_archive(path: Path, read: Callable[[dict, object], Stored | None]) -> Stored | None:
    """read(meta, archive), or None for a missing, damaged or foreign file."""
    if not path.is_file():
        return None
    try:  # opened here: np.load leaves its own file open when the archive is cut short
        with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as archive:
            meta = json.loads(archive["meta"].tobytes().decode("utf-8"))
            if not isinstance(meta, dict) or meta.get("format") != CACHE_FORMAT:
                return None
            stored = read(meta, archive)
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError, zipfile.BadZipFile,
            EOFError):
        return None
    if stored is not None:
        _mark_used(path)
    return stored


def _read_split(archive, name: str, meta: dict | None) -> PreparedSplit | None:
    if meta is None:
        return None
    return PreparedSplit(archive[f"{name}_inputs"].astype(np.dtype(meta["inputs_dtype"])),
                         archive[f"{name}_targets"].astype(np.dtype(meta["targets_dtype"])),
                         {key: int(value) for key, value in meta["stats"].items()})


def _narrow(ids: np.ndarray) -> np.ndarray:
    """The smallest of int16/uint16/int32 that holds every id (a vocabulary under 65,536 and
    the loss's negative ignore index fit in two bytes): half the bytes or less."""
    for dtype in (np.int16, np.uint16, np.int32):
        limits = np.iinfo(dtype)
        if not ids.size or (limits.min <= ids.min() and ids.max() <= limits.max):
            return ids.astype(dtype, copy=False)
    raise ValueError(f"token ids up to {ids.max()} do not fit in int32")


def _text_array(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
