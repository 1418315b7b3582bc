"""Cutting a document into blocks (runs of lines between blank lines) and blocks into units:
headings, a book's divisions such as "CHAPTER 1. Loomings." among them, list items, code-like
lines, data (the rows of a table, lines of JSON: tables.py) and prose, which sentences.py then
cuts into sentences.

Pure functions: no files, no terminal.
"""

from __future__ import annotations

import re

from reformer_cli.text.tables import data_lines
from reformer_cli.text.words import CJK_RE, count_words

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
# A title's words: letters, digits and "-'&/"; its small words may stay in lower case.
TITLE_WORDS = re.compile(r"[^\W_]+(?:[-'&/ ]+[^\W_]+)*")
TITLE_SMALL_WORDS = frozenset("a an and as at by for in of on or the to with".split())
# A line in capitals that ends with a stop is a title only this short ("2.1 TERM AND TERMINATION.",
# "OLD AND YOUNG."); a longer one is a shouted sentence ("NO REFUNDS WILL BE GIVEN AFTER THIRTY DAYS.").
MAX_STOPPED_TITLE_WORDS = 4
# A title in capitals that opens the line of its paragraph: "3. TERMINATION. Either party ...".
INLINE_TITLE = re.compile(r"(?P<title>[^a-z\n]+?[.])\s+(?=[\"'“‘(]?(?:[A-Z][a-z]|[AI] [a-z]))")
# A title's number: "1.", "2.1", "4)", "(b)", "IV.", "Appendix A."
TITLE_NUMBER = re.compile(r"(?:\(?(?:[0-9]{1,3}|[A-Za-z])[.)]|[0-9]+(?:\.[0-9]+)*\.?|[IVXLC]{1,6}\.|"
                          r"Appendix [A-Z]\.?)\s+(?=\S)")
# Inside a title in capitals, punctuation that only a sentence has: "WARNING: DO NOT OPERATE",
# 'PROVIDED "AS IS", WITHOUT WARRANTY' are shouted sentences, not titles.
SENTENCE_PUNCTUATION = re.compile(r"[,;!?\"“”()\[\]]|[.:](?=\s)")
# A title's underline or overline in reStructuredText and setext Markdown: "=====", "-----".
UNDERLINE = re.compile(r"^\s*([=\-~*^#+_`:.'\"])\1{2,}\s*$")
# A table's border or header rule, grid ("+-----+----+", "|=====|====|") or simple ("=====  ===").
TABLE_RULE = re.compile(r"^\s*(?:[+|](?:[-=]+[+|]){2,}|=+(?:[ \t]+=+)+)\s*$")
# Backtick fences only: a line of tildes is far more often a reStructuredText underline.
CODE_FENCE = re.compile(r" {0,3}(`{3,})")
MARKDOWN_HEADING = re.compile(r" {0,3}#{1,6}[ \t]+\S")  # "## Design"
OPEN_SENTENCE_ENDS = tuple(".!?:;。！？；：…")  # a line ending so closes its sentence (or opens code)
SENTENCE_FINAL = re.compile(r"[.!?][\"'”’)\]]*\s*$")
CODE_SYMBOLS = set("{}()[]<>=;_/\\|#$@`*&^~")
INLINE_CODE = re.compile(r"(`{1,2})[^`\n]+?\1")  # Markdown `x`, reStructuredText ``x``
STRONG_EMPHASIS = re.compile(r"\*\*(?=\S)|(?<=\S)\*\*")
WORD_EDGE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_+(?=[A-Za-z0-9])|(?<=[A-Za-z0-9])_+(?![A-Za-z0-9])")


def blocks(text: str) -> list[tuple[int, int]]:
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
                    and not LIST_MARKER.match(following) and "\n" not in previous.strip() \
                    and not _reads_as_title(previous):
                merged[-1] = (merged[-1][0], end)
                continue
        merged.append((start, end))
    return merged


def _reads_as_title(line: str) -> bool:
    """ "Background", "Open Issues", "Logo": a few capitalised words (small words inside), which
    a sentence cut by a page break never is; the paragraph under it may open in lower case
    ("iOS apps must...", "fastgrid is...")."""
    words = line.split()
    if not 0 < len(words) <= MAX_SHOUTED_WORDS or not TITLE_WORDS.fullmatch(line.strip()):
        return False
    return all(word[0].isupper() or word[0].isdigit() for word in (words[0], words[-1])) and \
        all(word[0].isupper() or word[0].isdigit() or word in TITLE_SMALL_WORDS for word in words)


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


def _is_shouted_title(line: str, max_stopped_words: int = MAX_STOPPED_TITLE_WORDS) -> bool:
    """A few words in capitals after an optional section number: "PRELUDE.", "OLD AND YOUNG.",
    "1. SERVICES.", "LIMITATION OF LIABILITY". Ending with a stop (not an ellipsis), one of more
    than `max_stopped_words` words is a shouted sentence ("DO NOT OPERATE WITHOUT THE GUARD.")."""
    stripped = line.strip()
    number = TITLE_NUMBER.match(stripped)
    title = stripped[number.end():] if number else stripped
    letters = [char for char in title if char.isalpha()]
    limit = max_stopped_words if re.search(r"(?<!\.)[.!?]$", title) else MAX_SHOUTED_WORDS
    return len(letters) >= 2 and all(char.isupper() for char in letters) \
        and count_words(title) <= limit and not CJK_RE.search(title)


def _is_title_over_paragraph(line: str, following: str) -> bool:
    """Whether `line` is a title in capitals, numbered or not ("1. SERVICES.", "2. TERM",
    "(b) SCOPE:", "TERMINATION."), over the paragraph that `following`, the next line, starts:
    one in mixed case that opens like a sentence, not a list item, a record or code. The title
    has no punctuation but a final stop or colon: a shouted clause ("THE SOFTWARE IS PROVIDED
    "AS IS", WITHOUT ...") is no title, nor one of more than MAX_SHOUTED_WORDS words."""
    stripped = line.strip()
    number = TITLE_NUMBER.match(stripped)
    title = stripped[number.end():] if number else stripped
    if not title.isupper():  # most lines, quickly: a small letter, or no letter at all
        return False
    title = title[:-1] if title.endswith((".", ":")) else title
    opening = following.strip()
    if not (_is_shouted_title(stripped) and not SENTENCE_PUNCTUATION.search(title)
            and not is_code_like(title) and not CODE_START.match(line)):
        return False
    if number and stripped[-1:].isalpha() and _is_capitals_clause(opening) and \
            len(stripped) + 1 + len(opening.split()[0]) <= len(opening):
        return True  # "4. LIMITATION OF LIABILITY" / "EXCEPT FOR GROSS NEGLIGENCE, NEITHER ..."
    return any(char.islower() for char in opening) and not opening[:1].islower() \
        and not LIST_MARKER.match(following) and not RECORD_START.match(following) \
        and not is_code_like(following)


def _is_capitals_clause(line: str) -> bool:
    """A line of a shouted clause, not a title: capitals, and longer than a title may be or
    punctuated inside ("EXCEPT FOR GROSS NEGLIGENCE, NEITHER PARTY SHALL BE LIABLE ...")."""
    letters = [char for char in line if char.isalpha()]
    return len(letters) >= 2 and all(char.isupper() for char in letters) and not CJK_RE.search(line) \
        and (count_words(line) > MAX_SHOUTED_WORDS or bool(SENTENCE_PUNCTUATION.search(line.rstrip(".:"))))


def inline_title_end(line: str) -> int:
    """Where a numbered title in capitals ends that opens the line of its paragraph ("3.
    TERMINATION. Either party ..."), or 0. Only a numbered one: unnumbered, "NOTE. The ..." or
    "STOP. Then ..." is as likely a shouted sentence before the next one."""
    indent = len(line) - len(line.lstrip())
    number = TITLE_NUMBER.match(line, indent)
    title = INLINE_TITLE.match(line, number.end()) if number else None
    if title is None:
        return 0
    text = title.group("title")
    if SENTENCE_PUNCTUATION.search(text[:-1]) or not _is_shouted_title(line[indent:title.end("title")]):
        return 0
    return title.end("title")


def _titles_over_paragraphs(lines: list[str], plain: list[bool]) -> set[int]:
    """Indexes of the lines that are titles in capitals over their paragraph in the same block
    (_is_title_over_paragraph): the block's first line, or a numbered one after a line that ends
    a sentence ("...ninety days." / "2. TERM" / "This agreement ..."); unnumbered there, a line
    in capitals is as likely a shouted sentence. `plain[n]` says whether line n may be read so
    (it is not code in a fence, data, a speaker's turn or an underlined title)."""
    def placed(n: int) -> bool:
        return n == 0 or bool(SENTENCE_FINAL.search(lines[n - 1]) and TITLE_NUMBER.match(lines[n].strip()))

    return {n for n in range(len(lines) - 1) if plain[n] and plain[n + 1]
            and _is_title_over_paragraph(lines[n], lines[n + 1]) and placed(n)}


def _continues_heading(heading: str, line: str) -> bool:
    """Whether `line` goes on a division heading: its wrapped title (the heading has no final
    stop yet), or a title in capitals under it ("BOOK II." / "OLD AND YOUNG.")."""
    if not is_division_heading(heading):
        return False
    wrapped = not re.search(r"[.!?]$", heading.strip()) and \
        count_words(heading) + count_words(line) <= MAX_DIVISION_WORDS
    return wrapped or _is_shouted_title(line.strip(), MAX_SHOUTED_WORDS)  # "THE WIDOW AND THE WIFE."


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


def unmarked_lines(before: str, after: str) -> frozenset[int]:
    """Starts of the lines of `after` whose opening text `blank_format_furniture` blanked."""
    starts = set()
    for match in re.finditer(r"[^\n]+", after):
        line_start, line = match.start(), match.group()
        kept = before[line_start:match.end()]
        if len(line) - len(line.lstrip()) > len(kept) - len(kept.lstrip()):
            starts.add(line_start)
    return frozenset(starts)


def block_units(text: str, start: int, end: int, fenced: frozenset[int] = frozenset(),
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
    # Titles are underlined, or in capitals over their paragraph ("1. SERVICES." / "The ..."):
    # a heading each, and the line after one starts a unit of its own.
    plain = [n not in titles and n not in data and not turns[n] and a not in fenced
             for n, (a, _) in enumerate(lines)]
    titles |= _titles_over_paragraphs(
        [text[a:b].lstrip() if a in unmarked else text[a:b] for a, b in lines], plain)
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
        elif (title_end := _opening_title_end(units, text, line, line_start)):
            units.append([line_start, line_start + title_end, "heading"])
            units.append([line_start + title_end, line_end, "prose"])  # "3. TERMINATION." / "Either ..."
        elif units and units[-1][2] == "heading" and number - 1 not in titles and \
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


def _opening_title_end(units: list[list], text: str, line: str, line_start: int) -> int:
    """inline_title_end of a line that starts a unit: the block's first, or one after a line
    that ends a sentence (so no title is cut out of the middle of one)."""
    if units and units[-1][2] in ("prose", "list") and \
            not SENTENCE_FINAL.search(text[max(units[-1][0], units[-1][1] - 80):units[-1][1]]):
        return 0
    return inline_title_end(line)


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
