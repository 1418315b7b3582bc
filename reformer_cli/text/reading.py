"""Reading text safely: files, folders and stdin as documents, and JSONL summarization pairs.

Binary files, undecodable bytes, empty inputs and missing paths become one InputError each.
"""

from __future__ import annotations

import json
import lzma
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from reformer_cli.errors import InputError

BINARY_PROBE_BYTES = 1 << 16
DOCUMENT_SEPARATOR = "\n\n"


@dataclass
class Document:
    name: str  # the file path, or "<stdin>"
    text: str




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


def read_document(name: str) -> str:
    """The text of one file (or stdin for `-`) to summarize or continue, or an InputError that
    says what is wrong."""
    label = "stdin" if name == "-" else name
    if name == "-":
        data = sys.stdin.buffer.read()
    else:
        path = Path(name)
        if not path.exists():
            raise InputError(f"no such file: {name}", "check the path")
        if path.is_dir():
            raise InputError(f"{name} is a directory", "pass a text file")
        try:
            data = path.read_bytes()
        except OSError as error:
            raise InputError(f"cannot read {name}: {error.strerror}", "check its permissions") from None
    if not data:
        raise InputError(f"{label} is empty", "give a file with text in it")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise InputError(f"{label} looks binary (NUL byte at offset {nul})",
                         "pass a plain UTF-8 text file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        bad = data[error.start]
        raise InputError(f"{label} is not valid UTF-8: byte 0x{bad:02x} at offset {error.start}",
                         "convert it, e.g. `iconv -f latin1 -t utf-8`") from None
    if not text.strip():
        raise InputError(f"{label} contains only whitespace", "give a file with text in it")
    return text


def read_summarization_pairs(path: str | Path, encoding: str = "utf-8") -> list[tuple[str, str]]:
    """Read JSONL lines of {"document": str, "summary": str} (other keys are ignored;
    "reference" is accepted in place of "summary"); a name ending in .xz is decompressed."""
    return [(record["document"], record["summary"])
            for record in read_summarization_records(path, encoding)]


def read_summarization_records(path: str | Path, encoding: str = "utf-8") -> list[dict]:
    """The JSONL records of `read_summarization_pairs`, every key kept ("summary" filled in from
    "reference" where only that is given)."""
    name = "<stdin>" if str(path) == "-" else str(path)
    if name == "<stdin>":
        data = sys.stdin.buffer.read()
    elif Path(path).is_file():
        data = _read_bytes(Path(path))
    else:
        raise InputError(f"summarization file {name!r} does not exist", "check the path")
    if name.endswith(".xz"):
        try:
            data = lzma.decompress(data)
        except lzma.LZMAError as error:
            raise InputError(f"{name} is not a valid .xz file ({error})",
                             "give the file uncompressed or recompress it with xz") from None
    if _looks_binary(data, encoding):
        raise InputError(f"{name} looks binary (it contains NUL bytes), not JSONL")
    records = []
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
        records.append(record)
    if not records:
        raise InputError(f"{name} holds no document/summary pairs",
                         "give a JSONL file with one pair per line")
    return records
