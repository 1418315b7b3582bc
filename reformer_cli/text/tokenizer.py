"""Tokenizers with one interface: SentencePiece trained on the corpus, or raw UTF-8 bytes.

SentencePiece is trained so that decode(encode(text)) == text exactly:
- normalization "identity" (NFKC would turn full-width Chinese punctuation into ASCII),
  no dummy prefix and no whitespace collapsing, so runs of spaces and leading spaces survive
  and the ids of consecutive pieces of a text can simply be concatenated;
- byte fallback: any character not in the vocabulary (emoji, rare CJK, newlines, tabs) becomes
  its UTF-8 bytes instead of <unk>.
One exception: the character U+2581 '▁' is SentencePiece's own space marker and decodes to ' '.

Special ids: SentencePiece: <unk>=0, </s>=1 (end of text), <sep>=2 (a control symbol: it is
only ever inserted by id, never matched in user text, and decodes to nothing).
Bytes: 0..255, </s>=256, <sep>=257.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import unicodedata
import warnings
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from reformer_cli.errors import ConfigError, InputError, ReformerError

SENTENCEPIECE_FILE = "tokenizer.model"
BYTE_FILE = "tokenizer.json"
MAX_LINE_CHARS = 2000  # training lines are split to at most this many characters
MAX_SENTENCE_BYTES = 4 * MAX_LINE_CHARS + 16  # so no split line is ever dropped by SentencePiece
TRAIN_SAMPLE_LINES = 1_000_000  # huge corpora: SentencePiece trains on a random sample of lines
ENCODE_CHUNK_CHARS = 1 << 20  # encode long texts piecewise (cut after a newline) to bound memory
CJK_SHARE_FOR_LOW_COVERAGE = 0.3


class Tokenizer:
    """The interface every tokenizer implements."""

    kind: str
    vocab_size: int
    eos_id: int
    sep_id: int

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def decode(self, ids: Iterable[int]) -> str:
        raise NotImplementedError

    def encode_to_array(self, text: str) -> np.ndarray:
        """The ids of a (possibly huge) text as an int32 array."""
        return np.asarray(self.encode(text), dtype=np.int32)

    def save(self, directory: str | Path) -> Path:
        raise NotImplementedError

    def describe(self) -> dict:
        return {"kind": self.kind, "vocab_size": self.vocab_size, "eos_id": self.eos_id,
                "sep_id": self.sep_id}

    def fingerprint(self) -> str:
        """Identifies the mapping from text to ids: token shards are valid for this value only."""
        raise NotImplementedError


class ByteTokenizer(Tokenizer):
    """UTF-8 bytes 0..255 plus end-of-text (256) and separator (257)."""

    kind = "byte"
    vocab_size = 258
    eos_id = 256
    sep_id = 257

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def encode_to_array(self, text: str) -> np.ndarray:
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int32)

    def decode(self, ids: Iterable[int]) -> str:
        # Specials are dropped; a model can emit an invalid byte sequence, shown as U+FFFD.
        return bytes(int(i) for i in ids if 0 <= int(i) < 256).decode("utf-8", errors="replace")

    def fingerprint(self) -> str:
        return "byte-utf8"

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / BYTE_FILE
        path.write_text(json.dumps(dict(self.describe(), format_version=1), indent=2) + "\n")
        return path


class SentencePieceTokenizer(Tokenizer):
    """A trained SentencePiece model held in memory (its serialized proto)."""

    kind = "sentencepiece"

    def __init__(self, model_proto: bytes, notes: list[str] | None = None,
                 character_coverage: float | None = None):
        import sentencepiece

        self.model_proto = model_proto
        self.processor = sentencepiece.SentencePieceProcessor(model_proto=model_proto)
        self.vocab_size = self.processor.get_piece_size()
        self.eos_id = self.processor.eos_id()
        self.sep_id = self.processor.piece_to_id("<sep>")
        if self.eos_id < 0 or self.sep_id == self.processor.unk_id():
            raise InputError("the SentencePiece model has no </s> or <sep> token",
                             "train the tokenizer with `reformer train` or drop --tokenizer-model")
        self.notes = list(notes or [])  # what training adjusted (e.g. a lowered vocabulary)
        self.character_coverage = character_coverage  # known only right after training
        self.encode_threads = 2  # SentencePiece's own threads; 1 in each encoding process

    def __getstate__(self) -> dict:  # to encoding processes: the proto, not the C++ object
        return {key: value for key, value in self.__dict__.items() if key != "processor"}

    def __setstate__(self, state: dict) -> None:
        import sentencepiece

        self.__dict__.update(state)
        self.processor = sentencepiece.SentencePieceProcessor(model_proto=self.model_proto)

    def fingerprint(self) -> str:
        return "sentencepiece-" + hashlib.sha256(self.model_proto).hexdigest()[:32]

    def encode(self, text: str) -> list[int]:
        return self.encode_to_array(text).tolist()

    def encode_to_array(self, text: str) -> np.ndarray:
        pieces = cut_after_newlines(text, ENCODE_CHUNK_CHARS)
        # No piece contains a newline (training lines never do), so cutting after one cannot
        # change the segmentation: the result equals encoding the whole text at once.
        arrays = [np.zeros(0, dtype=np.int32)]
        for start in range(0, len(pieces), 8):  # a few MB at a time
            arrays.extend(self.processor.encode_as_numpy(pieces[start:start + 8],
                                                         num_threads=self.encode_threads))
        return np.concatenate(arrays).astype(np.int32, copy=False)

    def decode(self, ids: Iterable[int]) -> str:
        ids = [int(i) for i in ids]
        valid = [i for i in ids if 0 <= i < self.vocab_size]
        return self.processor.decode(valid)

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / SENTENCEPIECE_FILE
        path.write_bytes(self.model_proto)
        return path

    def describe(self) -> dict:
        info = dict(super().describe(), normalization="identity", byte_fallback=True)
        if self.character_coverage is not None:
            info["character_coverage"] = self.character_coverage
        if self.notes:
            info["notes"] = self.notes
        return info


# ---------------------------------------------------------------------------------------------
# Training


def train_sentencepiece(texts: Iterable[str], vocab_size: int, *, model_type: str = "unigram",
                        seed: int = 0) -> SentencePieceTokenizer:
    """Train SentencePiece on the texts, in memory: lines stream through SentencePiece's
    `sentence_iterator` and the model is written to memory, so no file is needed.
    A vocabulary the corpus cannot fill is lowered to SentencePiece's suggested maximum with a
    `warnings.warn` (and a note in `tokenizer.notes`) instead of failing; one below the pieces
    the corpus needs (bytes, specials, one per character) is a ConfigError saying how many; a
    corpus no SentencePiece vocabulary fits is an InputError pointing to --tokenizer byte.
    """
    import sentencepiece

    texts = [t for t in texts if t]
    if not any(t.strip() for t in texts):
        raise InputError("cannot train a tokenizer on empty text", "give files that contain text")
    coverage = 0.9995 if cjk_share(texts) >= CJK_SHARE_FOR_LOW_COVERAGE else 1.0
    notes: list[str] = []
    if hasattr(sentencepiece, "set_random_generator_seed"):
        sentencepiece.set_random_generator_seed(seed)  # the line sample of huge corpora
    requested = vocab_size
    for _ in range(3):
        model = io.BytesIO()
        try:
            sentencepiece.SentencePieceTrainer.train(
                sentence_iterator=_training_lines(texts), model_writer=model,
                vocab_size=vocab_size, model_type=model_type, character_coverage=coverage,
                byte_fallback=True, normalization_rule_name="identity", add_dummy_prefix=False,
                remove_extra_whitespaces=False, allow_whitespace_only_pieces=True,
                split_digits=True, unk_id=0, eos_id=1, bos_id=-1, pad_id=-1,
                control_symbols=["<sep>"], max_sentence_length=MAX_SENTENCE_BYTES,
                # The space marker must be a piece: if coverage drops it (a CJK corpus with few
                # spaces), spaces fall back to the bytes of '▁' and decode as '▁', not ' '.
                required_chars="\u2581",
                input_sentence_size=TRAIN_SAMPLE_LINES, shuffle_input_sentence=True,
                hard_vocab_limit=True, num_threads=2, minloglevel=2)
        except RuntimeError as error:
            message = str(error)
            too_high = re.search(r"Vocabulary size too high \((\d+)\).*?<= (\d+)", message)
            if too_high:
                vocab_size = int(too_high.group(2))
                note = (f"the corpus is too small for a {requested}-token vocabulary; using "
                        f"{vocab_size} tokens (--vocab-size {vocab_size} silences this)")
                warnings.warn(note, stacklevel=2)
                notes.append(note)
                continue
            too_small = re.search(r"smaller than required_chars\. (\d+) vs (\d+)", message)
            if too_small:
                raise _too_small(vocab_size, int(too_small.group(2)), lowered=bool(notes)) from None
            raise InputError(f"SentencePiece training failed: {message.splitlines()[0]}",
                             BYTE_TOKENIZER_HINT) from None
        return SentencePieceTokenizer(model.getvalue(), notes, character_coverage=coverage)
    raise InputError(f"SentencePiece could not settle on a vocabulary size (last tried {vocab_size})",
                     BYTE_TOKENIZER_HINT)


BYTE_TOKENIZER_HINT = "train with --tokenizer byte instead"


def _too_small(vocab_size: int, needed: int, lowered: bool) -> ReformerError:
    """`vocab_size` is below the `needed` pieces of SentencePiece's byte fallback (256), its
    special tokens (<unk>, </s>, <sep>) and one per distinct character of the corpus. Where
    `vocab_size` is already the most the corpus can fill, no vocabulary fits."""
    characters = needed - 256 - 3
    if lowered:
        return InputError(f"no SentencePiece vocabulary fits this corpus: it needs {needed} pieces "
                          f"(256 bytes, 3 special tokens, {characters} characters) but can fill "
                          f"only {vocab_size}", BYTE_TOKENIZER_HINT)
    return ConfigError(f"data.vocab_size={vocab_size} is too small for this corpus: SentencePiece "
                       f"needs {needed} pieces for it (256 bytes, 3 special tokens, "
                       f"{characters} characters)", f"pass --vocab-size {needed} or more")


def _training_lines(texts: list[str]) -> Iterator[str]:
    """Non-empty lines of every text, long lines split so SentencePiece never drops one."""
    for text in texts:
        for line in text.splitlines():
            if line.strip():
                yield from split_long_line(line, MAX_LINE_CHARS)


_SENTENCE_END = re.compile(r"[.!?;](?=\s)|[。！？；．]")


def split_long_line(line: str, limit: int) -> list[str]:
    """Split a line into pieces of at most `limit` characters: after the last sentence end
    within the limit, else after the last space, else hard at the limit. Joins back exactly."""
    pieces = []
    while len(line) > limit:
        window = line[:limit]
        ends = [m.end() for m in _SENTENCE_END.finditer(window)]
        cut = ends[-1] if ends and ends[-1] > limit // 4 else window.rfind(" ") + 1
        if cut <= limit // 4:
            cut = limit
        pieces.append(line[:cut])
        line = line[cut:]
    if line:
        pieces.append(line)
    return pieces


def cut_after_newlines(text: str, size: int) -> list[str]:
    """`text` in slices of about `size` characters, each ending after a line end when the slice
    holds one; the slices join back to `text`."""
    pieces, start = [], 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            newline = text.rfind("\n", start, end)
            end = newline + 1 if newline >= start else end
        pieces.append(text[start:end])
        start = end
    return pieces


def is_cjk(char: str) -> bool:
    code = ord(char)
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2EBEF
            or 0x3040 <= code <= 0x30FF or 0xAC00 <= code <= 0xD7AF or 0xF900 <= code <= 0xFAFF)


def cjk_share(texts: Iterable[str], sample_chars: int = 1_000_000) -> float:
    """Share of CJK characters among the letters of (a sample of) the texts."""
    cjk = letters = 0
    for text in texts:
        for char in text[:sample_chars]:
            if unicodedata.category(char)[0] == "L":  # Chinese characters are category Lo
                letters += 1
                cjk += is_cjk(char)
        sample_chars -= min(len(text), sample_chars)
        if sample_chars <= 0:
            break
    return cjk / letters if letters else 0.0


# ---------------------------------------------------------------------------------------------
# Loading


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load from a folder holding tokenizer.model / tokenizer.json, or from such a file.

    Only data is read (a SentencePiece proto or JSON); no code is ever executed.
    """
    path = Path(path)
    if path.is_dir():
        candidates = [path / SENTENCEPIECE_FILE, path / BYTE_FILE]
        found = [c for c in candidates if c.is_file()]
        if not found:
            raise InputError(f"no {SENTENCEPIECE_FILE} or {BYTE_FILE} in {path}",
                             "point at a checkpoint folder or a SentencePiece .model file")
        path = found[0]
    elif not path.is_file():
        raise InputError(f"tokenizer {str(path)!r} not found",
                         "point at a checkpoint folder or a SentencePiece .model file")
    if path.suffix == ".json":
        return _load_byte_description(path)
    try:
        return SentencePieceTokenizer(path.read_bytes())
    except (RuntimeError, OSError) as error:
        raise InputError(f"{path} is not a valid SentencePiece model ({str(error).splitlines()[0]})",
                         "the file may be truncated; retrain or copy it again") from None


def _load_byte_description(path: Path) -> ByteTokenizer:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path} is not a valid tokenizer description ({error})") from None
    expected = ByteTokenizer().describe()
    if not isinstance(data, dict) or any(data.get(k) != v for k, v in expected.items()):
        raise InputError(f"{path} describes an unsupported tokenizer: "
                         f"{ {k: data.get(k) for k in expected} if isinstance(data, dict) else data}",
                         f"expected {expected}")
    return ByteTokenizer()
