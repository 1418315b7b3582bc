"""Sentence segmentation for English, Chinese and mixed text, with character offsets.

The text is first cut into blocks and units (units.py: headings, list items, code, data, prose),
and prose into sentences. English boundaries are `.!?` (or an ellipsis, `...` or `…`) followed
by space and a plausible sentence start, unless the word before is a known abbreviation, an
initial or a dotted acronym (`e.g.`, `U.S.`; one in capitals only ends a sentence before a
common sentence opener: "the U.S. Department" goes on, "to the U.S. The weather" ends); decimals
such as `3.14` never qualify because no space follows the dot, nor does `"try"…"except"`, and a
lower-case word after `?`, `!` or an ellipsis goes on the sentence (“Why not?” said he; Wait…
then he left). Chinese boundaries are `。！？；` (plus `!?;` full width) and `…` beside Chinese,
with any closing quotes `」』”’）` kept on the sentence they close. A unit longer than
`max_sentence_words` (a line with no boundaries at all, say) is cut into pseudo-sentences at
clause punctuation, or at spaces / every N characters when there is none.

Pure functions: no files, no terminal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from reformer_cli.text.furniture import blank_format_furniture, code_body_lines
from reformer_cli.text.markup import looks_like_html, page_text
from reformer_cli.text.pages import blank_page_furniture
from reformer_cli.text.units import block_units, blocks, fenced_lines, unmarked_lines
from reformer_cli.text.words import CJK_CHAR, CJK_RE, QUOTE_PAIRS, count_words, normalise

ABBREVIATIONS = frozenset("""
mr mrs ms dr prof sr jr st mt vs etc al cf approx ca fig figs eq eqs no nos vol vols pp ch
sec sect ref refs resp dept univ inc ltd co corp jan feb mar apr jun jul aug sep sept oct nov
dec mon tue wed thu fri sat sun gen col lt sgt capt gov rep sen rev est viz ed eds op
""".split())
# Abbreviations that number what follows ("No. 5", "Fig. (3)", "pp. 12-14"): only before a digit
# or "(" are they abbreviations; "she said no. Then" and "dried figs. They" end sentences.
NUMBERING_ABBREVIATIONS = frozenset("no nos fig figs eq eqs vol vols sec sect ref refs op p pp".split())
# Words that open a sentence far more often than they go on a name: after a dotted initialism
# ("U.S.", "E.U."), only one of these makes its stop a boundary ("...to the U.S. The weather"),
# where "the U.S. Department of Energy" goes on.
SENTENCE_OPENERS = frozenset("""
a an the this that these those it its he she they we i you there here his her their our my
in on at of for from with by to as if when while after before since although though because
but and or so yet then thus however also meanwhile today now later some many most all each
both no not one such what why how
""".split())

# A quotation or a parenthesis that is a sentence of its own: it opens with a capital and its
# last word is followed by punctuation ("“We are worried,” he said", "(The figures were revised.)"),
# where "the U.S. “Patriot Act”" or "the U.S. (Ohio)" is a name.
QUOTED_SENTENCE = re.compile(r"[“\"][A-Z][^”\"\n]*[,.!?…][”\"]|\([A-Z][^()\n]*[.!?…]\)")
SENTENCE_END_EN = re.compile(r"[.!?…]+[\"'”’)\]]*(?=[\s\u200b])")  # "end.\u200bNext" too
SENTENCE_END_ZH = re.compile("(?:[。！？；!?;．]|…+|\\.\\.\\.)+[」』”’）)》\"']*")
# What makes an ellipsis Chinese: an ideograph or kana, or full-width punctuation, beside it.
# Curly quotes are English too: “try”…“except” is no boundary.
_CHINESE_NEIGHBOUR = re.compile(f"[{CJK_CHAR}。！？；：，、「」『』（）《》〈〉【】〔〕]")
LONE_CR = re.compile(r"\r(?!\n)")  # a line end on its own (\r\n is already one)
QUOTE_OPENS_HERE = re.compile(f"\\s*[{''.join(QUOTE_PAIRS)}]")
CLAUSE_BREAK = re.compile(f"[,;:，、：；](?:\\s+|(?=[{CJK_CHAR}]))|\\s[-–—]\\s")
LEADING_BLANK = re.compile("[\\s\u200b\u2060\ufeff]*")
MAX_SENTENCE_CHARS = 1000  # a run of text with no space at all is cut this often


@dataclass(frozen=True)
class Sentence:
    """One sentence (or heading, list item, code line) of a document."""

    text: str  # whitespace-normalised text
    start: int  # character offset of the first character in the original text
    end: int  # offset one past the last character
    index: int  # position among all sentences of the document
    block: int  # which blank-line-separated block it came from
    kind: str  # "sentence", "heading", "list", "code", "data" (a table row, a line of JSON)
    pseudo: bool = False  # cut from an over-long unit without a real boundary
    n_words: int = 0  # count_words(text), computed once


def _previous_word(text: str, position: int) -> str:
    match = re.search(r"(\S+)$", text[max(0, position - 60):position])  # bounded: long lines
    return match.group(1) if match else ""


def _is_english_boundary(text: str, dot_start: int, dot_end: int) -> bool:
    """Whether the `.!?…` run at dot_start (closing quotes included up to dot_end) ends one."""
    following = text[dot_end:].lstrip().lstrip("\u200b").lstrip()
    if not following:
        return True
    if text[dot_start] not in ".…":  # “Why not?” said he: a lower-case word goes on the sentence
        return not following[0].islower()
    word = _previous_word(text, dot_start).lstrip("(\"'[“‘_*")  # "_Mrs." in _italics_
    token = word.lower()
    next_char = following[0]
    if text.startswith(("...", "…"), dot_start):  # the "try" … "except" statement
        next_char = (following.lstrip("\"'“‘([`") or following)[0]
    if token in NUMBERING_ABBREVIATIONS:
        if next_char.isdigit() or next_char == "(":
            return False
    elif token in ABBREVIATIONS and token != "etc":
        return False
    if re.fullmatch(r"(?:[A-Z]\.)+[A-Z]", word):  # "U.S. Department", "J.R.R. Tolkien"
        if QUOTED_SENTENCE.match(following):  # the U.S. “We are worried,” / the U.K. (The ...)
            return True
        opener = re.match(r"[\"'“‘(\[]*([A-Za-z]+)", following)
        return next_char.isupper() and bool(opener) and opener.group(1).lower() in SENTENCE_OPENERS
    if re.fullmatch(r"(?:[a-z]\.){1,}[a-z]", token):  # e.g / i.e / a.m
        return next_char.isupper() and token not in ("e.g", "i.e")
    if len(word) == 1 and word.isupper():  # an initial: "J. Smith"
        return False
    if re.fullmatch(r"[0-9]+(?:\.[0-9]+)*|[A-Za-z]", word) and not text[:dot_start - len(word)].strip():
        return False  # "1. Introduction", "a. the first case": a marker, not a sentence
    if next_char.islower() or next_char in ",;:)":
        return False
    return True


def _is_chinese_boundary(chunk: str, match: re.Match) -> bool:
    """Whether a SENTENCE_END_ZH match ends a sentence: a full-width stop always does; `!?;`,
    `．` (a full-width period, also a decimal point in ３．１４) and `...` only after Chinese,
    `…` only beside it (an English ellipsis, `Wait… then`, is left to the English rules, like
    `...`)."""
    before = chunk[match.start() - 1] if match.start() else ""
    if match.group()[0] == "…":
        after = chunk[match.end():match.end() + 1]
        return bool(_CHINESE_NEIGHBOUR.match(before) or _CHINESE_NEIGHBOUR.match(after))
    return match.group()[0] in "。！？；" or bool(CJK_RE.match(before))


def _split_prose(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans, sentence_start = [], start
    chunk = text[start:end]
    boundaries = []
    for match in SENTENCE_END_EN.finditer(chunk):
        if _is_english_boundary(chunk, match.start(), match.end()):
            boundaries.append(match.end())
    for match in SENTENCE_END_ZH.finditer(chunk):
        if match.group()[-1] in "；;" and QUOTE_OPENS_HERE.match(chunk, match.end()):
            continue  # "恢曰；「…」": a semicolon typed for the colon that opens a quotation
        if _is_chinese_boundary(chunk, match):
            boundaries.append(match.end())
    for boundary in sorted(set(boundaries)):
        absolute = start + boundary
        if text[sentence_start:absolute].strip():
            spans.append((sentence_start, absolute))
            sentence_start = absolute
    if text[sentence_start:end].strip():
        spans.append((sentence_start, end))
    return spans


def _cut_long(text: str, start: int, end: int, max_words: int) -> list[tuple[int, int]]:
    """Cut an over-long span into pieces of at most `max_words`, preferring clause breaks."""
    if count_words(text[start:end]) <= max_words:
        if end - start <= MAX_SENTENCE_CHARS * 2:
            return [(start, end)]
        # A few huge tokens (no spaces, no CJK): cut by characters.
        return [(cut, min(cut + MAX_SENTENCE_CHARS, end))
                for cut in range(start, end, MAX_SENTENCE_CHARS)]
    target = max(1, max_words * 2 // 3)
    pieces, piece_start = [], start
    cuts = [start + m.end() for m in CLAUSE_BREAK.finditer(text[start:end])]
    for cut in cuts + [end]:
        if count_words(text[piece_start:cut]) >= target or cut == end:
            if count_words(text[piece_start:cut]) > max_words:  # no clause break: hard cuts
                pieces.extend(_cut_every(text, piece_start, cut, target))
            elif text[piece_start:cut].strip():
                pieces.append((piece_start, cut))
            piece_start = cut
    return pieces


def _cut_every(text: str, start: int, end: int, n_words: int) -> list[tuple[int, int]]:
    pieces, piece_start, count, in_word = [], start, 0, False
    for offset in range(start, end):
        char = text[offset]
        if CJK_RE.match(char):
            count, in_word = count + 1, False
        elif char.isspace():
            in_word = False
            if count >= n_words:
                pieces.append((piece_start, offset))
                piece_start, count = offset, 0
        elif not in_word:
            count, in_word = count + 1, True
        if count >= n_words and CJK_RE.match(char):
            pieces.append((piece_start, offset + 1))
            piece_start, count = offset + 1, 0
    if text[piece_start:end].strip():
        pieces.append((piece_start, end))
    return [piece for piece in pieces if text[piece[0]:piece[1]].strip()]


def split_sentences(text: str, max_sentence_words: int = 80) -> list[Sentence]:
    """Segment `text` into sentences (and headings, list items, code lines) in order; page
    furniture (pages.py) is no part of any, and an HTML document is segmented as its text
    (markup.py), each sentence's offsets translated back into the markup."""
    if looks_like_html(text):
        page = page_text(text)
        return [replace(sentence, start=page.starts[sentence.start], end=page.ends[sentence.end - 1])
                for sentence in _segment(page.text, max_sentence_words)]
    return _segment(text, max_sentence_words)


def _segment(text: str, max_sentence_words: int) -> list[Sentence]:
    text = LONE_CR.sub("\n", text)  # classic Mac line ends; one for one, so offsets still hold
    text = blank_page_furniture(text)  # same length: offsets into `text` still hold
    marked = text
    text = blank_format_furniture(text)  # same length again
    unmarked = unmarked_lines(marked, text) if text is not marked else frozenset()
    fenced = fenced_lines(text) | code_body_lines(marked)  # ``` fences, literal blocks, verbatim
    sentences: list[Sentence] = []
    for block_index, (block_start, block_end) in enumerate(blocks(text)):
        for unit_start, unit_end, kind in block_units(text, block_start, block_end, fenced, unmarked):
            if kind in ("heading", "code", "data"):
                spans = [(unit_start, unit_end)]
            else:
                spans = _split_prose(text, unit_start, unit_end)
            for span_start, span_end in spans:
                # A code or data line is kept whole, unless it is a page of minified data.
                whole = kind in ("code", "data") and \
                    count_words(text[span_start:span_end]) <= max_sentence_words
                pieces = [(span_start, span_end)] if whole \
                    else _cut_long(text, span_start, span_end, max_sentence_words)
                for piece_start, piece_end in pieces:
                    raw = text[piece_start:piece_end]
                    lead = LEADING_BLANK.match(raw).end()  # offsets skip invisible blanks too
                    trail = len(raw) - len(raw.rstrip())
                    normalised = normalise(raw)
                    sentences.append(Sentence(
                        text=normalised, start=piece_start + lead, end=piece_end - trail,
                        index=len(sentences), block=block_index,
                        kind="sentence" if kind == "prose" else kind, pseudo=len(pieces) > 1,
                        n_words=count_words(normalised)))
    return sentences
