"""Reading text safely: files, folders and stdin as documents, and JSONL summarization pairs.

Binary files, undecodable bytes, empty inputs and missing paths become one InputError each.
"""

from __future__ import annotations

import codecs
import json
import lzma
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from reformer_cli.errors import InputError, no_such_file
from reformer_cli.text.encodings import (
    UTF16_PROBE_BYTES,
    auto_encoding,
    byte_order,
    decode_hint,
    decodes,
    is_wide,
    reads_as_text,
    unknown_encoding,
    warn_if_misread,
    wide_encoding,
)

BINARY_PROBE_BYTES = 1 << 16
DOCUMENT_SEPARATOR = "\n\n"
# Formats a user is likely to pass for a report or a book, by their first bytes: (what it is,
# how to get text out of it). Named, because "looks binary" alone does not say what to do.
# {file} and {text_file} in a fix become the file's name and its .txt sibling (`_known_format_fix`).
KNOWN_FORMATS = (
    (b"%PDF-", "a PDF", "convert it to text first, e.g. `pdftotext -layout {file} {text_file}`"),
    (b"PK\x03\x04", "a zip archive (as .docx, .odt and .epub files are)",
     "save or export it as plain text first"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office file", "save it as plain text first"),
    (b"{\\rtf", "an RTF document", "save it as plain text first"),
    (b"\x1f\x8b", "gzip-compressed", "decompress it first (gunzip)"),
    (b"\xfd7zXZ\x00", "xz-compressed", "decompress it first (unxz)"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image", "give the text itself (OCR it first, e.g. `tesseract`)"),
    (b"\xff\xd8\xff", "a JPEG image", "give the text itself (OCR it first, e.g. `tesseract`)"),
    (b"GIF87a", "a GIF image", "give the text itself"),
    (b"GIF89a", "a GIF image", "give the text itself"),
    (b"SQLite format 3\x00", "an SQLite database",
     "export its text first, e.g. `sqlite3 {file} .dump > dump.sql`"),
)
WEBP = ("a WebP image", "give the text itself (OCR it first, e.g. `tesseract`)")  # RIFF....WEBP


@dataclass
class Document:
    name: str  # the file path, or "<stdin>"
    text: str


@dataclass(frozen=True)
class SourceFile:
    """An input file found by `scan_input_files`, not yet read."""

    path: str
    size: int
    mtime_ns: int


def scan_input_files(paths: Sequence[str | Path], encoding: str = "utf-8") -> list[SourceFile]:
    """The files `read_documents` would read, without reading them: only the first bytes of each
    are probed (binary files inside folders are skipped, as are empty ones), so a corpus of any
    size is listed in moments. '-' (stdin) is not a file and is refused here."""
    if not paths:
        raise InputError("no input given", "pass one or more text files, a folder, or - for stdin")
    found = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            inside = [p for p in _folder_files(path) if _probe(p, encoding) == "text"]
            if not inside:
                raise empty_folder_error(path)
            found.extend(inside)
        elif path.is_file():
            kind = _probe(path, encoding)
            if kind == "binary":
                _refuse_binary(_read_head(path), str(path), encoding)
            if kind == "empty":
                raise empty_error(path)
            found.append(path)
        elif path.exists():
            raise InputError(f"{path} is not a regular file or folder", "give text files or folders")
        else:
            raise no_such_file(str(raw))
    return [_source_file(path) for path in found]


def document_names(names: Sequence[str], encoding: str | None = None) -> list[str]:
    """The documents `names` stand for, for a command that reads each on its own (summarize): a
    file or '-' as given, a folder as its text files, recursively in sorted order, with what
    `train` skips in a folder skipped (hidden files and folders, binary files, PDFs, archives and
    other known formats, empty files); `encoding` None: each file probed by what its bytes say,
    so UTF-16 text is text. A folder without a text file stays as its name, for the caller to
    report (`empty_folder_error`) when its turn comes; nothing else is checked here, so a missing
    or unreadable file is reported when it is read."""
    found = []
    for name in names:
        path = Path(name)
        if name == "-" or not path.is_dir():
            found.append(name)
            continue
        inside = [str(file) for file in _folder_files(path) if _may_be_text(file, encoding)]
        found.extend(inside or [name])
    return found


def empty_error(label: str | Path) -> InputError:
    """The one wording, in every command, of an input with no text (or only white space)."""
    return InputError(f"{label} is empty", "give a file with text in it")


def binary_error(label: str, nul: int) -> InputError:
    """The one wording, in every command, of an input with a NUL byte at offset `nul`."""
    return InputError(f"{label} looks binary (NUL byte at offset {nul})", "pass a plain text file")


def wide_text(head: bytes, encoding: str) -> str | None:
    """"UTF-16" or "UTF-32" when `head` (a file's first bytes), binary to `encoding` (it has NUL
    bytes), is text in that encoding by what its own bytes say (`wide_encoding`): a file `train`
    without --encoding utf-16 skips in a folder, and names so (summarize reads it)."""
    if not _looks_binary(head, encoding):
        return None
    wide = wide_encoding(head)
    if wide in ("UTF-16LE", "UTF-16BE"):  # no mark: text only where it reads as text, not
        text = decodes(head[:UTF16_PROBE_BYTES], wide, whole=False)  # where NULs merely alternate
        if text is None or not reads_as_text(text, wide):
            return None
    return wide[:6] if wide is not None else None


def empty_folder_error(folder: str | Path) -> InputError:
    return InputError(f"the folder {folder} contains no text files",
                      "give a folder with non-empty text files, or the files themselves")


def _may_be_text(path: Path, encoding: str | None) -> bool:
    """Whether a file in a folder is a document: text, or unreadable (reading it says why)."""
    try:
        return _probe(path, encoding) == "text"
    except InputError:
        return True


def _folder_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _probe(path: Path, encoding: str | None) -> str:
    """text | binary | empty, from the first BINARY_PROBE_BYTES of the file; `encoding` None:
    the one its bytes tell (`auto_encoding`)."""
    try:
        with open(path, "rb") as file:
            head = file.read(BINARY_PROBE_BYTES)
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror or error}",
                         "check its permissions, or leave it out") from None
    if _looks_binary(head, encoding or auto_encoding(head)) or _is_known_format(head):
        return "binary"
    if not head.strip() and len(head) < BINARY_PROBE_BYTES:
        return "empty"
    return "text"


def _read_head(path: Path) -> bytes:
    with open(path, "rb") as file:  # readable: _probe has just read it
        return file.read(BINARY_PROBE_BYTES)  # as much as _probe read: its NUL byte is in it


def _source_file(path: Path) -> SourceFile:
    stat = path.stat()
    return SourceFile(str(path), stat.st_size, stat.st_mtime_ns)


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
            check_known_format(data, str(path))
            if _looks_binary(data, encoding):
                _refuse_binary(data, str(path), encoding)
            documents.append(Document(str(path), _decode(data, str(path), encoding)))
        elif path.exists():
            raise InputError(f"{path} is not a regular file or folder", "give text files or folders")
        else:
            raise no_such_file(str(raw))
    for document in documents:
        if not document.text.strip():
            raise empty_error(document.name)
    return documents


def _read_folder(folder: Path, encoding: str) -> list[Document]:
    documents = []
    for path in _folder_files(folder):
        data = _read_bytes(path)
        if not data.strip() or _looks_binary(data, encoding) or _is_known_format(data):
            continue  # a folder may hold images, archives, PDFs, empty placeholders: skip them
        documents.append(Document(str(path), _decode(data, str(path), encoding)))
    if not documents:
        raise empty_folder_error(folder)
    return documents


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror or error}") from None


def check_known_format(head: bytes, label: str) -> None:
    """An InputError naming the format when `head` starts like a known non-text file."""
    known = _known_format(head)
    if known is not None:
        raise InputError(f"{label} is {known[0]}, not plain text", _known_format_fix(known[1], label))


def _known_format_fix(fix: str, label: str) -> str:
    """A KNOWN_FORMATS fix for the file named `label`: `pdftotext -layout scan.pdf scan.txt`
    (stdin, which has no name, gets FILE); the text file is never the file itself."""
    file = "FILE" if label in ("-", "stdin", "<stdin>") else label
    text_file = str(Path(file).with_suffix(".txt"))
    if text_file == file:  # a PDF called notes.txt: pdftotext would write over it
        text_file = file + ".txt"
    return fix.format(file=shlex.quote(file), text_file=shlex.quote(text_file))


def _known_format(head: bytes) -> tuple[str, str] | None:
    """(what it is, how to get text out of it) when `head` starts like a known non-text file."""
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":  # the file size between the two
        return WEBP
    return next(((what, fix) for magic, what, fix in KNOWN_FORMATS if head.startswith(magic)), None)


def _wide_text_error(label: str, wide: str, encoding: str = "UTF-8") -> InputError:
    """The InputError for UTF-16/32 text read as `encoding`: which --encoding to pass."""
    why = "without a byte-order mark" if wide.endswith(("LE", "BE")) else \
        "it starts with a byte-order mark"
    return InputError(f"{label} is {wide} text ({why}), not {encoding}",
                      f"pass --encoding {wide.lower()}, or convert it: "
                      f"`iconv -f {wide.lower()} -t utf-8`")


def _refuse_binary(head: bytes, label: str, encoding: str) -> None:
    """The InputError for a file with NUL bytes: what it is, where its first bytes say so."""
    check_known_format(head, label)
    wide = wide_encoding(head)
    if wide is not None:
        raise _wide_text_error(label, wide, encoding)
    raise binary_error(label, head.find(b"\x00"))


def _is_known_format(head: bytes) -> bool:
    return _known_format(head) is not None


def _looks_binary(data: bytes, encoding: str) -> bool:
    return not is_wide(encoding) and b"\x00" in data[:BINARY_PROBE_BYTES]


def _decode(data: bytes, name: str, encoding: str, offset: int = 0) -> str:
    """The text of `data` (which starts at byte `offset` of the file), normalised."""
    return normalise_line_ends(_decode_text(data, name, encoding, offset))


def _decode_text(data: bytes, name: str, encoding: str, offset: int = 0) -> str:
    """`data` (bytes from `offset` of `name`) decoded, a leading byte-order mark dropped, line
    ends as they are; a failure is one InputError that names the encoding and the offset."""
    try:
        text = data.decode(byte_order(data, encoding))
    except UnicodeDecodeError as error:
        wide = wide_encoding(data) if offset == 0 and codecs.lookup(encoding).name == "utf-8" else None
        if wide is not None:
            raise _wide_text_error(name, wide, encoding) from None
        raise InputError(f"{name} is not valid {encoding}: byte 0x{data[error.start]:02x} at offset "
                         f"{offset + error.start} cannot be decoded",
                         decode_hint(data, encoding, offset)) from None
    except UnicodeError as error:  # a codec that names no byte (punycode): its own reason
        raise InputError(f"{name} is not valid {encoding} ({error.__cause__ or error})",
                         "pass another --encoding (e.g. utf-8, latin-1, cp1252)") from None
    except LookupError:
        raise unknown_encoding(encoding) from None
    if text.startswith("\ufeff") and offset == 0:
        text = text[1:]
    if offset == 0:  # once a file: its later pieces are read by the same encoding
        warn_if_misread(data, text, name, encoding)
    return text


def normalise_line_ends(text: str) -> str:
    """CR LF and a lone CR become LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def decode_piece(data: bytes, name: str, encoding: str, offset: int) -> str:
    """Decode bytes [offset, offset + len(data)) of a file as `read_documents` decodes the whole
    file (a leading byte-order mark dropped, line ends normalised); the caller cuts pieces after
    a line end, so no character and no CR LF pair is split."""
    return _decode(data, name, encoding, offset)


def read_document(name: str, encoding: str | None = None) -> str:
    """The text of one file (or stdin for `-`) to summarize or continue, or an InputError that
    says what is wrong; `encoding` None reads it by what its bytes say (`auto_encoding`)."""
    label = "stdin" if name == "-" else name
    if name == "-":
        data = sys.stdin.buffer.read()
    else:
        path = Path(name)
        if not path.exists():
            raise no_such_file(name)
        if path.is_dir():
            raise InputError(f"{name} is a directory", "pass a text file")
        try:
            data = path.read_bytes()
        except OSError as error:
            raise InputError(f"cannot read {name}: {error.strerror}", "check its permissions") from None
    return document_text(data, label, encoding)


def document_text(data: bytes, label: str, encoding: str | None = None) -> str:
    """The text of `read_document` from bytes already read (`label` names them in errors): a
    leading byte-order mark dropped, line ends as they are."""
    if not data:
        raise empty_error(label)
    check_known_format(data, label)
    encoding = encoding or auto_encoding(data)
    nul = data.find(b"\x00")
    if nul >= 0 and not is_wide(encoding):
        wide = wide_encoding(data)  # None in auto mode: it would have been read so
        if wide is not None:
            raise _wide_text_error(label, wide, encoding)
        raise binary_error(label, nul)
    text = _decode_text(data, label, encoding)
    if not text.strip():
        raise InputError(f"{label} contains only whitespace", "give a file with text in it")
    return text


def read_summarization_pairs(path: str | Path, encoding: str = "utf-8") -> list[tuple[str, str]]:
    """Read JSONL lines of {"document": str, "summary": str} (other keys are ignored;
    "reference" is accepted in place of "summary"); a name ending in .xz is decompressed."""
    return [(record["document"], record["summary"])
            for record in read_summarization_records(path, encoding)]


def read_summarization_records(path: str | Path, encoding: str | None = "utf-8") -> list[dict]:
    """The JSONL records of `read_summarization_pairs`, every key kept ("summary" filled in from
    "reference" where only that is given); `encoding` None: `auto_encoding`."""
    name = "<stdin>" if str(path) == "-" else str(path)
    if name == "<stdin>":
        data = sys.stdin.buffer.read()
    elif Path(path).is_file():
        data = _read_bytes(Path(path))
    elif Path(path).is_dir():
        raise InputError(f"{name} is a directory", "pass a JSONL file of document/summary pairs")
    else:
        raise no_such_file(name)
    return summarization_records(data, name, encoding)


def summarization_records(data: bytes, name: str, encoding: str | None = "utf-8") -> list[dict]:
    """The records of `read_summarization_records` from bytes already read (a `name` ending in
    .xz is decompressed)."""
    if name.endswith(".xz"):
        try:
            data = lzma.decompress(data)
        except lzma.LZMAError as error:
            raise InputError(f"{name} is not a valid .xz file ({error})",
                             "give the file uncompressed or recompress it with xz") from None
    encoding = encoding or auto_encoding(data)
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
            raise InputError(f'{name} line {number} lacks string fields "document" and '
                             '"summary" (or "reference")', expected)
        if not record["document"].strip() or not record["summary"].strip():
            raise InputError(f"{name} line {number} has an empty document or summary",
                             "remove that line or fill it in")
        records.append(record)
    if not records:
        raise InputError(f"{name} holds no document/summary pairs",
                         "give a JSONL file with one pair per line")
    return records
