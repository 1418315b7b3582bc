"""reStructuredText furniture (rule 5 of the package docstring).

reStructuredText explicit markup: a directive line (`.. note::`, `.. code-block:: python`,
`.. |logo| image:: x.png`) and the option lines right under it (`   :maxdepth: 2`), but of
an admonition (ADMONITIONS) only its marker, so `.. note:: Text` keeps "Text"; a target
(`.. _label:`); a comment (`.. text`, `..`) with the indented lines right under it. Of a
footnote or citation (`.. [1] text`, `.. [#]`, `.. [#note]`, `.. [*]`, `.. [CIT2002]`) only
the `..` and the label, so its text reads as a paragraph. A field list line (`:Author:
Guido`, `:PEP: 8`) with the lines indented under it. Of an inline role (:pep:`8`,
:ref:`text <label>`) the `:pep:` prefix and a ` <label>` target go, invisibly (see the package),
so it reads `8`, `text`, like inline code. A paragraph that ends in "::" and introduces a
literal block (a blank line, then lines indented deeper) ends in ":", one colon blanked
(both where "::" stands apart: "command ::", a line "::" alone).
References read as the rendered page shows them, invisibly, outside code bodies: a
footnote or citation reference (`[1]_`, `[#]_`, `[#note]_`, `[*]_`, `[CIT2002]_`) goes
with the spaces before it, "PEP 8 [1]_." reads "PEP 8."; a phrase reference (`text
<uri>`_, `text`_, and anonymous, `text`__) reads "text", no backticks left, for a link is
no code. A simple one, `Sphinx_`, `links__`, loses its underscores only where the document
declares such a target (`.. _Sphinx: uri`, matched as reST matches names, case and runs of
whitespace aside; for `links__` an anonymous one, `.. __: uri` or a line `__ uri`, which is
blanked like any target): Python prose writes `class_` and `snake_case_` too. Like any
inline markup, each must stand apart from the word before it (whitespace or an opening
punctuation mark before it, no word character after it), so `__init__`, `_private`,
`a[1]_` and ``Sphinx_`` stay.

Code bodies are no furniture: they stay, and `code_body_lines` tells the segmenter where they
are (their lines are code): a reStructuredText literal block, the body of a CODE_DIRECTIVES
directive, a LaTeX CODE_ENVIRONMENTS environment (verbatim, listings, displayed math).

Pure functions: no files, no terminal.
"""

from __future__ import annotations

import re

from reformer_cli.text.furniture.latex import LATEX_CODE, looks_like_latex
from reformer_cli.text.furniture.spans import INVISIBLE_BLANK, blank_spans, line_start

# reStructuredText. EXPLICIT_MARKUP's group 2 is what follows the "..".
EXPLICIT_MARKUP = re.compile(r"^([ \t]*)\.\.(?=[ \t]|\r?$)([^\n]*)", re.MULTILINE)
DIRECTIVE = re.compile(r"[ \t]+(?:\|[^|\n]+\|[ \t]+)?([A-Za-z][\w+.:-]*?)::(?=[ \t]|\r?$)")
# ".. _label:", ".. _name: https://...", ".. _`a name`: ...", ".. __: ..." (anonymous, its name "_").
TARGET = re.compile(r"[ \t]+_(?:`([^`\n]+)`|([^\n]*?)):(?=[ \t]|\r?$)")
ANONYMOUS_TARGET = re.compile(r"^[ \t]*__[ \t]+(?:`[^`\n]+`_|[^\s_]\S*)[ \t]*\r?$", re.MULTILINE)  # "__ uri"
# ".. [1] text", ".. [#] text", ".. [#note] text", ".. [*] text", ".. [PEP8] text" (a citation)
FOOTNOTE = re.compile(r"[ \t]+\[[^\]\n]+\](?=[ \t]|\r?$)")
ADMONITIONS = frozenset("attention caution danger error hint important note tip warning seealso".split())
FIELD = re.compile(r"^([ \t]*):(?![ \t:])[^:`\n]{1,60}(?<![ \t]):(?=[ \t]|\r?$)[^\n]*", re.MULTILINE)
CODE_DIRECTIVES = frozenset("code-block code sourcecode doctest math parsed-literal".split())
# A paragraph's last line ending in "::" that introduces a literal block, not a directive line.
LITERAL_INTRO = re.compile(r"^(?![ \t]*\.\.(?:[ \t]|\r?$))([ \t]*)([^\n]*?)::[ \t]*\r?$", re.MULTILINE)
BLANK_LINES = re.compile(r"(?:\n[ \t]*\r?)*\n")  # matched at a line's end: 2 "\n" or more, a gap
ROLE = re.compile(r"(?<![\w`:])(:[A-Za-z][\w+.-]*(?::[\w+.-]+)?:)`[^`<\n]*?( <[^<>`\n]+>)?`")
# Inline references. Their markup starts after whitespace or an opening mark and ends before
# anything but a word character, as reST inline markup does, so "a[1]_" and "__init__" are none.
MARKUP_START = r"(?<![^\s\-:/'\"<(\[{])"
MARKUP_END = r"(?![\w`])"
REFERENCE_NAME = r"[^\W_]+(?:[-.:+_][^\W_]+)*"  # alphanumerics, with single "-._:+" inside
FOOTNOTE_REFERENCE = re.compile(rf"(?:(?<=\S)[ \t]+)?{MARKUP_START}\[(?:#|\*|#?{REFERENCE_NAME})\]_"
                                rf"{MARKUP_END}")  # "[1]_", "[#]_", "[#note]_", "[*]_", "[CIT2002]_"
# `text <uri>`_, `text`__: groups 1, 2 and 3 go. The text may wrap, but not across a blank line.
PHRASE_REFERENCE = re.compile(rf"{MARKUP_START}(`)(?=[^`\s])(?:[^`\n]|\n(?![ \t]*\r?\n))*?(?<=[^`\s])"
                              rf"(\s+<[^<>`\n]+>)?(`__?){MARKUP_END}")
SIMPLE_REFERENCE = re.compile(rf"{MARKUP_START}({REFERENCE_NAME})(__?){MARKUP_END}")  # "Sphinx_", "links__"
REST_MARKS = ("..", ":", "]_", "`_", "__")  # rule 5 needs one of them


def rest_furniture(text: str) -> str:
    """`text` with its reStructuredText directives, targets, comments and field lists blanked,
    and its roles and references read as their text (rule 5)."""
    if not any(mark in text for mark in REST_MARKS):
        return text
    code_lines = code_body_lines(text)
    spans, targets = _explicit_markup_spans(text, code_lines)
    for field in FIELD.finditer(text):
        spans.append((field.start(), _indented_under(text, field.end(), len(field.group(1)))))
    for intro in LITERAL_INTRO.finditer(text):
        if _literal_block(text, intro.end(), len(intro.group(1))):  # "command::" as "command:"
            colons = intro.end(2)  # "command::" keeps one colon, "command ::" and "::" none
            spans.append((colons + 1 if intro.group(2)[-1:].strip() else colons, colons + 2))
    if "__" in text:
        anonymous = [match.span() for match in ANONYMOUS_TARGET.finditer(text)
                     if line_start(text, match.start()) not in code_lines]
        spans += anonymous
        targets |= {"_"} if anonymous else set()
    blanked = blank_spans(text, spans)
    inline = [span for role in ROLE.finditer(blanked) for span in (role.span(1), role.span(2))
              if span[0] >= 0]
    inline += _reference_spans(blanked, targets, code_lines)
    return blank_spans(blanked, inline, INVISIBLE_BLANK)


def _explicit_markup_spans(text: str, code_lines: frozenset[int]) -> tuple[list[tuple[int, int]], set[str]]:
    """What to blank of the explicit markup (directives, targets, comments, footnotes), and the
    names of the targets declared outside code bodies, as `reference_name` writes them ("_" for
    an anonymous one)."""
    spans, targets = [], set()
    for markup in EXPLICIT_MARKUP.finditer(text):
        indent, rest = markup.group(1), markup.group(2)
        directive, footnote, target = DIRECTIVE.match(rest), FOOTNOTE.match(rest), TARGET.match(rest)
        if footnote:  # its text stays, and the lines under it, which go on with it
            spans.append((markup.start(), markup.start(2) + footnote.end()))
            continue
        if directive and directive.group(1).lower() in ADMONITIONS:
            spans.append((markup.start(), markup.start(2) + directive.end()))
        else:
            spans.append(markup.span())
        if target and markup.start() not in code_lines:
            targets.add(reference_name(target.group(1) or target.group(2)))
        if directive or not target:  # a directive's options, a comment's lines
            under = _indented_under(text, markup.end(), len(indent), only_fields=bool(directive))
            spans.append((markup.end(), under))
    return spans, targets


def _reference_spans(text: str, targets: set[str], code_lines: frozenset[int]) -> list[tuple[int, int]]:
    """The markup of the footnote, phrase and simple references in `text` outside code bodies;
    a simple one's underscores only where `targets` (see `_explicit_markup_spans`) has its name."""
    matches = []
    if "]_" in text:
        matches += [(match, [match.span()]) for match in FOOTNOTE_REFERENCE.finditer(text)]
    if "`_" in text:
        matches += [(match, [match.span(1), match.span(2), match.span(3)])
                    for match in PHRASE_REFERENCE.finditer(text)]
    if targets:
        matches += [(match, [match.span(2)]) for match in SIMPLE_REFERENCE.finditer(text)
                    if ("_" if match.group(2) == "__" else reference_name(match.group(1))) in targets]
    return [span for match, spans in matches if line_start(text, match.start()) not in code_lines
            for span in spans if span[0] >= 0]


def reference_name(name: str) -> str:
    """A reference or target name as reStructuredText compares them: "The  Docs" is "the docs"."""
    return " ".join(name.split()).lower()


def _indented_under(text: str, position: int, indent: int, only_fields: bool = False) -> int:
    """Where the run of non-blank lines right after `position` (a line's end) that are indented
    deeper than `indent` ends; with `only_fields`, of field lines (a directive's options)."""
    while position < len(text):
        line_end = text.find("\n", position + 1)
        line_end = len(text) if line_end < 0 else line_end
        line = text[position + 1:line_end]
        depth = len(line) - len(line.lstrip(" \t"))
        if not line.strip() or depth <= indent or (only_fields and not FIELD.match(line)):
            break
        position = line_end
    return position


def _literal_block(text: str, position: int, indent: int) -> tuple[int, int] | None:
    """(start, end) of the block indented deeper than `indent` after blank lines that follows
    `position` (a line's end), blank lines inside it included; None where there is none."""
    gap = BLANK_LINES.match(text, position)
    if gap is None or gap.group().count("\n") < 2:
        return None  # a blank line must come first
    start = gap.end()
    line = text[start:text.find("\n", start) if "\n" in text[start:] else len(text)]
    if not line.strip() or len(line) - len(line.lstrip(" \t")) <= indent:
        return None
    end = _indented_under(text, start - 1, indent)
    while True:  # blank lines inside the block, when deeper lines follow them
        gap = BLANK_LINES.match(text, end)
        if gap is None or gap.group().count("\n") < 2 \
                or _indented_under(text, gap.end() - 1, indent) == gap.end() - 1:
            return start, end
        end = _indented_under(text, gap.end() - 1, indent)


def code_body_lines(text: str) -> frozenset[int]:
    """Starts of the lines that are code bodies (see the module docstring), in `text` before
    furniture is blanked (same offsets after)."""
    blocks = []
    if "::" in text:
        for intro in LITERAL_INTRO.finditer(text):
            blocks.append(_literal_block(text, intro.end(), len(intro.group(1))))
        for markup in EXPLICIT_MARKUP.finditer(text):
            directive = DIRECTIVE.match(markup.group(2))
            if directive and directive.group(1).lower() in CODE_DIRECTIVES:
                options_end = _indented_under(text, markup.end(), len(markup.group(1)), only_fields=True)
                blocks.append(_literal_block(text, options_end, len(markup.group(1))))
    if "\\begin" in text and looks_like_latex(text):
        blocks += [match.span(2) for match in LATEX_CODE.finditer(text)]
    return frozenset(start + line.start() for start, end in filter(None, blocks)
                     for line in re.finditer(r"(?m)^[^\n]*\S", text[start:end]))
