"""Token shards for a corpus: reuse what a shard folder already holds, encode only the rest.

Two layouts, chosen by the corpus's size:
- whole (up to SMALL_CORPUS_BYTES, and stdin): the text is read into memory exactly as before
  shards existed, split (data/split.py) and the tokenizer trained on the whole training text, so
  small corpora keep their split, tokenizer and scores; any changed file re-encodes it all.
- files (larger): every file is streamed in pieces (shards/pieces.py) by a pool of processes;
  SentencePiece trains on a bounded sample; validation is the last `val_fraction` of the tokens
  (the end of the last files). A file whose size and mtime, or else whose checksums, are those
  recorded is not read again: only changed and added files are encoded.
Each corpus and tokenizer has its own entry, a subfolder (entries.py), so a shared folder keeps
several side by side. One process at a time prepares in a folder (a file lock on the folder, not
the entry); the others wait, then reuse its shards.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from reformer_cli.files.locks import exclusive_lock
from reformer_cli.shards import format as fmt
from reformer_cli.shards.encode import POOL_MIN_BYTES, Job, ShardEncoder, encode_jobs
from reformer_cli.shards.entries import entry_folder, forget_single_index_layout, tokenizer_request
from reformer_cli.shards.inputs import reading_encoding, reading_validation_file, skipped_in_folders
from reformer_cli.shards.pieces import PIECE_BYTES, plan_pieces
from reformer_cli.shards.sample import draw_sample
from reformer_cli.shards.tokens import ShardedTokens
from reformer_cli.text.reading import SourceFile, read_documents, scan_input_files

SMALL_CORPUS_BYTES = 64 << 20
PIECE_CHARS = 8 << 20  # the whole layout's text slices per job


@dataclass
class ShardOptions:
    """How to prepare; the defaults are what `reformer train` uses, tests lower the sizes."""

    workers: int = 0  # encoding processes (0 = one per CPU core)
    small_corpus_bytes: int = SMALL_CORPUS_BYTES
    piece_bytes: int = PIECE_BYTES
    pool_min_bytes: int = POOL_MIN_BYTES
    write: fmt.Writer = fmt.plain_write  # where bytes go out (a test injects a full disk)


@dataclass
class DataEvent:
    """Progress of the preparation, for the same listeners as the trainer's events."""

    kind: str  # encode | waiting | skipped (a folder's files that are not text)
    values: dict = field(default_factory=dict)
    step: int = 0
    total_steps: int = 0


@dataclass
class PreparedShards:
    tokenizer: object
    train: ShardedTokens
    val: ShardedTokens | None
    fingerprint: str  # identifies the training tokens (checked on resume)
    folder: Path
    encoded: int  # shards written by this call
    reused: int  # shards found valid and kept


def prepare_shards(paths: list[str], data, seed: int, folder: str | Path, tokenizer=None,
                   on_event: Callable | None = None, options: ShardOptions | None = None,
                   check_fingerprint: Callable[[str], None] | None = None) -> PreparedShards:
    """The training (and validation) tokens of `paths` as memory-mapped shards in the entry of
    `folder` for this corpus and tokenizer.

    `data` is the run's DataConfig; `tokenizer` given = encode with it (a resumed run's or
    --tokenizer-model's), else the entry's own (when its settings match) or a new one.
    `check_fingerprint` (a resume's: is this the text the run was trained on?) gets the
    training tokens' fingerprint while the folder is still locked; what it raises removes the
    entry again when this call made it.
    """
    options = options or ShardOptions()
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise fmt.disk_error(folder, error) from None
    with _locked(folder, on_event):
        forget_single_index_layout(folder)
        entry = entry_folder(folder, paths, data, seed, tokenizer)
        created = not entry.exists()
        try:
            prepared = _prepare_entry(paths, data, seed, entry, tokenizer, on_event, options)
            if check_fingerprint is not None:
                check_fingerprint(prepared.fingerprint)
            return prepared
        except BaseException:
            if created:  # a failed first preparation (bad text, a vocabulary too small) leaves none
                shutil.rmtree(entry, ignore_errors=True)
            raise


def _prepare_entry(paths, data, seed, entry: Path, tokenizer, on_event, options) -> PreparedShards:
    try:
        entry.mkdir(exist_ok=True)
        index = fmt.read_index(entry)
    except fmt.OutdatedCache as outdated:
        warnings.warn(outdated.message, stacklevel=3)
        index = None
    except OSError as error:
        raise fmt.disk_error(entry.parent, error) from None
    return _Preparation(paths, data, seed, entry, index, tokenizer, on_event, options).run()


def _locked(folder: Path, on_event):
    """One process at a time prepares in `folder`; another one waits, then reuses its shards."""
    def waiting() -> None:
        if on_event is not None:
            on_event(DataEvent("waiting", {"folder": str(folder)}))

    return exclusive_lock(folder / fmt.LOCK_FILE, on_busy=waiting)


class _Preparation:
    def __init__(self, paths, data, seed, folder, index, tokenizer, on_event, options):
        self.paths, self.data, self.seed, self.folder = list(paths), data, seed, folder
        self.index, self.given, self.on_event, self.options = index, tokenizer, on_event, options
        self.stdin = "-" in self.paths
        self.encoding = reading_encoding(data.encoding)  # for reading; the index keeps the config's

    def run(self) -> PreparedShards:
        sources = None if self.stdin else scan_input_files(self.paths, self.encoding)
        val_sources = []
        if self.data.val_path:
            with reading_validation_file():
                val_sources = scan_input_files([self.data.val_path], self.encoding)
        self._note_skipped(sources, val_sources)
        small = self.stdin or sum(s.size for s in sources + val_sources) <= self.options.small_corpus_bytes
        if small:
            return self._whole(sources, val_sources)
        return self._files(sources, val_sources)

    def _note_skipped(self, sources, val_sources) -> None:
        """Tell what the folders given hold that is not read (binary files, archives, PDFs,
        empty files, broken links): skipping them is right, skipping them unsaid is not."""
        if self.on_event is None:
            return
        folders = [path for path in self.paths + [self.data.val_path or "-"]
                   if path != "-" and Path(path).is_dir()]
        if not folders:
            return
        if sources is None:  # stdin beside a folder: list the folders' files alone
            sources = scan_input_files([path for path in self.paths if path in folders],
                                       self.encoding)
        skipped = skipped_in_folders(folders, [source.path for source in sources + val_sources],
                                     self.encoding)
        if skipped is not None:
            self.on_event(DataEvent("skipped", skipped))

    # -- the tokenizer -----------------------------------------------------------------------

    def _tokenizer_request(self) -> dict:
        return tokenizer_request(self.data, self.seed, self.given)

    def _stored_tokenizer(self):
        """The tokenizer the folder's shards were encoded with, when it is the one asked for
        (the given one, or one trained with the same settings), else None."""
        stored = (self.index or {}).get("tokenizer", {})
        if self.given is not None:
            return self.given if stored.get("fingerprint") == self.given.fingerprint() else None
        if stored.get("request") != self._tokenizer_request():
            return None
        tokenizer = _load_stored_tokenizer(self.folder, stored["fingerprint"])
        if tokenizer is not None and stored.get("notes"):
            tokenizer.notes = list(stored["notes"])  # what its training adjusted, said on reuse
        return tokenizer

    def _say_notes(self, tokenizer) -> None:
        """Warn again what training the reused tokenizer adjusted (a lowered vocabulary), as
        its first run did: the run's vocabulary size and token counts follow from it."""
        if self.given is None:  # a given tokenizer (a resume's) was not trained here
            for note in getattr(tokenizer, "notes", []):
                warnings.warn(note, stacklevel=3)

    def _new_tokenizer(self, texts: list[str]):
        from reformer_cli.text.tokenizer import ByteTokenizer, train_sentencepiece

        if self.given is not None:
            return self.given
        if self.data.tokenizer == "byte":
            return ByteTokenizer()
        return train_sentencepiece(texts, self.data.vocab_size, seed=self.seed)

    # -- small corpora: read whole, split as always ------------------------------------------

    def _whole(self, sources, val_sources) -> PreparedShards:
        from reformer_cli.data.split import split_validation

        request = {"layout": "whole", "val_fraction": self.data.val_fraction,
                   "encoding": self.data.encoding}
        if sources is not None and self.index and self.index.get("request") == request:
            tokenizer = self._stored_tokenizer()
            recorded = self.index["sources"]
            if tokenizer is not None and _same_files(recorded, sources + val_sources) \
                    and self._shards_present():
                self._say_notes(tokenizer)
                return self._open(self.index, tokenizer, encoded=0)
        documents = read_documents(self.paths, self.encoding)
        val_documents = None
        if self.data.val_path:
            with reading_validation_file():
                val_documents = read_documents([self.data.val_path], self.encoding)
        train_text, val_text = split_validation(documents, self.data.val_fraction, val_documents)
        tokenizer = self._new_tokenizer([train_text])
        dtype = fmt.token_dtype(tokenizer.vocab_size)
        train_jobs = _text_jobs(train_text, dtype)
        val_jobs = _text_jobs(val_text, dtype) if val_text.strip() else []
        del documents, val_documents, train_text, val_text
        records = self._encode(train_jobs + val_jobs, tokenizer, dtype)
        train = [_span(r, 0, r["tokens"]) for r in records[:len(train_jobs)]]
        val = [_span(r, 0, r["tokens"]) for r in records[len(train_jobs):]]
        index = {"layout": "whole", "request": request, "dtype": dtype,
                 "sources": [_file_record(s) for s in (sources or []) + val_sources],
                 "train": train, "val": val}
        # The same fingerprint as before shards: the checksum of the int32 training ids.
        index["fingerprint"] = _int32_checksum(self._tokens(index["train"], dtype))
        return self._commit(index, tokenizer)

    # -- large corpora: streamed pieces of files ---------------------------------------------

    def _files(self, sources, val_sources) -> PreparedShards:
        splittable = _splittable(self.data.encoding)
        tokenizer = self._stored_tokenizer()
        if tokenizer is not None:
            self._say_notes(tokenizer)
        else:
            tokenizer = self._new_tokenizer(
                [] if self.given or self.data.tokenizer == "byte" else
                draw_sample(sources, self.encoding, self.seed, splittable=splittable))
        dtype = fmt.token_dtype(tokenizer.vocab_size)
        request = {"layout": "files", "encoding": self.data.encoding,
                   "piece_bytes": self.options.piece_bytes}
        same_kind = (self.index is not None and self.index.get("request") == request
                     and self.index.get("tokenizer", {}).get("fingerprint") == tokenizer.fingerprint())
        recorded = {entry["path"]: entry for entry in self.index["sources"]} if same_kind else {}
        entries, jobs = [], []
        for source in sources + val_sources:
            entry = _reusable_entry(source, recorded.get(_absolute(source.path)), self.folder, dtype)
            if entry is None:
                entry = _file_record(source, checksum=False)
                pieces = plan_pieces(source, self.options.piece_bytes, splittable)
                entry["pieces"] = [{"start": p.start, "end": p.end, "last": p.last} for p in pieces]
                jobs.extend((entry, record, Job(fmt.new_shard_name(dtype), piece=piece))
                            for record, piece in zip(entry["pieces"], pieces))
            entries.append(entry)
        records = self._encode([job for _, _, job in jobs], tokenizer, dtype)
        for (_, piece_record, _), record in zip(jobs, records):
            piece_record.update(record)
        train_entries = entries[:len(sources)]
        train = [_span(p, 0, p["tokens"]) for entry in train_entries for p in entry["pieces"]]
        if val_sources:
            val = [_span(p, 0, p["tokens"]) for entry in entries[len(sources):] for p in entry["pieces"]]
        else:
            train, val = _cut_tail(train, self.data.val_fraction)
        index = {"layout": "files", "request": request, "dtype": dtype, "sources": entries,
                 "train": train, "val": val}
        # The ids are a function of the source bytes and the tokenizer: no need to hash them.
        digest = hashlib.sha256(f"{dtype}:{tokenizer.fingerprint()}".encode())
        for span in train:
            digest.update(f"{span['source_sha256']}:{span['first']}:{span['count']};".encode())
        index["fingerprint"] = digest.hexdigest()[:32]
        return self._commit(index, tokenizer, encoded=len(jobs))

    # -- shared steps -------------------------------------------------------------------------

    def _encode(self, jobs: list[Job], tokenizer, dtype: str) -> list[dict]:
        if not jobs:
            return []
        encoder = ShardEncoder(tokenizer, self.folder, dtype, self.encoding, self.options.write)
        workers = self.options.workers or os.cpu_count() or 1
        if sum(job.size for job in jobs) < self.options.pool_min_bytes:
            workers = 1

        def progress(values: dict) -> None:
            if self.on_event is not None:
                self.on_event(DataEvent("encode", dict(values, workers=min(workers, len(jobs)))))

        return encode_jobs(jobs, encoder, workers, progress, self.options.pool_min_bytes)

    def _commit(self, index: dict, tokenizer, encoded: int | None = None) -> PreparedShards:
        """Tokenizer, then the index (last, atomically), then the shards no index lists go."""
        if tokenizer.kind == "sentencepiece":
            fmt.write_file_atomically(self.folder / fmt.TOKENIZER_FILE, tokenizer.model_proto,
                                      self.options.write)
        stored = (self.index or {}).get("tokenizer", {})
        request = self._tokenizer_request()
        notes = list(getattr(tokenizer, "notes", []))
        if self.given is not None and stored.get("fingerprint") == tokenizer.fingerprint():
            request = stored["request"]  # a resume keeps what the first run trained it with
            notes = stored.get("notes", [])  # and what that training adjusted
        index["tokenizer"] = {"fingerprint": tokenizer.fingerprint(), "kind": tokenizer.kind,
                              "vocab_size": tokenizer.vocab_size, "request": request}
        if notes:  # a lowered vocabulary: a run reusing these shards warns of it again
            index["tokenizer"]["notes"] = notes
        fmt.write_index(self.folder, index, self.options.write)
        listed = {span["file"] for span in index["train"] + index["val"]}
        fmt.remove_unlisted(self.folder, listed)
        count = len(listed) if encoded is None else encoded
        return self._open(index, tokenizer, encoded=count)

    def _open(self, index: dict, tokenizer, encoded: int) -> PreparedShards:
        dtype = index["dtype"]
        train = self._tokens(index["train"], dtype)
        val = self._tokens(index["val"], dtype) if index["val"] else None
        total = len({span["file"] for span in index["train"] + index["val"]})
        return PreparedShards(tokenizer, train, val, index["fingerprint"], self.folder,
                              encoded=encoded, reused=max(total - encoded, 0))

    def _tokens(self, spans: list[dict], dtype: str) -> ShardedTokens:
        return ShardedTokens([(self.folder / s["file"], s["first"], s["count"]) for s in spans], dtype)

    def _shards_present(self) -> bool:
        itemsize = np.dtype(self.index["dtype"]).itemsize
        return all(_shard_complete(self.folder / span["file"], span["total"], itemsize)
                   for span in self.index["train"] + self.index["val"])


def _text_jobs(text: str, dtype: str) -> list[Job]:
    from reformer_cli.text.tokenizer import cut_after_newlines

    return [Job(fmt.new_shard_name(dtype), text=piece) for piece in cut_after_newlines(text, PIECE_CHARS)]


def _load_stored_tokenizer(folder: Path, fingerprint: str):
    from reformer_cli.text.tokenizer import ByteTokenizer, load_tokenizer

    if fingerprint == ByteTokenizer().fingerprint():
        return ByteTokenizer()
    path = folder / fmt.TOKENIZER_FILE
    if not path.is_file():
        return None
    tokenizer = load_tokenizer(path)
    return tokenizer if tokenizer.fingerprint() == fingerprint else None


def _span(record: dict, first: int, count: int) -> dict:
    """A run of tokens of one shard: its file, size and source checksum, and the part taken."""
    return {"file": record["shard"], "source_sha256": record.get("source_sha256"),
            "total": record["tokens"], "first": first, "count": count}


def _cut_tail(spans: list[dict], val_fraction: float) -> tuple[list[dict], list[dict]]:
    """(train, val): the last `val_fraction` of the tokens, cut inside a shard if need be."""
    total = sum(span["count"] for span in spans)
    held_out = math.ceil(total * val_fraction) if val_fraction > 0 else 0
    cut, train, val = total - held_out, [], []
    position = 0
    for span in spans:
        inside = min(max(cut - position, 0), span["count"])
        if inside:
            train.append(dict(span, count=inside))
        if inside < span["count"]:
            val.append(dict(span, first=span["first"] + inside, count=span["count"] - inside))
        position += span["count"]
    return train, val


def _absolute(path: str) -> str:
    return os.path.abspath(path)


def _file_record(source: SourceFile, checksum: bool = True) -> dict:
    record = {"path": _absolute(source.path), "size": source.size, "mtime_ns": source.mtime_ns}
    if checksum:
        record["sha256"] = _file_sha256(source.path)
    return record


def _same_files(recorded: list[dict], sources: list[SourceFile]) -> bool:
    """The same files, each with the recorded size and mtime or else the recorded checksum."""
    if [r["path"] for r in recorded] != [_absolute(s.path) for s in sources]:
        return False
    return all(r["size"] == s.size and (r["mtime_ns"] == s.mtime_ns or r["sha256"] == _file_sha256(s.path))
               for r, s in zip(recorded, sources))


def _reusable_entry(source: SourceFile, recorded: dict | None, folder: Path, dtype: str) -> dict | None:
    """The recorded entry of an unchanged file whose shards are all present, else None."""
    if recorded is None or recorded["size"] != source.size:
        return None
    itemsize = np.dtype(dtype).itemsize
    pieces = recorded["pieces"]
    if not all("shard" in p and _shard_complete(folder / p["shard"], p["tokens"], itemsize) for p in pieces):
        return None
    if recorded["mtime_ns"] != source.mtime_ns:  # touched: trust the content only if it matches
        if any(_range_sha256(source.path, p["start"], p["end"]) != p["source_sha256"] for p in pieces):
            return None
    return dict(recorded, mtime_ns=source.mtime_ns)


def _shard_complete(path: Path, tokens: int, itemsize: int) -> bool:
    try:
        return path.stat().st_size == tokens * itemsize
    except OSError:
        return False


def _file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def _range_sha256(path: str, start: int, end: int) -> str:
    with open(path, "rb") as file:
        file.seek(start)
        return hashlib.sha256(file.read(end - start)).hexdigest()


def _int32_checksum(tokens: ShardedTokens) -> str:
    digest = hashlib.sha256()
    for part in tokens.parts:
        for start in range(0, len(part), 1 << 22):
            digest.update(np.asarray(part[start:start + (1 << 22)], dtype=np.int32).tobytes())
    return digest.hexdigest()[:32]


def _splittable(encoding: str) -> bool:
    """Whether a newline byte always ends a line (not UTF-16/32, where it can be half a character)."""
    return not encoding.lower().replace("-", "").replace("_", "").startswith(("utf16", "utf32"))
