"""Encoding pieces of the corpus into shard files, in a pool of processes.

Each job is one piece (a byte range of a file, or a slice of a small corpus's text) and becomes
one shard, written atomically by the worker itself, so only the piece's bytes, its text and its
ids are ever in a worker's memory. The parent receives small records (counts and checksums) and
reports progress after each.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from reformer_cli import errors
from reformer_cli.errors import ReformerError
from reformer_cli.shards.format import Writer, plain_write, write_file_atomically
from reformer_cli.shards.pieces import Piece
from reformer_cli.text.reading import DOCUMENT_SEPARATOR, decode_piece


@dataclass(frozen=True)
class Job:
    shard: str  # file name of the shard to write
    piece: Piece | None = None  # bytes of a file ...
    text: str | None = None  # ... or the text itself (small corpora, already read)

    @property
    def size(self) -> int:  # bytes of input, for progress
        return self.piece.end - self.piece.start if self.piece else len(self.text)


@dataclass
class ShardEncoder:
    """Everything a worker needs; sent once to each process."""

    tokenizer: object
    folder: Path
    dtype: str
    encoding: str = "utf-8"
    write: Writer = plain_write

    def __call__(self, job: Job) -> dict:
        """The shard's record: name, token count, and the checksum of its source bytes."""
        record = {"shard": job.shard}
        if job.piece is not None:
            data = _read_range(job.piece)
            record["source_sha256"] = hashlib.sha256(data).hexdigest()
            ids = self._encode_bytes(data, job.piece)
        else:
            ids = self.tokenizer.encode_to_array(job.text)
        tokens = np.ascontiguousarray(ids, dtype=np.dtype(self.dtype).newbyteorder("<"))
        write_file_atomically(self.folder / job.shard, memoryview(tokens).cast("B"), self.write)
        record["tokens"] = len(tokens)
        return record

    def _encode_bytes(self, data: bytes, piece: Piece) -> np.ndarray:
        text = decode_piece(data, piece.path, self.encoding, piece.start)  # validates, too
        if self.tokenizer.kind == "byte" and self.encoding.lower().replace("-", "") == "utf8" \
                and len(text) and "\r" not in text and not (piece.start == 0 and data[:3] == BOM):
            # the normalised text is the file's bytes: no re-encoding needed
            ids = np.frombuffer(data, dtype=np.uint8)
            return np.concatenate([ids, SEPARATOR_BYTES]) if piece.last else ids
        if piece.last:
            text += DOCUMENT_SEPARATOR
        return self.tokenizer.encode_to_array(text)


BOM = "\ufeff".encode("utf-8")
SEPARATOR_BYTES = np.frombuffer(DOCUMENT_SEPARATOR.encode("utf-8"), dtype=np.uint8)


def _read_range(piece: Piece) -> bytes:
    try:
        with open(piece.path, "rb") as file:
            file.seek(piece.start)
            data = file.read(piece.end - piece.start)
    except OSError as error:
        raise errors.InputError(f"cannot read {piece.path}: {error.strerror or error}",
                                "check its permissions, or leave it out") from None
    if len(data) != piece.end - piece.start:
        raise errors.InputError(f"{piece.path} changed while it was being read",
                                "run again once the file is no longer being written")
    return data


# -- the pool --------------------------------------------------------------------------------

POOL_MIN_BYTES = 8 << 20  # below this, starting processes costs more than it saves
_worker_encoder: ShardEncoder | None = None  # set once per worker process by the initializer


def _start_worker(encoder: ShardEncoder) -> None:
    global _worker_encoder
    if getattr(encoder.tokenizer, "encode_threads", None):
        encoder.tokenizer.encode_threads = 1  # the processes are the parallelism
    _worker_encoder = encoder


def _run_job(numbered: tuple[int, Job], encoder: ShardEncoder | None = None) -> tuple[int, dict]:
    """A worker's answer: the record, or the error as plain values (exceptions with a hint do
    not survive pickling)."""
    number, job = numbered
    try:
        return number, (encoder or _worker_encoder)(job)
    except ReformerError as error:
        return number, {"error": (type(error).__name__, error.message, error.hint)}


def encode_jobs(jobs: list[Job], encoder: ShardEncoder, workers: int,
                on_progress: Callable[[dict], None] | None = None,
                pool_min_bytes: int = POOL_MIN_BYTES) -> list[dict]:
    """The records of `jobs`, in order. `workers` > 1 runs a pool of that many processes (for
    at least `pool_min_bytes` of input); the first failure stops the pool and is raised here.
    `on_progress` receives {bytes_done, bytes_total, tokens, elapsed} after each job."""
    records: list[dict | None] = [None] * len(jobs)
    total = sum(job.size for job in jobs)
    if total < pool_min_bytes:
        workers = 1
    done = tokens = 0
    started = time.perf_counter()
    for number, record in _results(jobs, encoder, workers):
        if "error" in record:
            kind, message, hint = record["error"]
            raise getattr(errors, kind, errors.InputError)(message, hint)
        records[number] = record
        done, tokens = done + jobs[number].size, tokens + record["tokens"]
        if on_progress is not None:
            on_progress({"bytes_done": done, "bytes_total": total, "tokens": tokens,
                         "elapsed": time.perf_counter() - started})
    return records


def _results(jobs: list[Job], encoder: ShardEncoder, workers: int):
    numbered = list(enumerate(jobs))
    if workers <= 1 or len(jobs) <= 1:
        yield from (_run_job(item, encoder) for item in numbered)
        return
    # spawn: a fresh interpreter per worker, safe whatever threads the parent has started
    context = multiprocessing.get_context("spawn")
    with context.Pool(min(workers, len(jobs)), initializer=_start_worker,
                      initargs=(encoder,)) as pool:
        yield from pool.imap_unordered(_run_job, numbered)
