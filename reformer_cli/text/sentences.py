"""Sentence segmentation for English, Chinese and mixed text, with character offsets.

The text is first cut into blocks (blank lines), blocks into units (headings, a book's divisions
such as "CHAPTER 1. Loomings." among them, list items, code-like lines, data (the rows of a
table, lines of JSON: tables.py), prose), and prose into sentences. English boundaries are `.!?`
(or an ellipsis, `...` or `…`) followed by space and a plausible sentence start, unless the word
before is a known abbreviation, an initial or a dotted acronym (`e.g.`, `U.S.`; one in capitals
only ends a sentence before a common sentence opener: "the U.S. Department" goes on, "to the
U.S. The weather" ends); decimals such as `3.14` never qualify because no space follows the dot,
nor does `"try"…"except"`, and a lower-case word after `?`, `!` or an ellipsis goes on the
sentence (“Why not?” said he; Wait… then he left). Chinese boundaries are `。！？；` (plus `!?;`
full width) and `…` beside Chinese, with any closing quotes `」』”’）` kept on the sentence they
close. A unit longer than `max_sentence_words` (a line with no boundaries at all, say) is cut
into pseudo-sentences at clause punctuation, or at spaces / every N characters when there is
none.

Pure functions: no files, no terminal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from reformer_cli.text.furniture import blank_format_furniture, code_body_lines
from reformer_cli.text.markup import looks_like_html, page_text
from reformer_cli.text.pages import blank_page_furniture
from reformer_cli.text.tables import data_lines

# Characters counted as one word each (CJK ideographs and kana). Korean writes spaces between
# words, so hangul is an alphabet here: its words are counted, and spaces between them kept.
CJK_CHAR = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff"
CJK_RE = re.compile(f"[{CJK_CHAR}]")
CJK_PUNCT = "。！？；：，、…「」『』“”‘’（）《》〈〉【】〔〕—～·．！？；"
_CJK_PUNCT_CLASS = re.escape(CJK_PUNCT)
_CJK_OR_PUNCT = re.compile(f"[{CJK_CHAR}{_CJK_PUNCT_CLASS}]")

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
QUOTE_PAIRS = {"「": "」", "『": "』", "“": "”"}
QUOTE_CLOSERS = {close: opening for opening, close in QUOTE_PAIRS.items()}
QUOTE_OPENS_HERE = re.compile(f"\\s*[{''.join(QUOTE_PAIRS)}]")
CLAUSE_BREAK = re.compile(f"[,;:，、：；](?:\\s+|(?=[{CJK_CHAR}]))|\\s[-–—]\\s")
LIST_MARKER = re.compile(r"^\s*(?:[-*•·+o]\s+|\(?[0-9]{1,3}[.)]\s+|\(?[a-zA-Z][.)]\s+|[0-9]+\.\s*$)")
# A line that starts with a time stamp is a record of its own (a log, a transcript), never the
# wrapped continuation of the line before: "2023-04-01 12:00:06,520 WARN ...", "[00:01:05] Bob:".
RECORD_START = re.compile(r"^\s*\[?(?:\d{4}-\d\d-\d\d[ T]\d\d:\d\d|\d{1,2}:\d\d:\d\d\]|"
                          r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d )")
# A speaker's turn in a transcript or a play: "Alice: ...", "DR. SMITH: ...". It only counts as a
# record where most lines of a block are turns, so "Note: ..." in prose stays prose.
SPEAKER_TURN = re.compile(r"^\s*(?:\[[\d:.,]+\]\s*)?[A-Z][\w.'-]*(?: [A-Z][\w.'-]*){0,2}: \S")
MIN_TURNS = 3
PROSE_RUN = re.compile(r"(?:\b[A-Za-z]{2,}\b,? ){5}")  # five plain words in a row
BULLET = re.compile(r"^\s*[-*•·+]\s")
SECTION_NUMBER = re.compile(r"^\s*(?:[0-9]+(?:\.[0-9]+)*\.?|[A-Z]\.|Appendix [A-Z]\.?)\s+\S")
CODE_START = re.compile(r"^\s*(?:\$ |>>> |\.\.\. |#include|def |class |import |from \S+ import|"
                        r"return\b|if \(|for \(|while \(|[{}]\s*$|//|/\*|\*/|"
                        r"[A-Za-z_][\w-]*\s*::=)")  # a grammar rule: "with_stmt ::= ..." (BNF, ASN.1)
# A book's divisions: a division word and its number, then nothing or a stop and a title.
_DIVISION_NUMBER = (r"(?:[0-9]+|[IVXLCDM]+|(?i:one|two|three|four|five|six|seven|eight|nine|ten|"
                    r"eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|"
                    r"twenty|the (?:first|last)))")
DIVISION_HEADING = re.compile(
    r"(?:(?i:chapter|book|part|volume|section|canto|act|scene|stave|letter)\s+"
    rf"{_DIVISION_NUMBER}(?:[.:](?:\s|$)|\s*[-–—]\s|\s*$)"
    f"|第[〇零一二三四五六七八九十百千两0-9]+[回章节節卷部篇集幕])")
MAX_DIVISION_WORDS = 30  # "CHAPTER 73. Stubb and Flask kill a Right Whale; and Then Have a Talk over Him."
MAX_SHOUTED_WORDS = 8
# A title's underline or overline in reStructuredText and setext Markdown: "=====", "-----".
UNDERLINE = re.compile(r"^\s*([=\-~*^#+_`:.'\"])\1{2,}\s*$")
# A table's border or header rule, grid ("+-----+----+", "|=====|====|") or simple ("=====  ===").
TABLE_RULE = re.compile(r"^\s*(?:[+|](?:[-=]+[+|]){2,}|=+(?:[ \t]+=+)+)\s*$")
# Backtick fences only: a line of tildes is far more often a reStructuredText underline.
CODE_FENCE = re.compile(r" {0,3}(`{3,})")
MARKDOWN_HEADING = re.compile(r" {0,3}#{1,6}[ \t]+\S")  # "## Design"
WRAPPED_HYPHEN = re.compile(r"(?<=[^\W\d_])-[ \t]*\n\s*(?=[^\W\d_])")
OPEN_SENTENCE_ENDS = tuple(".!?:;。！？；：…")  # a line ending so closes its sentence (or opens code)
LEADING_BLANK = re.compile("[\\s\u200b\u2060\ufeff]*")
SENTENCE_FINAL = re.compile(r"[.!?][\"'”’)\]]*\s*$")
INVISIBLE = re.compile("[\u00ad\u200b\u2060\ufeff]")  # soft hyphen, zero-width space, joiners
MAX_SENTENCE_CHARS = 1000  # a run of text with no space at all is cut this often
CODE_SYMBOLS = set("{}()[]<>=;_/\\|#$@`*&^~")
INLINE_CODE = re.compile(r"(`{1,2})[^`\n]+?\1")  # Markdown `x`, reStructuredText ``x``
STRONG_EMPHASIS = re.compile(r"\*\*(?=\S)|(?<=\S)\*\*")
WORD_EDGE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_+(?=[A-Za-z0-9])|(?<=[A-Za-z0-9])_+(?![A-Za-z0-9])")


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


def _blocks(text: str) -> list[tuple[int, int]]:
    """(start, end) of runs of text separated by blank lines."""
    spans, start = [], None
    for match in re.finditer(r"[^\n]*(?:\n|$)", text):
        line = match.group()
        if not line:
            break
        if line.strip():
            if start is None:
                start = match.start()
            end = match.start() + len(line.rstrip("\n"))
        elif start is not None:
            spans.append((start, end))
            start = None
    if start is not None:
        spans.append((start, end))
    return _merge_broken_blocks(text, spans)


def _merge_broken_blocks(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Join a block that stops mid-sentence to the next one when that starts in lower case
    (a page break in the middle of a paragraph, as in RFCs)."""
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged:
            previous = text[merged[-1][0]:merged[-1][1]].rstrip()
            following = text[start:end].lstrip()
            if previous and previous[-1] not in ".!?:;。！？；：" and following[:1].islower() \
                    and not LIST_MARKER.match(following) and "\n" not in previous.strip():
                merged[-1] = (merged[-1][0], end)
                continue
        merged.append((start, end))
    return merged


def is_code_like(line: str) -> bool:
    stripped = line.strip()
    if not stripped:
        return False
    if CODE_START.match(line) or (line.startswith("    ") and not LIST_MARKER.match(line)
                                  and not re.search(r"[.!?。]\s*$", stripped)):
        return True
    # An underscore opening or closing a word is _emphasis_, not code: only snake_case counts.
    # Inline code (`x`, ``x``) and **strong** mark up prose: a span counts as one plain word.
    plain = STRONG_EMPHASIS.sub("", INLINE_CODE.sub("c", stripped))
    n_symbols = sum(1 for char in WORD_EDGE_UNDERSCORE.sub("", plain) if char in CODE_SYMBOLS)
    words = stripped.split()
    dense_symbols = n_symbols / len(stripped) > 0.12
    # "(a) sublicense, sell, or distribute the Software;" is a clause of a list, not a statement.
    # Nor is a wrapped line of prose that happens to end in one: "...when every other byte is NUL;".
    statement_end = stripped.endswith((";", "{", "}")) and n_symbols >= 3 \
        and not LIST_MARKER.match(line) and not PROSE_RUN.search(plain)
    operators = any(token in stripped for token in ("==", "->", "()", "::", "=>")) and len(words) <= 8
    return len(stripped) >= 4 and (dense_symbols or statement_end or operators)


def is_heading(unit: str, alone_in_block: bool) -> bool:
    """A short line with no sentence-final punctuation, alone in its block or numbered; or,
    alone in its block, a book's division ("CHAPTER 1. Loomings.", "第一回"), final stop or not."""
    stripped = unit.strip()
    if not stripped or "\n" in stripped:
        return False
    short = count_words(stripped) <= (12 if not CJK_RE.search(stripped) else 20)
    if re.search(r"[.!?。！？；:：,，]$", stripped):
        return alone_in_block and (is_division_heading(stripped) or _is_shouted_title(stripped))
    return short and (alone_in_block or bool(SECTION_NUMBER.match(stripped)))


def is_division_heading(line: str) -> bool:
    """ "CHAPTER 73. Stubb and Flask kill a Right Whale", "Book II.", "第一回 ..." (a division's
    title may be long)."""
    stripped = line.strip()
    return bool(DIVISION_HEADING.match(stripped)) and count_words(stripped) <= MAX_DIVISION_WORDS


def _is_shouted_title(line: str) -> bool:
    """A few words in capitals: "PRELUDE.", "OLD AND YOUNG." """
    letters = [char for char in line if char.isalpha()]
    return len(letters) >= 2 and all(char.isupper() for char in letters) \
        and count_words(line) <= MAX_SHOUTED_WORDS and not CJK_RE.search(line)


def _continues_heading(heading: str, line: str) -> bool:
    """Whether `line` goes on a division heading: its wrapped title (the heading has no final
    stop yet), or a title in capitals under it ("BOOK II." / "OLD AND YOUNG.")."""
    if not is_division_heading(heading):
        return False
    wrapped = not re.search(r"[.!?]$", heading.strip()) and \
        count_words(heading) + count_words(line) <= MAX_DIVISION_WORDS
    return wrapped or _is_shouted_title(line.strip())


def _in_paragraph(units: list[list]) -> bool:
    """Whether the next line would go on prose or a list item: a wrapped line that begins
    "Chapter 2. The ..." is the middle of a sentence, not a heading."""
    return bool(units) and units[-1][2] in ("prose", "list")


def _is_title(line: str) -> bool:
    """A line that an underline makes a heading: short, not code, not ending a sentence."""
    stripped = line.strip()
    return (bool(stripped) and count_words(stripped) <= 12 and not UNDERLINE.match(line)
            and not is_code_like(line) and not stripped.endswith((".", ",", ":", ";")))


def _underlined_titles(lines: list[str]) -> set[int]:
    """Indexes of the lines that an underline (or an overline and an underline) makes titles."""
    titles: set[int] = set()
    index = 0
    while index < len(lines) - 1:
        if (UNDERLINE.match(lines[index]) and index + 2 < len(lines) and _is_title(lines[index + 1])
                and UNDERLINE.match(lines[index + 2])):
            titles.add(index + 1)
            index += 3
        elif _is_title(lines[index]) and UNDERLINE.match(lines[index + 1]):
            titles.add(index)
            index += 2
        else:
            index += 1
    return titles


def fenced_lines(text: str) -> frozenset[int]:
    """Offsets of the lines inside Markdown code fences (``` up to a fence as long), the fences
    included. A fence never closed marks only its own line: a stray ``` in prose must not
    turn the rest of the document into code."""
    if "```" not in text:
        return frozenset()
    found: list[int] = []
    opening, inside, offset = None, [], 0
    for line in text.split("\n"):
        fence = CODE_FENCE.match(line)
        if opening is None and fence:
            opening, inside = fence.group(1), [offset]
        elif opening is not None:
            inside.append(offset)
            if fence and len(fence.group(1)) >= len(opening) and not line[fence.end():].strip():
                found += inside
                opening = None
        offset += len(line) + 1
    if opening is not None:
        found.append(inside[0])
    return frozenset(found)


def _unmarked_lines(before: str, after: str) -> frozenset[int]:
    """Starts of the lines of `after` whose opening text `blank_format_furniture` blanked."""
    starts = set()
    for match in re.finditer(r"[^\n]+", after):
        line_start, line = match.start(), match.group()
        kept = before[line_start:match.end()]
        if len(line) - len(line.lstrip()) > len(kept) - len(kept.lstrip()):
            starts.add(line_start)
    return frozenset(starts)


def _units(text: str, start: int, end: int, fenced: frozenset[int] = frozenset(),
           unmarked: frozenset[int] = frozenset()) -> list[tuple[int, int, str]]:
    """Cut one block into (start, end, kind) units: heading, list item, code line, data (a table
    row, a line of JSON: tables.py) or prose; a line that starts at an offset in `fenced` is code
    (a block starts at a line's start), and one in `unmarked` lost its opening to format
    furniture, so its indent says nothing."""
    units: list[list] = []
    lines = [(m.start() + start, m.end() + start) for m in re.finditer(r"[^\n]+", text[start:end])]
    if len(lines) == 1 and (UNDERLINE.match(text[start:end]) or TABLE_RULE.match(text[start:end])):
        return []  # a rule ("-----") is decoration, not text
    alone = text[start:end].lstrip() if lines and lines[0][0] in unmarked else text[start:end]
    if len(lines) == 1 and is_heading(alone, True) and not is_code_like(alone) \
            and lines[0][0] not in fenced:
        return [(lines[0][0], lines[0][1], "heading")]
    titles = _underlined_titles([text[a:b] for a, b in lines])
    turns = [bool(SPEAKER_TURN.match(text[a:b])) for a, b in lines]
    if sum(turns) < max(MIN_TURNS, len(lines) / 2):
        turns = [False] * len(lines)
    titles = {n for n in titles if lines[n + 1][0] not in fenced}  # not ```
    data = data_lines([text[a:b] for a, b in lines], lambda line: bool(CODE_START.match(line)))
    for number, (line_start, line_end) in enumerate(lines):
        line = text[line_start:line_end]
        if turns[number]:
            units.append([line_start, line_end, "list"])  # each turn is a record of its own
            continue
        if line_start in unmarked:  # "> quoted", "Subject: ", "<v Bob>" are no code indent
            line = line.lstrip()
        if line_start in fenced and line.strip():
            units.append([line_start, line_end, "code"])
            continue
        if TABLE_RULE.match(line):  # a table's rule ends the row above it and belongs to no unit
            units.append([line_start, line_end, "rule"])
            continue
        if number in data:  # a table row, a line of JSON: one unit each, never prose
            units.append([line_start, line_end, "data"])
            continue
        if not line.strip() or (UNDERLINE.match(line) and number not in titles):
            continue  # title decorations and rules belong to no unit
        if number in titles or MARKDOWN_HEADING.match(line) or \
                (is_division_heading(line) and not _in_paragraph(units)):
            units.append([line_start, line_end, "heading"])
        elif units and units[-1][2] == "heading" and \
                _continues_heading(text[units[-1][0]:units[-1][1]], line):
            units[-1][1] = line_end
        elif _ends_wrapped_sentence(units, text, line):
            units[-1][1] = line_end  # "...for unpacking" / "(e.g., a, b = value)." is one sentence
        elif is_code_like(line):
            units.append([line_start, line_end, "code"])
        elif LIST_MARKER.match(line) or RECORD_START.match(line):
            units.append([line_start, line_end, "list"])
        elif units and units[-1][2] in ("prose", "list"):
            units[-1][1] = line_end  # a wrapped line continues the paragraph or the item
        else:
            units.append([line_start, line_end, "prose"])
    if units and units[0][2] == "prose" and len(lines) > 1:
        first_line = text[lines[0][0]:lines[0][1]]
        if is_heading(first_line, False) and SECTION_NUMBER.match(first_line):
            units.insert(0, [lines[0][0], lines[0][1], "heading"])
            units[1][0] = lines[1][0]
    return [(unit_start, unit_end, kind) for unit_start, unit_end, kind in units if kind != "rule"]


def _ends_wrapped_sentence(units: list[list], text: str, line: str) -> bool:
    """Whether `line` ends the sentence that the prose unit before it leaves open: it ends in
    a full stop and does not start like code, a list item or a record, however many symbols
    it has."""
    if not units or units[-1][2] not in ("prose", "list") or not SENTENCE_FINAL.search(line) \
            or CODE_START.match(line) or RECORD_START.match(line) or BULLET.match(line):
        return False
    if units[-1][2] == "list" and LIST_MARKER.match(line):  # the next item; after prose, "2) =="
        return False  # is more often a wrapped "range(0, 3,\n2) == ..." than a list
    # The unit's last characters only: a paragraph of many lines is not copied once per line.
    unit_start, unit_end = units[-1][0], units[-1][1]
    return not text[max(unit_start, unit_end - 80):unit_end].rstrip().endswith(OPEN_SENTENCE_ENDS)


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
    unmarked = _unmarked_lines(marked, text) if text is not marked else frozenset()
    fenced = fenced_lines(text) | code_body_lines(marked)  # ``` fences, literal blocks, verbatim
    sentences: list[Sentence] = []
    for block_index, (block_start, block_end) in enumerate(_blocks(text)):
        for unit_start, unit_end, kind in _units(text, block_start, block_end, fenced, unmarked):
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
