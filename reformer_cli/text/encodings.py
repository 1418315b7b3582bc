"""Which encoding text is in: byte-order marks, UTF-16 without one (CJK text too), the byte order
of a UTF-16/32 file, whether an --encoding names a text codec, and what to tell a user whose
bytes do not decode or decode into the wrong characters.

Pure functions on bytes: no files, no terminal (a likely misreading is a warnings.warn).
"""

from __future__ import annotations

import codecs
import re
import unicodedata
import warnings

from reformer_cli.errors import InputError

UTF16_PROBE_BYTES = 4096  # the opening read to tell UTF-16 without a byte-order mark

# Byte-order marks of the encodings whose text is full of NUL bytes: a file that starts with one
# is text (Windows Notepad saves "Unicode" so), not binary. UTF-32 first: its little-endian mark
# starts like UTF-16's.
WIDE_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
             (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))

# Bytes that plain 8-bit text never holds: NUL and the C0 controls but tab, LF and CR. 8-bit
# text misread as UTF-16 (Latin-1 "ab" as U+6261, a CJK ideograph) has none of them, while real
# UTF-16 text has many: every ASCII character has a NUL, and about one CJK character in nine
# (and "，", "。", "、") has a control byte.
NOT_IN_8BIT_TEXT = frozenset(range(0x20)) - {0x09, 0x0A, 0x0D} | {0x7F}

# Where most characters of Latin, Greek, Cyrillic and CJK text lie: Latin to Cyrillic, general
# punctuation, CJK punctuation and kana, the common CJK ideographs, Hangul syllables, fullwidth
# forms. Half the code points of the BMP, so chance seldom puts 80% of a text there.
UTF16_SCRIPTS = ((0x0000, 0x04FF), (0x2000, 0x206F), (0x3000, 0x30FF), (0x4E00, 0x9FFF),
                 (0xAC00, 0xD7A3), (0xFF00, 0xFFEF))

# What cp1252's quotes and dashes become when read as Latin-1; searched in C, as a training
# corpus's first piece can be tens of megabytes.
C1_CONTROL = re.compile("[\x80-\x9f]")
UTF16_MIN_CHARACTERS = 32  # fewer: too little to tell text from chance

# Codecs that escape or transform Python or DNS strings (or refuse all bytes), not a file's text.
NOT_FILE_ENCODINGS = frozenset({"unicode-escape", "raw-unicode-escape", "idna", "punycode",
                                "undefined"})


def wide_encoding(head: bytes) -> str | None:
    """"UTF-16" or "UTF-32" when `head` (a file, or its first bytes) starts with that
    encoding's byte-order mark; without one, "UTF-16LE" or "UTF-16BE" when every other byte of
    its opening is NUL, as in mostly Latin-script text in UTF-16 (binary files have NULs, but
    not so regularly), or when it reads as text only in that encoding (`unmarked_utf16`)."""
    marked = next((name for bom, name in WIDE_BOMS if head.startswith(bom)), None)
    if marked is not None:
        return marked
    sample = head[:UTF16_PROBE_BYTES]
    sample = sample[:len(sample) - len(sample) % 2]
    if len(sample) < 8:
        return None
    half = len(sample) // 2
    even_nuls, odd_nuls = sample[0::2].count(0), sample[1::2].count(0)
    if odd_nuls >= 0.9 * half and even_nuls == 0:
        return "UTF-16LE"
    if even_nuls >= 0.9 * half and odd_nuls == 0:
        return "UTF-16BE"
    return unmarked_utf16(head)


def unmarked_utf16(head: bytes, minimum: int = UTF16_MIN_CHARACTERS) -> str | None:
    """"UTF-16LE" or "UTF-16BE" when `head` (a file, or its first bytes), which is not UTF-8,
    reads in that encoding as text: no unpaired surrogate, at least 95% letters, digits,
    punctuation and white space, 80% of it Latin, Greek, Cyrillic or CJK, and at least 3%
    characters that 8-bit text misread as UTF-16 cannot give (see NOT_IN_8BIT_TEXT). Such is
    CJK text in UTF-16, whose bytes are not every other one NUL; random bytes fail mostly on
    surrogates, and Latin-1, cp1252 or GBK text on the other rules or, at the last, on the last.
    `minimum`: the fewest characters to judge (fewer is chance; a hint may ask with less)."""
    whole = len(head) < UTF16_PROBE_BYTES  # else a sample, which may end within a character
    sample = head[:UTF16_PROBE_BYTES]
    if len(sample) < 2 * minimum or (whole and len(sample) % 2):
        return None
    if decodes(sample, "utf-8", whole) is not None:
        return None
    read = {name: decodes(sample, name, whole) for name in ("UTF-16LE", "UTF-16BE")}
    shares = {name: _in_scripts(text) for name, text in read.items() if text}
    if not shares:
        return None
    best = max(shares, key=shares.get)  # both can read as text: kana with its bytes swapped are
    return best if reads_as_text(read[best], best, minimum) else None  # ideographs, but rarer


def decodes(data: bytes, encoding: str, whole: bool) -> str | None:
    """`data` decoded (all of it when `whole`, else up to a character cut at its end), or None."""
    try:
        return codecs.getincrementaldecoder(encoding)().decode(data, final=whole)
    except UnicodeDecodeError:
        return None


def _in_scripts(text: str) -> float:
    """The share of `text` in UTF16_SCRIPTS."""
    return sum(any(low <= ord(char) <= high for low, high in UTF16_SCRIPTS) for char in text) / len(text)


def reads_as_text(text: str, encoding: str, minimum: int = UTF16_MIN_CHARACTERS) -> bool:
    """The rules of `unmarked_utf16` on `text`, decoded from `encoding`."""
    if len(text) < minimum:
        return False
    texty = sum(unicodedata.category(char)[0] in "LNPZ" or char in "\t\n\r" for char in text)
    units = text.encode(encoding)
    anchors = sum(units[i] in NOT_IN_8BIT_TEXT or units[i + 1] in NOT_IN_8BIT_TEXT
                  for i in range(0, len(units), 2))
    return (texty >= 0.95 * len(text) and _in_scripts(text) >= 0.8
            and anchors >= 0.03 * len(text))


def is_wide(encoding: str) -> bool:
    """Whether `encoding` is UTF-16 or UTF-32, where NUL bytes are normal."""
    return encoding.lower().replace("-", "").replace("_", "").startswith(("utf16", "utf32"))


def check_encoding(encoding: str | None) -> None:
    """An InputError unless `encoding` is None (the bytes say) or names a text encoding: the
    commands call it before they read anything or load a model."""
    if encoding is None:
        return
    try:
        codec = codecs.lookup(encoding).name
        bytes(4).decode(encoding)  # not b"": Python decodes that without looking the codec up
    except UnicodeError:
        pass  # a text encoding, just not of NULs
    except LookupError:  # no such codec, or one that is not text (rot13, base64)
        raise unknown_encoding(encoding) from None
    if codec in NOT_FILE_ENCODINGS:
        raise unknown_encoding(encoding)


def unknown_encoding(encoding: str) -> InputError:
    return InputError(f"unknown encoding {encoding!r}", "use e.g. utf-8, latin-1, gb18030")


def warn_if_misread(data: bytes, text: str, name: str, encoding: str) -> None:
    """warnings.warn when text read as Latin-1, where every byte decodes, was most likely
    written in another encoding: UTF-8 (whose bytes would be garbled) or cp1252 (whose quotes
    and dashes Latin-1 makes C1 control characters, U+0080 to U+009F)."""
    if codecs.lookup(encoding).name != "iso8859-1":
        return
    if not data.isascii() and decodes(data, "utf-8", True) is not None:
        warnings.warn(f"{name} is valid UTF-8; --encoding {encoding} may garble it", stacklevel=4)
    elif C1_CONTROL.search(text):
        warnings.warn(f"{name} decodes as {encoding} but holds C1 control characters; it is "
                      "probably cp1252: pass --encoding cp1252", stacklevel=4)


def decode_hint(data: bytes, encoding: str, offset: int) -> str:
    """What to pass when `data` is not valid `encoding`: no --encoding when it is UTF-8 (and
    would be read so without one), UTF-16 when it reads as such but is too short to be told."""
    if codecs.lookup(encoding).name != "utf-8":
        if decodes(data, "utf-8", True) is not None and auto_encoding(data) == "UTF-8":
            return "it is valid UTF-8: leave out --encoding"
    elif offset == 0:
        wide = unmarked_utf16(data, minimum=1)
        if wide is not None:
            return (f"it reads as {wide} text (too short to tell for sure): pass --encoding "
                    f"{wide.lower()}, or another (e.g. latin-1, cp1252, gb18030)")
    return ("pass --encoding (e.g. latin-1, cp1252, gb18030), or convert it, e.g. "
            "`iconv -f latin1 -t utf-8`")


def byte_order(data: bytes, encoding: str) -> str:
    """`encoding`, or where it is UTF-16 or UTF-32 with no byte order named and `data` has no
    byte-order mark, the order its bytes tell (Python's codecs would assume little-endian):
    UTF-16's by `wide_encoding`, UTF-32's by the byte every character has NUL (its highest)."""
    family = codecs.lookup(encoding).name
    if family not in ("utf-16", "utf-32") or data.startswith(tuple(bom for bom, _ in WIDE_BOMS)):
        return encoding
    if family == "utf-16":
        wide = wide_encoding(data)
        return wide if wide in ("UTF-16LE", "UTF-16BE") else encoding
    whole = data[:len(data) - len(data) % 4]
    high_first, high_last = not any(whole[0::4]), not any(whole[3::4])
    return "UTF-32BE" if high_first and not high_last else \
        "UTF-32LE" if high_last and not high_first else encoding


def auto_encoding(data: bytes) -> str:
    """How a command without --encoding reads `data`: UTF-16 or UTF-32 where `wide_encoding`
    tells one, else UTF-8 (with or without a byte-order mark)."""
    return wide_encoding(data) or "UTF-8"
