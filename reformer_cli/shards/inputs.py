"""The inputs of `reformer train` as the user named them. Errors about the validation file name
--val; two mistakes that still train are warned about: a --val file that is also training text,
and summarization pairs given to a language model."""

from __future__ import annotations

import contextlib
import json
import lzma
import warnings
from pathlib import Path

from reformer_cli.errors import ReformerError

VAL_FLAG = "--val"
PAIR_SUFFIXES = (".jsonl", ".jsonl.xz")  # what --task summarize and extract read


@contextlib.contextmanager
def reading_validation_file():
    """Errors raised inside name --val: "x.txt is empty" alone sends the user to the corpus."""
    try:
        yield
    except ReformerError as error:
        raise type(error)(f"{VAL_FLAG}: {error.message}", error.hint) from None


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
