"""The inputs of `reformer train` as the user named them. Errors about the validation file name
--val; two mistakes that still train are warned about: a --val file that is also training text,
and summarization pairs given to a language model. What a folder holds that is not text is
counted for a note (`skipped_in_folders`)."""

from __future__ import annotations

import codecs
import contextlib
import json
import lzma
import warnings
from collections import Counter
from pathlib import Path

from reformer_cli.errors import ReformerError, no_such_file
from reformer_cli.text.reading import BINARY_PROBE_BYTES, KNOWN_FORMATS, wide_text

VAL_FLAG = "--val"
PAIR_SUFFIXES = (".jsonl", ".jsonl.xz")  # what --task summarize and extract read


@contextlib.contextmanager
def reading_validation_file():
    """Errors raised inside name --val: "x.txt is empty" alone sends the user to the corpus."""
    try:
        yield
    except ReformerError as error:
        raise type(error)(f"{VAL_FLAG}: {error.message}", error.hint) from None


def check_inputs_exist(paths: list[str], val_path: str | None) -> None:
    """A path that is not there, in the words every command uses (`errors.no_such_file`)."""
    for path in paths:
        if path != "-" and not Path(path).exists():
            raise no_such_file(path)
    if val_path and val_path != "-" and not Path(val_path).exists():
        with reading_validation_file():
            raise no_such_file(val_path)


def reading_encoding(encoding: str) -> str:
    """`encoding` as messages about the text name it: UTF-8 as users write it (the config's
    default spelling is utf-8), any other as it was given."""
    try:
        return "UTF-8" if codecs.lookup(encoding).name == "utf-8" else encoding
    except LookupError:
        return encoding


def skipped_in_folders(paths: list[str], read: list[str], encoding: str = "utf-8") -> dict | None:
    """What the folders among `paths` hold that is not among the files `read` (the text files
    reading/scan_input_files took from them): {"count", "folders", "kinds": {kind: count}},
    a kind being "binary", "UTF-16 text" (or UTF-32: text in an encoding other than the one
    read, as `reading.text_kind` tells), a known format's suffix (".gz", ".pdf"), "empty",
    "broken link" or "not a regular file" (a FIFO, socket or device: never opened, as reading
    a FIFO waits for a writer); None when nothing was left out. Hidden files and folders are
    not counted."""
    taken = set(read)
    folders, kinds = [], Counter()
    for path in paths:
        folder = Path(path)
        if path == "-" or not folder.is_dir():
            continue
        left_out = [entry for entry in folder.rglob("*") if str(entry) not in taken
                    and not entry.is_dir()
                    and not any(part.startswith(".") for part in entry.relative_to(folder).parts)]
        if left_out:
            folders.append(path)
            kinds.update(_kind_of(entry, encoding) for entry in left_out)
    if not folders:
        return None
    by_count = sorted(kinds.items(), key=lambda item: (-item[1], item[0]))  # the same every run
    return {"count": sum(kinds.values()), "folders": folders, "kinds": dict(by_count)}


def _kind_of(path: Path, encoding: str) -> str:
    """Why a folder's file is not read as text, in a word or a suffix."""
    if not path.exists():
        return "broken link"
    if not path.is_file():
        return "not a regular file"
    try:
        with open(path, "rb") as file:
            head = file.read(BINARY_PROBE_BYTES)
    except OSError:
        return "unreadable"
    if not head.strip():
        return "empty"
    known = any(head.startswith(magic) for magic, _, _ in KNOWN_FORMATS)
    if known:
        return path.suffix.lower() if path.suffix else "binary"
    wide = wide_text(head, encoding)
    return f"{wide} text" if wide else "binary"


def warn_about_inputs(paths: list[str], data) -> None:
    """warnings.warn what is worth saying about the inputs before they are read."""
    if data.val_path:
        also_training = _training_input_holding(paths, data.val_path)
        if also_training is not None:
            warnings.warn(f"{VAL_FLAG} {data.val_path} is also training text (in {also_training}): "
                          "validation then measures text the model trains on; give held-out text "
                          f"to {VAL_FLAG}, or leave it out to hold out the corpus's tail",
                          stacklevel=2)
    if data.task == "lm" and paths and all(_looks_like_pairs(path, data.encoding) for path in paths):
        several = len(paths) > 1
        warnings.warn(f"{', '.join(paths)} {'look' if several else 'looks'} like summarization "
                      f"pairs; --task lm trains on {'their' if several else 'its'} JSON text "
                      "(pass --task summarize or --config extract to learn from the pairs)",
                      stacklevel=2)


def _training_input_holding(paths: list[str], val_path: str) -> str | None:
    """The training input that is the validation file or a folder around it (or inside it)."""
    val = Path(val_path).resolve()
    for path in paths:
        if path == "-":
            continue
        source = Path(path).resolve()
        if source == val or source in val.parents or val in source.parents:
            return path
    return None


def _looks_like_pairs(path: str, encoding: str) -> bool:
    """A JSONL file whose first line is a {"document", "summary" or "reference"} object."""
    if not path.endswith(PAIR_SUFFIXES) or not Path(path).is_file():
        return False
    opener = lzma.open if path.endswith(".xz") else open
    try:
        with opener(path, "rt", encoding=encoding, errors="replace") as file:
            record = json.loads(file.readline())
    except (OSError, ValueError, LookupError, EOFError, lzma.LZMAError):
        return False  # reading the inputs reports what is wrong with them
    return isinstance(record, dict) and "document" in record and (
        "summary" in record or "reference" in record)
