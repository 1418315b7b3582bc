"""The on-disk format of a shard entry (entries.py): raw token files, one JSON index, atomic
writes.

A shard is a headerless little-endian array of token ids (uint16 when every id fits, else
uint32), as nanoGPT's train.bin. `index.json` names the shards, the files they came from (size,
mtime, checksums), the tokenizer's fingerprint and the format version. Every file is written to
a temporary name, fsynced and renamed, and the index last: a shard that no index lists is never
read, so a run killed at any moment leaves nothing a later run trusts.
"""

from __future__ import annotations

import errno
import json
import os
import uuid
from pathlib import Path
from typing import Callable

from reformer_cli.errors import InputError, ResourceError

FORMAT_VERSION = 1
INDEX_FILE = "index.json"
TOKENIZER_FILE = "tokenizer.model"  # a SentencePiece model trained for the shards
LOCK_FILE = ".lock"
TMP_SUFFIX = ".tmp"
SHARD_SUFFIXES = (".u16", ".u32")
FORMAT_NAME = "reformer token shards"

Writer = Callable[[object, bytes], None]  # (open binary file, data): the one place bytes go out


def token_dtype(vocab_size: int) -> str:
    """uint16 when every id fits (vocabularies up to 65,536), else uint32."""
    return "uint16" if vocab_size <= 1 << 16 else "uint32"


def new_shard_name(dtype: str) -> str:
    """A fresh, unique shard file name: the index, not the name, says what a shard holds."""
    return uuid.uuid4().hex[:20] + (".u16" if dtype == "uint16" else ".u32")


def plain_write(file, data: bytes) -> None:
    file.write(data)


def write_file_atomically(path: Path, data: bytes | memoryview, write: Writer = plain_write,
                          what: str = "token shards") -> None:
    """Write `data` to a temporary name beside `path`, fsync, then rename it over `path`.

    A full disk or any other OSError removes the temporary file and becomes one ResourceError
    that names `what` was being written.
    """
    temp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}{TMP_SUFFIX}")
    try:
        with open(temp, "wb") as file:
            write(file, data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except OSError as error:
        temp.unlink(missing_ok=True)
        raise disk_error(path.parent, error, what) from None


def disk_error(folder: Path, error: OSError, what: str = "token shards") -> ResourceError:
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return ResourceError(f"the disk holding {folder} is full while writing {what} "
                             "(nothing half-written is kept)",
                             "free some space, or put them on a larger disk with --data-cache DIR")
    return ResourceError(f"cannot write {what} in {folder}: {error.strerror or error}",
                         "check the folder's permissions, or choose another with --data-cache DIR")


def write_index(folder: Path, index: dict, write: Writer = plain_write) -> None:
    payload = json.dumps(dict(index, format=FORMAT_NAME, format_version=FORMAT_VERSION),
                         indent=1).encode("utf-8") + b"\n"
    write_file_atomically(folder / INDEX_FILE, payload, write)


def read_index(folder: Path) -> dict | None:
    """The index of a shard folder, None when there is none yet (or it is unreadable), or an
    InputError when the folder holds something else or another format version."""
    path = folder / INDEX_FILE
    if not path.is_file():
        return None
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None  # never complete (it is renamed into place whole): treat as absent
    if not isinstance(index, dict) or index.get("format") != FORMAT_NAME:
        raise InputError(f"{folder} holds an {INDEX_FILE} that is not a token-shard index",
                         "choose an empty or dedicated folder for --data-cache")
    if index.get("format_version") != FORMAT_VERSION:
        raise OutdatedCache(folder, index.get("format_version"))
    return index


class OutdatedCache(InputError):
    """A shard folder written by another version of the tool: re-encoded, with a note."""

    def __init__(self, folder: Path, version):
        super().__init__(f"{folder} holds token shards of format version {version!r}, this "
                         f"version reads {FORMAT_VERSION}; re-encoding the corpus")


def remove_unlisted(folder: Path, keep: set[str]) -> None:
    """Delete the shard and temporary files of ours that the index does not list (stale shards,
    leftovers of a killed run). Files of any other kind are never touched."""
    for path in folder.iterdir():
        ours = path.suffix in SHARD_SUFFIXES or path.name.endswith(TMP_SUFFIX)
        if ours and path.is_file() and path.name not in keep:
            path.unlink(missing_ok=True)

