"""HTML and XHTML documents as the text a reader sees, so that a saved web page is segmented as
its paragraphs and not as its markup.

A document is HTML when, after a byte-order mark and whitespace, it opens with `<!DOCTYPE
html` or `<html` (an XML declaration and comments may come first), or when it is a fragment:
its first line opens with a block tag (`<p>`, `<div>`, `<h1>`...), at least half of its first
lines start with a tag, and none of them is a Markdown heading or fence (Markdown that quotes
HTML stays Markdown). Text that merely mentions `<b>` is left alone.

The text keeps what the segmenter (sentences.py) understands: a heading is a Markdown heading
line ("## Design"; the `<title>` comes first as "# Title"), a list item a "- item" line, a
`<pre>` block a ``` fenced block with its lines as they were, and every block element ends a
paragraph (a blank line). `<head>`, scripts, styles, navigation, footers and comments are
dropped; inline elements leave their text, entities are decoded, whitespace is collapsed.

Every character of the text records the span of the input it came from (an entity's, for a
decoded character), so a sentence's offsets can be translated back into the input.

Pure functions: no files, no terminal.
"""

from __future__ import annotations

import functools
import html
import re
from array import array
from dataclasses import dataclass
from html.parser import HTMLParser

SNIFF_CHARS = 4000  # the opening read to decide whether a document is HTML
DOCUMENT_START = re.compile(r"(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)[\s>]",
                            re.IGNORECASE | re.DOTALL)
FRAGMENT_OPENING = re.compile(r"\s*<(?:p|div|h[1-6]|section|article|main|header|body|table|ul|ol|"
                              r"blockquote|pre)[\s>]", re.IGNORECASE)
TAG_AT_LINE_START = re.compile(r"\s*</?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]*)?/?>")
# A Markdown heading or fence, read as units.py reads them (sentences.py imports this module and
# units.py, so the patterns are not shared).
MARKDOWN_LINE = re.compile(r" {0,3}(?:#{1,6}[ \t]|```)")
FRAGMENT_LINES = 30  # the first non-blank lines looked at
FRAGMENT_TAG_SHARE = 0.5  # at least this share of them start with a tag
FRAGMENT_MIN_TAG_LINES = 2

DROPPED = frozenset("script style noscript template svg nav footer".split())
BLOCKS = frozenset("""address article aside blockquote body br caption dd details dialog div dl
dt fieldset figcaption figure form header hr html li main ol p section summary table tbody tfoot
thead tr ul""".split())
HEADINGS = {f"h{level}": "#" * level + " " for level in range(1, 7)}
LISTS = frozenset(("ul", "ol", "dl"))
CELLS = frozenset(("td", "th"))  # cells of a row: kept on one line, a space apart
LIST_ITEM = "- "
TITLE = "# "
FENCE = "```"
# An entity or character reference as html.parser consumes it (the ";" is optional).
REFERENCE = re.compile(r"&(?:#(?:[0-9]+|[xX][0-9a-fA-F]+)|[a-zA-Z][-.a-zA-Z0-9]*);?")
UNEVEN_SPACE = re.compile(r"\s{2,}|[^\S ]")  # whitespace other than one plain space


def looks_like_html(text: str) -> bool:
    """Whether `text` is an HTML or XHTML document or fragment (see the module's docstring)."""
    head = text[:SNIFF_CHARS].lstrip("\ufeff \t\r\n")
    if not head.startswith("<"):
        return False
    if DOCUMENT_START.match(head):
        return True
    lines = [line for line in head.split("\n") if line.strip()][:FRAGMENT_LINES]
    if not FRAGMENT_OPENING.match(lines[0]) or "</" not in head:
        return False
    if any(MARKDOWN_LINE.match(line) for line in lines):
        return False
    n_tagged = sum(1 for line in lines if TAG_AT_LINE_START.match(line))
    return n_tagged >= max(FRAGMENT_MIN_TAG_LINES, FRAGMENT_TAG_SHARE * len(lines))


@dataclass(frozen=True)
class PageText:
    """The text of an HTML document, and where each of its characters came from."""

    text: str
    starts: array  # starts[i]: offset in the input of the markup that gave text[i]
    ends: array  # ends[i]: offset one past it, so text[a:b] came from input[starts[a]:ends[b - 1]]


@functools.lru_cache(maxsize=2)
def page_text(document: str) -> PageText:
    """The text of an HTML `document` (see the module's docstring). Kept for the last two
    documents: language detection, segmentation and the word count all read the same page."""
    reader = _PageReader(document)
    reader.feed(document)
    reader.close()
    return reader.finish()


def readable_text(text: str) -> str:
    """`text` as a reader sees it: an HTML document's text, any other text as it is."""
    return page_text(text).text if looks_like_html(text) else text


class _PageReader(HTMLParser):
    """Builds a PageText from html.parser's events. Character references are not converted by
    the parser (convert_charrefs=False) so that each arrives on its own, with its position.
    Separators are written lazily, before the next word, so that empty elements leave none."""

    def __init__(self, document: str):
        super().__init__(convert_charrefs=False)
        self.document = document
        self.line_starts = [0] + [match.end() for match in re.finditer("\n", document)]
        self.pieces: list[str] = []
        self.starts, self.ends = array("q"), array("q")
        self.dropping: dict[str, int] = {}  # open dropped elements by name
        self.in_head = self.in_title = False
        self.pre_depth = self.list_depth = 0
        self.separator = ""  # wanted before the next word: "", " ", a line end or a blank line
        self.prefix = ""  # written before the block's first word: "## ", "- "
        self.skip_newline = False  # the newline right after <pre> is not content

    def _offset(self) -> int:
        """Where the parser is, as an offset into the document."""
        line, column = self.getpos()
        return self.line_starts[line - 1] + column

    def _write(self, text: str, start: int, end: int | None = None) -> None:
        """`text` from document[start:end]; without `end`, one input character per character."""
        self.pieces.append(text)
        if end is None:
            self.starts.extend(range(start, start + len(text)))
            self.ends.extend(range(start + 1, start + len(text) + 1))
        else:
            self.starts.extend([start] * len(text))
            self.ends.extend([end] * len(text))

    def _want(self, separator: str) -> None:
        self.separator = max(self.separator, separator, key=len)

    def _break(self) -> None:
        """End the paragraph; inside a list, only the line: items are lines of one block, which
        sentences.py reads as list items (a "- item" alone in its block would be a heading)."""
        self._want("\n" if self.list_depth else "\n\n")
        self.prefix = ""

    def _words(self, words: str, start: int, end: int | None = None) -> None:
        """`words` (no whitespace at either end) after the separator and prefix they wait for."""
        if self.pieces and self.separator:
            self._write(self.separator, start, start)
        self.separator = ""
        if self.prefix:  # a heading's or item's marker points at its first word
            self._write(self.prefix, start, start)
            self.prefix = ""
        if end is not None:
            self._write(words, start, end)
            return
        # Runs between uneven whitespace are copied whole (one character at a time is slow).
        position = 0
        for gap in UNEVEN_SPACE.finditer(words):
            self._write(words[position:gap.start()] + " ", start + position)
            position = gap.end()
        self._write(words[position:], start + position)

    def _tag_span(self) -> tuple[int, int]:
        """(start, end) of the tag the parser is at."""
        start = self._offset()
        return start, self.document.find(">", start) + 1 or len(self.document)

    def _visible(self) -> bool:
        return not any(self.dropping.values()) and (not self.in_head or self.in_title)

    def handle_starttag(self, tag, attrs):
        if tag in DROPPED:
            self.dropping[tag] = self.dropping.get(tag, 0) + 1
        elif tag == "head":
            self.in_head = True
        elif tag == "title":
            self._break()
            self.in_title, self.prefix = True, TITLE
        elif tag == "pre":
            self._break()
            self._want("\n\n")
            self._words(FENCE + "\n", *self._tag_span())
            self.pre_depth += 1
            self.skip_newline = True
        elif tag in HEADINGS or tag in BLOCKS:
            self.in_head = False  # </head> may be left out: the body has begun
            unused_prefix = self.prefix  # "<li><p>item": the item's marker waits for its word
            self._break()
            self.prefix = HEADINGS.get(tag) or (LIST_ITEM if tag == "li" else unused_prefix)
            self.list_depth += tag in LISTS
        elif tag in CELLS:
            self._want(" ")

    def handle_endtag(self, tag):
        if tag in DROPPED:
            self.dropping[tag] = max(0, self.dropping.get(tag, 0) - 1)
        elif tag == "head":
            self.in_head = False
        elif tag == "title":
            self._break()
            self.in_title = False
        elif tag == "pre" and self.pre_depth:
            self.pre_depth -= 1
            self.separator = "" if self.pieces[-1].endswith("\n") else "\n"
            self._words(FENCE, *self._tag_span())
            self._want("\n\n")
        elif tag in HEADINGS or tag in BLOCKS:
            self.list_depth -= tag in LISTS and self.list_depth > 0
            self._break()
        elif tag in CELLS:
            self._want(" ")

    def handle_data(self, data):
        if self._visible():  # a byte-order mark is not a word (same length: offsets hold)
            self._text(data.replace("\ufeff", " "), self._offset())

    def handle_entityref(self, name):
        self._reference()

    def handle_charref(self, name):
        self._reference()

    def _reference(self) -> None:
        start = self._offset()
        match = REFERENCE.match(self.document, start)
        if match and self._visible():
            self._text(html.unescape(match.group()), start, match.end())

    def _text(self, data: str, start: int, end: int | None = None) -> None:
        """Text from document[start:]; `end` for decoded text (a reference), whose characters
        all come from document[start:end]."""
        if self.pre_depth:  # code keeps its lines as they were
            if self.skip_newline and data.startswith("\n"):
                data, start = data[1:], start + 1
            if "\n" in self.separator and not self.pieces[-1].endswith("\n"):
                self._write("\n", start, start)  # a <br> or <div> ended a line of code
            self.skip_newline, self.separator = False, ""
            if data:
                self._write(data, start, end)
            return
        stripped = data.strip()
        if data[:1].isspace():
            self._want(" ")
        if stripped and end is None:
            self._words(stripped, start + len(data) - len(data.lstrip()))
        elif stripped:  # a reference: a character, or a few
            self._words(" ".join(stripped.split()), start, end)
        if stripped and data[-1].isspace():
            self._want(" ")

    def finish(self) -> PageText:
        return PageText("".join(self.pieces), self.starts, self.ends)
