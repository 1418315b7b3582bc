"""Words as budgets count them, and sentence text as summaries show it: each CJK character
counts as one word, whitespace is collapsed (and dropped between CJK characters), and a sentence
taken out of a quotation gets its quotation marks balanced.

Pure functions: no files, no terminal.
"""

from __future__ import annotations

import re

# Characters counted as one word each (CJK ideographs and kana). Korean writes spaces between
# words, so hangul is an alphabet here: its words are counted, and spaces between them kept.
CJK_CHAR = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff"
CJK_RE = re.compile(f"[{CJK_CHAR}]")
CJK_PUNCT = "。！？；：，、…「」『』“”‘’（）《》〈〉【】〔〕—～·．！？；"
_CJK_PUNCT_CLASS = re.escape(CJK_PUNCT)
_CJK_OR_PUNCT = re.compile(f"[{CJK_CHAR}{_CJK_PUNCT_CLASS}]")
QUOTE_PAIRS = {"「": "」", "『": "』", "“": "”"}
QUOTE_CLOSERS = {close: opening for opening, close in QUOTE_PAIRS.items()}
WRAPPED_HYPHEN = re.compile(r"(?<=[^\W\d_])-[ \t]*\n\s*(?=[^\W\d_])")
INVISIBLE = re.compile("[\u00ad\u200b\u2060\ufeff]")  # soft hyphen, zero-width space, joiners


def count_words(text: str) -> int:
    """Budget unit: whitespace words, where each CJK character counts as one word."""
    n_cjk = len(CJK_RE.findall(text))
    rest = _CJK_OR_PUNCT.sub(" ", text)
    return n_cjk + len(rest.split())


def truncate_words(text: str, max_words: int) -> str:
    """The longest prefix of `text` whose `count_words` is at most `max_words`."""
    if max_words <= 0:
        return ""
    if count_words(text) <= max_words:
        return text
    count, in_word, end = 0, False, 0
    for position, char in enumerate(text):
        if CJK_RE.match(char):
            count += 1
            in_word = False
        elif char.isspace() or char in CJK_PUNCT:
            in_word = False
        elif not in_word:
            count += 1
            in_word = True
        if count > max_words:
            break
        end = position + 1
    return text[:end].rstrip()


def balance_quotes(text: str) -> str:
    """A sentence taken out of a quotation, made to read whole: a closing mark whose opening
    mark lies before the sentence is dropped, and a quotation the sentence leaves open is closed
    at its end. Only the paired CJK and curly double quotes; straight quotes are ambiguous."""
    kept, open_marks = [], []
    for char in text:
        if char in QUOTE_PAIRS:
            open_marks.append(char)
        elif char in QUOTE_CLOSERS:
            if QUOTE_CLOSERS[char] not in open_marks:
                continue  # opened before this sentence began
            while open_marks and open_marks.pop() != QUOTE_CLOSERS[char]:
                pass
        kept.append(char)
    return "".join(kept) + "".join(QUOTE_PAIRS[mark] for mark in reversed(open_marks))


def normalise(text: str) -> str:
    """Collapse whitespace; drop it entirely between two CJK characters (wrapped lines) and
    after a hyphen that ends a wrapped line ("Access-" / "Accept" is "Access-Accept"); drop
    invisible characters (soft hyphens, zero-width spaces), which only show up as garbage."""
    text = " ".join(WRAPPED_HYPHEN.sub("-", INVISIBLE.sub("", text)).split())
    return re.sub(f"(?<=[{CJK_CHAR}{_CJK_PUNCT_CLASS}]) (?=[{CJK_CHAR}{_CJK_PUNCT_CLASS}])", "", text)
