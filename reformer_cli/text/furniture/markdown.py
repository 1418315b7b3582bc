"""Inline literals and Markdown links (rules 7 and 8 of the package docstring).

Inline literals: of a ``literal`` on one line (reStructuredText, Markdown code) one backtick
on each side, invisibly, so it reads `literal`, as inline code does; not a fence line (```)
nor a lone ``, and not in LaTeX, where `` opens a quotation.

Markdown links, outside code bodies, ``` fences and `code` spans: `[text](url "title")`
reads "text", `![alt](src)` "alt" (pandoc's plain text keeps it), a badge
`[![alt](src)](href)` "alt", invisibly; `[text][ref]`, `[text][]` and `[text]` read "text"
where a definition `[ref]: url` declares the label (not a number alone: "[1]" is a
citation), and the definition line is blanked. A link opens after whitespace or an opening
mark, not after a word, `!`, `\\`, `]` or `)` ("a[i](x)" is code), and its destination must
look like one (a "/", ".", "#" or ":" in it): an RFC's "[UTF-8](n)" stays. Autolinks,
`<https://example.org>`, stay: the URL reads as well with its brackets, and RFCs write them.

Pure functions: no files, no terminal.
"""

from __future__ import annotations

import re

from reformer_cli.text.furniture.latex import looks_like_latex
from reformer_cli.text.furniture.restructured_text import code_body_lines, reference_name
from reformer_cli.text.furniture.spans import INVISIBLE_BLANK, blank_spans, line_start
from reformer_cli.text.units import fenced_lines

# ``literal``: group 1 and 2 are the backticks blanked; no backtick inside, no space at its edges.
DOUBLE_BACKTICK_LITERAL = re.compile(r"(?<!`)(`)`[^`\s](?:[^`\n]*[^`\s])?`(`)(?!`)")
# Markdown links and images. One opens after whitespace or an opening mark, not after a word,
# "!", "\\", "]" or ")": "a[i](x)" and "f()[0](y)" are code. A destination must look like one
# (a "/", ".", "#" or ":" in it, or <...>), for an RFC writes "[UTF-8](n)".
LINK_START = r"(?<![^\s(\[{<'\"\u201c\u2018*_~])"
LINK_TITLE = r"(?:[ \t]+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^()\n]*\)))?"
LINK_URL = r"(?:<[^<>\n]*>|(?=[^\s()]*[/.#:])(?:[^\s()\\]|\\.|\([^\s()]*\))+)"
LINK_DESTINATION = rf"\([ \t]*{LINK_URL}{LINK_TITLE}[ \t]*\)"
LINK_WORDS = r"(?:[^\[\]\n]|\n(?![ \t]*\r?\n))"  # a link's text may wrap, not across a blank line
# Groups 1 and 2 go, the text between them stays: "[text](url)", "![alt](src)", and a link whose
# text has brackets in it (one level, no more: each character has one way to match), such as an
# image, "[![alt](src)](href)", a README's badge.
INLINE_IMAGE = re.compile(rf"{LINK_START}(!\[){LINK_WORDS}*(\]{LINK_DESTINATION})")
INLINE_LINK = re.compile(rf"{LINK_START}(\[)(?:{LINK_WORDS}|\[[^\[\]\n]*\])*(\]{LINK_DESTINATION})")
# "[ref]: https://example.org "Title"", a whole line; not a "[^1]:" footnote.
LINK_DEFINITION = re.compile(rf"^ {{0,3}}\[(?!\^)([^\[\]\n]{{1,100}})\]:[ \t]*{LINK_URL}{LINK_TITLE}"
                             r"[ \t]*\r?$", re.MULTILINE)
# "[text][ref]", "[text][]", "[text]": groups 1 and 3 go, group 4 (or the text, group 2) names it.
REFERENCE_LINK = re.compile(rf"{LINK_START}(!?\[)({LINK_WORDS}+)(\](?:\[([^\[\]\n]*)\])?)(?![(\[:])")
CODE_SPAN = re.compile(r"(?<!`)(`+)([^`\n](?:[^\n]*?[^`\n])?)\1(?!`)")  # `code`, on one line


def inline_literals(text: str) -> str:
    """`text` with one backtick on each side of its ``literals`` blanked invisibly (rule 7)."""
    if "``" not in text or looks_like_latex(text):
        return text
    backticks = [span for literal in DOUBLE_BACKTICK_LITERAL.finditer(text)
                 for span in (literal.span(1), literal.span(2))]
    return blank_spans(text, backticks, INVISIBLE_BLANK)


def markdown_links(text: str, original: str) -> str:
    """`text` with its Markdown links and images read as their text, invisibly, and its link
    definitions blanked (rule 8), outside code: `original` is `text` before any furniture was
    blanked, where `code_body_lines` finds literal blocks."""
    if "](" not in text and "]:" not in text:
        return text
    masked = CODE_SPAN.sub(_masked_code, text) if "`" in text else text  # a link in `code` is none
    definitions = list(LINK_DEFINITION.finditer(masked)) if "]:" in text else []
    links = []  # (match, the spans of its markup)
    if "](" in text:
        links += [(link, (link.span(1), link.span(2)))
                  for pattern in (INLINE_IMAGE, INLINE_LINK) for link in pattern.finditer(masked)]
    if not links and not definitions:
        return text
    code_lines = fenced_lines(text) | code_body_lines(original)
    definitions = [definition for definition in definitions if definition.start() not in code_lines]
    labels = {reference_name(definition.group(1)) for definition in definitions}
    if labels:
        links += [(link, (link.span(1), link.span(3))) for link in REFERENCE_LINK.finditer(masked)
                  if _refers_to(link, labels)]
    markup = [span for link, spans in links if line_start(text, link.start()) not in code_lines
              for span in spans]
    return blank_spans(blank_spans(text, [definition.span() for definition in definitions]),
                       markup, INVISIBLE_BLANK)


def _refers_to(link: re.Match, labels: set[str]) -> bool:
    """Whether a REFERENCE_LINK match names a defined label: "[text][ref]" "ref", "[text][]" and
    "[text]" "text"; but a "[1]" alone stays a citation, as it reads."""
    label = link.group(4) or link.group(2)
    return reference_name(label) in labels and not (link.group(4) is None and label.isdigit())


def _masked_code(span: re.Match) -> str:
    """A code span with its text turned into NUL characters, which no link pattern reads as markup."""
    return span.group(1) + "\0" * len(span.group(2)) + span.group(1)
