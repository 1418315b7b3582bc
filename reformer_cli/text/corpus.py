"""Reading a corpus safely, the validation split, and packing token ids into training batches.

Language modelling: the token ids of the whole corpus in one int32 array; `WindowSampler` cuts
windows of seq_len + 1 tokens (inputs and next-token targets) at a fresh random phase each epoch,
in a shuffled order. Summarization: `SummarizationExamples` builds
document (cut to fit) + <sep> + summary + </s>, padded, with targets only on the summary.
Both resume exactly: their whole position is (seed, epoch, index), saved by `state_dict()`.
"""

from __future__ import annotations

import json
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from reformer_cli.errors import InputError

IGNORE_INDEX = -100  # targets the loss skips
BINARY_PROBE_BYTES = 1 << 16
DOCUMENT_SEPARATOR = "\n\n"


@dataclass
class Document:
    name: str  # the file path, or "<stdin>"
    text: str


# ---------------------------------------------------------------------------------------------
# Reading files


def read_documents(paths: Sequence[str | Path], encoding: str = "utf-8") -> list[Document]:
    """Read files, folders (recursively, sorted; binary and empty files skipped) or '-' (stdin).

    Line ends are normalised to '\\n' and a leading byte-order mark is dropped.
    """
    if not paths:
        raise InputError("no input given", "pass one or more text files, a folder, or - for stdin")
    documents = []
    for raw in paths:
        if str(raw) == "-":
            documents.append(Document("<stdin>", _decode(sys.stdin.buffer.read(), "<stdin>", encoding)))
            continue
        path = Path(raw)
        if path.is_dir():
            documents.extend(_read_folder(path, encoding))
        elif path.is_file():
            data = _read_bytes(path)
            if _looks_binary(data, encoding):
                raise InputError(f"{path} looks binary (it contains NUL bytes), not text",
                                 "give plain text files")
            documents.append(Document(str(path), _decode(data, str(path), encoding)))
        elif path.exists():
            raise InputError(f"{path} is not a regular file or folder", "give text files or folders")
        else:
            raise InputError(f"input path {str(raw)!r} does not exist", "check the path")
    for document in documents:
        if not document.text.strip():
            raise InputError(f"{document.name} is empty", "give files that contain text")
    return documents


def _read_folder(folder: Path, encoding: str) -> list[Document]:
    documents = []
    files = sorted(p for p in folder.rglob("*")
                   if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    for path in files:
        data = _read_bytes(path)
        if not data.strip() or _looks_binary(data, encoding):
            continue  # a folder may hold images, archives, empty placeholders: skip them
        documents.append(Document(str(path), _decode(data, str(path), encoding)))
    if not documents:
        raise InputError(f"the folder {folder} contains no text files",
                         "give a folder with non-empty text files, or the files themselves")
    return documents


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror or error}") from None


def _looks_binary(data: bytes, encoding: str) -> bool:
    if encoding.lower().replace("-", "").replace("_", "").startswith(("utf16", "utf32")):
        return False  # NUL bytes are normal there
    return b"\x00" in data[:BINARY_PROBE_BYTES]


def _decode(data: bytes, name: str, encoding: str) -> str:
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        raise InputError(f"{name} is not valid {encoding}: byte 0x{data[error.start]:02x} at offset "
                         f"{error.start} cannot be decoded",
                         "pass --encoding (e.g. latin-1, cp1252, gb18030) or fix the file") from None
    except LookupError:
        raise InputError(f"unknown encoding {encoding!r}", "use e.g. utf-8, latin-1, gb18030") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n")


def split_validation(documents: Sequence[Document], val_fraction: float,
                     val_documents: Sequence[Document] | None = None) -> tuple[str, str]:
    """(train_text, val_text): the tail of the corpus (or the given validation documents).

    The cut moves forward to the next line start when one is near, so no word is split.
    """
    text = DOCUMENT_SEPARATOR.join(d.text for d in documents)
    if val_documents is not None:
        return text, DOCUMENT_SEPARATOR.join(d.text for d in val_documents)
    if not 0.0 <= val_fraction <= 0.5:
        raise InputError(f"val_fraction={val_fraction} is outside [0, 0.5]")
    if val_fraction == 0.0:
        return text, ""
    cut = int(len(text) * (1.0 - val_fraction))
    newline = text.find("\n", cut, cut + max(1, (len(text) - cut) // 4))
    if newline >= 0:
        cut = newline + 1
    return text[:cut], text[cut:]


def split_validation_pairs(pairs: list, val_fraction: float) -> tuple[list, list]:
    """(train_pairs, val_pairs): the last pairs are held out (at least one when val_fraction > 0)."""
    if val_fraction <= 0 or len(pairs) < 2:
        return list(pairs), []
    n_val = min(len(pairs) - 1, max(1, round(len(pairs) * val_fraction)))
    return list(pairs[:-n_val]), list(pairs[-n_val:])


def read_summarization_pairs(path: str | Path, encoding: str = "utf-8") -> list[tuple[str, str]]:
    """Read JSONL lines of {"document": str, "summary": str} (other keys are ignored;
    "reference" is accepted in place of "summary")."""
    name = "<stdin>" if str(path) == "-" else str(path)
    if name == "<stdin>":
        data = sys.stdin.buffer.read()
    elif Path(path).is_file():
        data = _read_bytes(Path(path))
    else:
        raise InputError(f"summarization file {name!r} does not exist", "check the path")
    if _looks_binary(data, encoding):
        raise InputError(f"{name} looks binary (it contains NUL bytes), not JSONL")
    pairs = []
    for number, line in enumerate(_decode(data, name, encoding).split("\n"), 1):
        if not line.strip():
            continue
        expected = 'expected one JSON object per line: {"document": "...", "summary": "..."}'
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{name} line {number} is not valid JSON ({error.msg})", expected) from None
        if isinstance(record, dict) and "summary" not in record:
            record = dict(record, summary=record.get("reference"))  # the shared sets call it so
        fields = ("document", "summary")
        if not isinstance(record, dict) or not all(isinstance(record.get(k), str) for k in fields):
            raise InputError(f'{name} line {number} lacks string fields "document" and "summary"', expected)
        if not record["document"].strip() or not record["summary"].strip():
            raise InputError(f"{name} line {number} has an empty document or summary",
                             "remove that line or fill it in")
        pairs.append((record["document"], record["summary"]))
    if not pairs:
        raise InputError(f"{name} holds no document/summary pairs",
                         "give a JSONL file with one pair per line")
    return pairs


# ---------------------------------------------------------------------------------------------
# Language-model windows


class WindowSampler:
    """Random windows of seq_len + 1 tokens; each epoch a new phase and a new order.

    Epoch e (deterministic from (seed, e)) starts the windows at phase + k * seq_len for a
    random phase in [0, seq_len) and visits them in a random order; batches run on across
    epoch ends. The state is (epoch, index), so resuming replays exactly the same batches.
    """

    def __init__(self, tokens: np.ndarray, seq_len: int, seed: int = 0):
        self.tokens = np.asarray(tokens, dtype=np.int32)
        self.seq_len = int(seq_len)
        self.seed = int(seed)
        if len(self.tokens) < self.seq_len + 1:
            shorter = _largest_power_of_two(len(self.tokens) - 1)
            raise InputError(
                f"the training text has {len(self.tokens)} tokens, fewer than one window of "
                f"seq_len={self.seq_len} (+1 for the targets)",
                f"use a shorter --seq-len (at most {max(len(self.tokens) - 1, 1)}, e.g. {shorter}) "
                f"or more text")
        self.epoch = 0
        self.index = 0  # windows of this epoch already handed out
        self._order_epoch = -1

    def _epoch_starts(self) -> np.ndarray:
        """Start offsets of this epoch's windows, in visiting order (cached per epoch)."""
        if self._order_epoch != self.epoch:
            rng = np.random.default_rng([self.seed, self.epoch])
            spare = len(self.tokens) - 1 - self.seq_len  # room left after one window
            phase = int(rng.integers(0, min(self.seq_len - 1, spare) + 1))
            count = (len(self.tokens) - 1 - phase) // self.seq_len
            self._starts = phase + self.seq_len * rng.permutation(count)
            self._order_epoch = self.epoch
        return self._starts

    @property
    def windows_per_epoch(self) -> int:
        return len(self._epoch_starts())

    def next_starts(self, batch_size: int) -> np.ndarray:
        starts = []
        while len(starts) < batch_size:
            epoch_starts = self._epoch_starts()
            if self.index >= len(epoch_starts):
                self.epoch, self.index = self.epoch + 1, 0
                continue
            take = epoch_starts[self.index:self.index + batch_size - len(starts)]
            starts.extend(take.tolist())
            self.index += len(take)
        return np.asarray(starts, dtype=np.int64)

    def next_batch(self, batch_size: int):
        """(ids, targets): LongTensors (B, seq_len); targets are ids shifted by one."""
        return _windows(self.tokens, self.next_starts(batch_size), self.seq_len)

    def state_dict(self) -> dict:
        return {"kind": "windows", "seed": self.seed, "epoch": self.epoch, "index": self.index,
                "seq_len": self.seq_len, "n_tokens": int(len(self.tokens))}

    def load_state_dict(self, state: dict) -> None:
        _check_same(state, {"kind": "windows", "seq_len": self.seq_len, "n_tokens": len(self.tokens)})
        self.seed, self.epoch, self.index = int(state["seed"]), int(state["epoch"]), int(state["index"])
        self._order_epoch = -1


def _windows(tokens: np.ndarray, starts: np.ndarray, seq_len: int):
    import torch

    offsets = starts[:, None] + np.arange(seq_len + 1)[None, :]  # (B, seq_len + 1)
    block = torch.from_numpy(tokens[offsets].astype(np.int64))
    return block[:, :-1].contiguous(), block[:, 1:].contiguous()  # (B, seq_len) each


def evaluation_batches(tokens: np.ndarray, seq_len: int, batch_size: int, max_batches: int) -> list:
    """Deterministic validation batches: non-overlapping windows spread evenly over the tokens.

    A validation text shorter than one window gives one shorter window (the model takes any
    length); fewer than 2 tokens give no batches.
    """
    tokens = np.asarray(tokens, dtype=np.int32)
    if len(tokens) < 2:
        return []
    seq_len = min(seq_len, len(tokens) - 1)
    available = (len(tokens) - 1) // seq_len
    wanted = min(available, batch_size * max_batches)
    chosen = np.unique(np.linspace(0, available - 1, wanted).round().astype(np.int64))
    starts = chosen * seq_len
    return [_windows(tokens, starts[i:i + batch_size], seq_len) for i in range(0, len(starts), batch_size)]


def _largest_power_of_two(n: int) -> int:
    return 1 << (max(n, 1).bit_length() - 1)


def _check_same(state: dict, expected: dict) -> None:
    for key, value in expected.items():
        if state.get(key) != value:
            raise InputError(f"the saved data position does not match this data: {key} was "
                             f"{state.get(key)!r}, now {value!r}",
                             "resume with the same input files, tokenizer and --seq-len")


# ---------------------------------------------------------------------------------------------
# Summarization examples


class SummarizationExamples:
    """document (cut to fit) + <sep> + summary + </s>, padded with </s> to seq_len.

    Targets are -100 except where the next token is a summary token or the final </s>, so the
    loss counts only the summary. A summary that leaves less than a quarter of the window for
    the document is truncated (without </s>) and a warning says how many were.
    """

    def __init__(self, pairs: Sequence[tuple[str, str]], tokenizer, seq_len: int, seed: int = 0):
        if not pairs:
            raise InputError("no document/summary pairs to train on")
        if seq_len < 8:
            raise InputError(f"seq_len={seq_len} is too short for document + summary examples",
                             "use --seq-len 256 or more")
        self.seq_len, self.seed = int(seq_len), int(seed)
        self.sep_id, self.eos_id = tokenizer.sep_id, tokenizer.eos_id
        self.epoch = self.index = 0
        max_summary = self.seq_len - max(1, self.seq_len // 4) - 1  # tokens incl. </s>
        inputs, targets, truncated = [], [], 0
        for document, summary in pairs:
            summary_ids = list(tokenizer.encode(summary)) + [self.eos_id]
            if len(summary_ids) > max_summary:
                summary_ids, truncated = summary_ids[:max_summary], truncated + 1
            document_ids = list(tokenizer.encode(document))[: self.seq_len - len(summary_ids)]
            sequence = document_ids + [self.sep_id] + summary_ids  # at most seq_len + 1 tokens
            ids = np.full(self.seq_len, self.eos_id, dtype=np.int64)
            target = np.full(self.seq_len, IGNORE_INDEX, dtype=np.int64)
            ids[: len(sequence) - 1] = sequence[:-1]
            first = len(document_ids)  # position of <sep>: it predicts the first summary token
            target[first: len(sequence) - 1] = sequence[first + 1:]
            inputs.append(ids)
            targets.append(target)
        self.inputs, self.targets = np.stack(inputs), np.stack(targets)  # (N, seq_len) each
        self.truncated = truncated
        if truncated:
            warnings.warn(f"{truncated} of {len(pairs)} summaries were longer than "
                          f"{max_summary} tokens and were truncated to fit seq_len={self.seq_len}",
                          stacklevel=2)

    def __len__(self) -> int:
        return len(self.inputs)

    def _order(self) -> np.ndarray:
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.inputs))

    def next_batch(self, batch_size: int):
        """(ids, targets): LongTensors (B, seq_len)."""
        import torch

        chosen = []
        while len(chosen) < batch_size:
            if self.index >= len(self.inputs):
                self.epoch, self.index = self.epoch + 1, 0
            take = self._order()[self.index:self.index + batch_size - len(chosen)]
            chosen.extend(take.tolist())
            self.index += len(take)
        return torch.from_numpy(self.inputs[chosen]), torch.from_numpy(self.targets[chosen])

    def evaluation_batches(self, batch_size: int, max_batches: int) -> list:
        """The first examples in file order (deterministic)."""
        import torch

        count = min(len(self.inputs), batch_size * max_batches)
        return [(torch.from_numpy(self.inputs[i:i + batch_size]),
                 torch.from_numpy(self.targets[i:i + batch_size])) for i in range(0, count, batch_size)]

    def state_dict(self) -> dict:
        return {"kind": "summarization", "seed": self.seed, "epoch": self.epoch, "index": self.index,
                "seq_len": self.seq_len, "n_examples": len(self.inputs)}

    def load_state_dict(self, state: dict) -> None:
        _check_same(state, {"kind": "summarization", "seq_len": self.seq_len, "n_examples": len(self.inputs)})
        self.seed, self.epoch, self.index = int(state["seed"]), int(state["epoch"]), int(state["index"])
