"""Entries of a shard folder: one subfolder per corpus and tokenizer, so that a folder shared
with --data-cache keeps the shards of several corpora and tokenizers side by side.

An entry is named by two hashes: of the corpus (the input paths as given, made absolute, the
validation file, the encoding and the validation fraction) and of the tokenizer asked for (its
training settings, or a given one's fingerprint). The files' contents are not in the name: the
entry's index still checks every file (size, mtime, checksums) and re-encodes only what changed,
so an edited corpus updates its entry instead of adding one, and no run reads shards of other
text. A given tokenizer (a resume, --tokenizer-model) first looks for this corpus's entry that
it encoded, so a resume maps the shards its first run made. Nothing removes entries: the folder
grows by one entry per corpus and tokenizer (README, token shards, says how to clear it).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from reformer_cli.errors import InputError
from reformer_cli.shards import format as fmt

NAME_HASH_CHARS = 12  # per half of an entry's name


def entry_folder(folder: Path, paths: list[str], data, seed: int, tokenizer=None) -> Path:
    """The entry of `folder` for this corpus and tokenizer (it may not exist yet)."""
    corpus = _digest(corpus_identity(paths, data))
    if tokenizer is not None:
        for candidate in sorted(folder.glob(f"{corpus}-*")):
            if _encoded_with(candidate, tokenizer.fingerprint()):
                return candidate
    return folder / f"{corpus}-{_digest(tokenizer_request(data, seed, tokenizer))}"


def corpus_identity(paths: list[str], data) -> dict:
    """What names a corpus: the same paths and reading settings are the same entry."""
    return {"paths": [path if path == "-" else os.path.abspath(path) for path in paths],
            "val_path": os.path.abspath(data.val_path) if data.val_path else None,
            "encoding": data.encoding, "val_fraction": data.val_fraction}


def tokenizer_request(data, seed: int, tokenizer=None) -> dict:
    """What the tokenizer is: a given one's fingerprint, else the settings that train it (the
    byte tokenizer has none)."""
    if tokenizer is not None:
        return {"fingerprint": tokenizer.fingerprint()}
    if data.tokenizer == "byte":
        return {"kind": "byte"}
    return {"kind": data.tokenizer, "seed": seed, "vocab_size": data.vocab_size}


def forget_single_index_layout(folder: Path) -> None:
    """Before entries, a folder held one index and its shards at its top: remove those (only the
    files that index lists), since no run reads them any more. Anything else is left alone."""
    try:
        index = fmt.read_index(folder)
    except InputError:
        return  # not ours, or unreadable: never delete on a guess
    if index is None:
        return
    listed = {span["file"] for span in index.get("train", []) + index.get("val", [])}
    names = sorted(name for name in listed
                   if Path(name).name == name and name.endswith(fmt.SHARD_SUFFIXES))
    if index.get("tokenizer", {}).get("kind") == "sentencepiece":
        names.append(fmt.TOKENIZER_FILE)
    for name in names + [fmt.INDEX_FILE]:  # the index last
        (folder / name).unlink(missing_ok=True)


def _encoded_with(entry: Path, fingerprint: str) -> bool:
    try:
        index = fmt.read_index(entry)
    except InputError:
        return False
    return (index or {}).get("tokenizer", {}).get("fingerprint") == fingerprint


def _digest(value: dict) -> str:
    text = json.dumps(value, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:NAME_HASH_CHARS]
