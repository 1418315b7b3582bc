"""Format furniture: the parts of a document that belong to its file format, not to its text.
Left in, "title: Release notes" opens the first sentence of a blog post, "> " cuts a quoted
e-mail into lines the segmenter reads as something other than prose, "From: ... Date: ..."
becomes a sentence, and every subtitle cue is a block of its own, so a sentence spoken across
two cues is cut in two.

What is blanked (turned into spaces; "\\n" and "\\r" stay, except where said):
1. YAML front matter: when the first line (after a byte-order mark) is `---` and a line `---` or
   `...` closes it within FRONT_MATTER_LINES lines, and every line between is YAML-ish (`key:
   value`, an indented line, a `- item`, a `#` comment or blank) with at least one `key:`; both
   fences included.
2. Quote markers: `>`, `> >`, `>>` at the start of a line (after at most 3 spaces), with one
   space after them. Not `>>>` (a Python prompt) nor `>=`; a line of markers alone only inside
   a quote (a line next to it is quoted too), so a lone ">" closing an SGML declaration stays.
3. E-mail: a header block, 2 or more header lines (HEADER_NAMES, also when quoted) with their
   folded continuation lines, names and values, except the text of a Subject (its "Subject:"
   and "Re:"/"Fwd:"/"Fw:" prefixes go); an attribution line "On ... wrote:" followed by a
   quoted line (after blank lines, if any); a signature: a line `-- ` or `--`, then 1 to 6
   lines up to a blank line or the end, none of them starting with "--" (an SQL or MIB
   comment is no signature).
   In an e-mail, a text where a header block or an attribution line was found (so a letter in
   a novel, "Dear Sir, I write...", or a README's "Thanks to Ann" keeps its words), also its
   courtesies, which would otherwise be its shortest, most central sentences: a greeting
   (GREETING, up to 4 words of names, then `,` `:` or `!`: "Hi Bob,", "Dear team:", "Good
   morning Sarah,") alone on a line that opens a paragraph or a quote; a closing (CLOSING:
   "Best,", "Thanks!", "Kind regards, Alice") alone on its line, with up to MAX_SIGNED_LINES
   short lines under it (a name, a title, a company; none opening in lower case or ending like
   a sentence), but only where a blank line, the end or a change of quote depth comes next, so
   "Thanks,\nI fixed it." stays; a line "Sent from my iPhone"; a separator "-----Original
   Message-----". "Thanks for the report, I fixed it." is a sentence, not a closing, and a
   Subject's text ("Subject: Thanks!") is never one.
4. Subtitles (SRT, WebVTT), when at least MIN_TIMING_LINES lines are cue timings
   ("00:00:01,000 --> 00:00:04,000", "00:01.000 --> 00:04.000 align:start"): the WEBVTT header
   (its line and the lines up to the first blank one), NOTE, STYLE and REGION blocks, cue
   timing lines, the line before a timing line when it is a number (an SRT index) or follows a
   blank line (a WebVTT identifier, "intro"), and tags in cue text (`<v Bob>`, `</v>`,
   `<c.yellow>`, `<i>`, `<b>`, `<u>`, `<font ...>`, `<00:00:05.000>`, `{\\an8}`). Then, so that
   consecutive cues are one block (the segmenter joins the wrapped lines of a block into prose,
   and a sentence is no longer cut where a cue ends), every run of line ends with only blank
   or blanked lines between them becomes spaces but for its LAST "\\n": "cue one\\n\\n2\\n
   00:00:02,000 --> ...\\ncue two" becomes "cue one" + spaces + "\\ncue two". Only there does a
   "\\n" (or "\\r") become a space.

5. reStructuredText explicit markup: a directive line (`.. note::`, `.. code-block:: python`,
   `.. |logo| image:: x.png`) and the option lines right under it (`   :maxdepth: 2`), but of
   an admonition (ADMONITIONS) only its marker, so `.. note:: Text` keeps "Text"; a target
   (`.. _label:`); a comment (`.. text`, `..`) with the indented lines right under it. Of a
   footnote or citation (`.. [1] text`, `.. [#]`, `.. [#note]`, `.. [*]`, `.. [CIT2002]`) only
   the `..` and the label, so its text reads as a paragraph. A field list line (`:Author:
   Guido`, `:PEP: 8`) with the lines indented under it. Of an inline role (:pep:`8`,
   :ref:`text <label>`) the `:pep:` prefix and a ` <label>` target go, invisibly (see below),
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
6. LaTeX, only in a document that looks like it (`\\documentclass`, `\\begin{document}`,
   MIN_LATEX_LINES lines opening with `\\section{`-like or `\\begin{`, or, in a section file, one
   such line and MIN_LATEX_COMMANDS other commands of LATEX_KNOWN, `\\cite{`, `\\emph{`, ...,
   which Windows paths and regular expressions in prose never are): `%` comments; lines of
   commands alone (`\\begin{itemize}`, `\\usepackage{x}`, `\\maketitle`). Two are rewritten as
   the Markdown the segmenter reads, in the same characters: `\\section{Intro}` as "#       Intro "
   (`\\subsection` "##", ...), a heading, and `\\item Text` as "-     Text", a list item. In a line,
   an aside, `\\cite{key}` (`\\citep`, `\\parencite`, ...) or `\\label{x}` (with the space or `~`
   before it), goes, and `\\footnote{...}` goes whole; `\\emph{word}`, `\\textbf{word}`, `\\url{x}`
   read "word", "x", invisibly, and a reference that is part of the sentence (LATEX_REFERENCES:
   `\\ref{sec:x}`, `\\cref`, a textual `\\citet[p.~3]{smith20}`) reads as its key, "sec:x",
   "smith20", much as pandoc writes plain text: dropped, "Section~\\ref{x} shows" would read
   "Section shows". A backslash escaping `%&$#_` goes too, `8{,}000` reads "8,000", and `\\,`,
   `\\ `, `~` are spaces.
7. Inline literals: of a ``literal`` on one line (reStructuredText, Markdown code) one backtick
   on each side, invisibly, so it reads `literal`, as inline code does; not a fence line (```)
   nor a lone ``, and not in LaTeX, where `` opens a quotation.
8. Markdown links, outside code bodies, ``` fences and `code` spans: `[text](url "title")`
   reads "text", `![alt](src)` "alt" (pandoc's plain text keeps it), a badge
   `[![alt](src)](href)` "alt", invisibly; `[text][ref]`, `[text][]` and `[text]` read "text"
   where a definition `[ref]: url` declares the label (not a number alone: "[1]" is a
   citation), and the definition line is blanked. A link opens after whitespace or an opening
   mark, not after a word, `!`, `\\`, `]` or `)` ("a[i](x)" is code), and its destination must
   look like one (a "/", ".", "#" or ":" in it): an RFC's "[UTF-8](n)" stays. Autolinks,
   `<https://example.org>`, stay: the URL reads as well with its brackets, and RFCs write them.

Code bodies are no furniture: they stay, and `code_body_lines` tells the segmenter where they
are (their lines are code): a reStructuredText literal block, the body of a CODE_DIRECTIVES
directive, a LaTeX CODE_ENVIRONMENTS environment (verbatim, listings, displayed math).

Inline markup is blanked with U+2060 WORD JOINER, which the segmenter's normalise drops, not
with spaces: "shown \\cite{x}." reads "shown." and "(:pep:`8`)" reads "(`8`)", not "( `8`)".

The result has the length of the text, so every character offset into it still holds (as with
pages.py). Anything else, prose, Markdown without ``literals`` or links, RFCs, comes back as it
was (the same object). Each rule is one compiled regex over the whole text, behind a cheap test for a
character it needs; the Python loops run over matches, not characters.

Pure functions: no files, no terminal.
"""

from __future__ import annotations

import re

from reformer_cli.text.units import fenced_lines

FRONT_MATTER_LINES = 100  # the closing fence must come within this many lines
MIN_TIMING_LINES = 3  # fewer cue timings than this: text that quotes one, not a subtitle file

# Quote markers at a line start: "> ", "> > ", ">>" (not a ">>>" prompt, not ">=").
QUOTE = r"(?! {0,3}>>>) {0,3}>(?: ?>)*(?!=) ?"
QUOTE_MARKERS = re.compile(f"^{QUOTE}", re.MULTILINE)
BLANK_LINE = re.compile(r"[ \t]*\r?(?:\n|\Z)")  # matched at a line's start
QUOTED_TEXT = re.compile(f"{QUOTE}[ \t]*[^\\s>]")  # matched at a line's start: a quoted line with text

FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\r?\n((?:[^\n]*\n){0,%d}?)(?:---|\.\.\.)[ \t]*\r?(?:\n|\Z)"
                          % FRONT_MATTER_LINES)
YAML_KEY = re.compile(r"[A-Za-z_][\w.-]*[ \t]*:(?:[ \t]|\r?$)")
YAML_OTHER = re.compile(r"[ \t]*\r?$|[ \t]+\S|-[ \t]|#")  # blank, indented, "- item", "# comment"

HEADER_NAMES = (r"(?i:from|to|cc|bcc|subject|date|sent|reply-to|message-id|in-reply-to|references|"
                r"content-type|mime-version|x-[a-z-]+)")
HEADER_LINE = f"(?:{QUOTE})?{HEADER_NAMES}:(?:[ \t\r][^\n]*)?$"
CONTINUATION_LINE = f"(?:{QUOTE})?[ \t]+\\S[^\n]*"
HEADER_BLOCK = re.compile(f"^{HEADER_LINE}(?:\n(?:{HEADER_LINE}|{CONTINUATION_LINE}))*", re.MULTILINE)
HEADER_LINE_START = re.compile(HEADER_LINE, re.MULTILINE)  # matched at a line's start
SUBJECT_PREFIX = re.compile(f"(?:{QUOTE})?(?i:subject):[ \t]*(?:(?i:re|fwd?)[ \t]*:[ \t]*)*")
ATTRIBUTION = re.compile(f"^(?:{QUOTE})?On [^\n]{{1,300}}wrote:[ \t]*\r?$(?=(?:\n[ \t]*\r?)*\n{QUOTE})",
                         re.MULTILINE)
SIGNATURE = re.compile(r"^-- ?\r?(?:\n(?!--)[ \t]*\S[^\n]*){1,6}(?=\n[ \t]*\r?\n|\n[ \t]*\r?\Z|\Z)",
                       re.MULTILINE)
# An e-mail's courtesies, looked for in its text once the furniture above is blanked: a greeting
# ("Hi Bob,", "Dear team:") alone on its line, a closing ("Best,", "Kind regards, Alice") and
# "Sent from my iPhone".
GREETING = (r"(?i:hi|hello|hey|hiya|dear(?:est)?|greetings|good[ \t]+(?:morning|afternoon|evening|day)"
            r"|to[ \t]+whom)")
SALUTATION = re.compile(rf"^[ \t]*{GREETING}(?:[ \t]+[\w'&@-]+\.?){{0,4}}[ \t]*[,:!][ \t]*\r?$", re.MULTILINE)
CLOSING = (r"(?i:(?:with[ \t]+)?(?:(?:best|kind|kindest|warm|warmest|many)[ \t]+)?(?:regards|wishes|thanks)"
           r"|best|all[ \t]+the[ \t]+best|thanks[ \t]+(?:again|in[ \t]+advance|so[ \t]+much|a[ \t]+lot)"
           r"|thank[ \t]+you(?:[ \t]+(?:again|so[ \t]+much|very[ \t]+much|in[ \t]+advance))?|cheers"
           r"|(?:yours[ \t]+)?(?:sincerely|truly|faithfully)|yours|respectfully|take[ \t]+care|talk[ \t]+soon"
           r"|love|br|thx)")
NAME = r"[A-Z][\w.'-]*(?:[ \t]+[A-Z][\w.'-]*){0,3}"  # "Alice", "Alice Smith", "J. R. Smith"
VALEDICTION = re.compile(rf"^[ \t]*{CLOSING}[ \t]*(?:[,!.]|,[ \t]*{NAME})?[ \t]*\r?$", re.MULTILINE)
MAX_SIGNED_LINES = 3  # a closing's name, title and company lines
MAX_SIGNED_LINE_CHARS = 60
MAX_SIGNED_LINE_WORDS = 6
SENTENCE_LIKE = re.compile(r"[?!]|\b[a-z]+[.:;]\s*$")  # "I fixed it." is no name line, "ACME Corp." is
SENT_FROM = re.compile(r"^[ \t]*(?:Sent from (?:my|Outlook|Mail|Yahoo Mail|Gmail)|Get Outlook for)\b"
                       r"[^\n]{0,40}$", re.MULTILINE)
FORWARD_SEPARATOR = re.compile(r"^[ \t]*-{3,}[ \t]*(?:Original Message|Forwarded message)[ \t]*-{3,}"
                               r"[ \t]*\r?$", re.MULTILINE | re.IGNORECASE)  # Outlook's, Gmail's

TIMESTAMP = r"(?:\d+:)?\d{2}:\d{2}[,.]\d{3}"  # "00:00:01,000" (SRT), "00:01.000" (WebVTT)
TIMING_LINE = re.compile(f"^[ \t]*{TIMESTAMP}[ \t]+-->[ \t]+{TIMESTAMP}(?:[ \t\r][^\n]*)?$", re.MULTILINE)
CUE_INDEX = re.compile(r"[ \t]*\d+[ \t]*\r?")  # the whole line before a timing line
# A header or NOTE/STYLE/REGION block: its line and the lines after it up to a blank one.
VTT_BLOCK = re.compile(r"(?:\A\ufeff?WEBVTT|^(?:(?<=\n\n)|(?<=\n\r\n))(?:NOTE|STYLE|REGION))"
                       r"(?:[ \t][^\n]*)?\r?$(?:\n(?![^\n]*-->)[ \t]*\S[^\n]*)*", re.MULTILINE)
CUE_TAG = re.compile(r"</?(?:[vcibu]|lang|ruby|rt|font)(?:\.[\w.-]+)*(?:[ \t][^<>\n]*)?>"
                     r"|<(?:\d+:)?\d{2}:\d{2}\.\d{3}>|\{\\an?\d+\}", re.IGNORECASE)
CUE_GAP = re.compile(r"\n(?:[ \t\r]*\n)+")  # line ends with only blank lines between them
LINE_CONTENT = re.compile(r"[^\r\n]")
INVISIBLE_BLANK = "\u2060"  # what inline markup is blanked with: normalise drops it

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
# ``literal``: group 1 and 2 are the backticks blanked; no backtick inside, no space at its edges.
DOUBLE_BACKTICK_LITERAL = re.compile(r"(?<!`)(`)`[^`\s](?:[^`\n]*[^`\s])?`(`)(?!`)")
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

# LaTeX.
MIN_LATEX_LINES = 3
MIN_LATEX_COMMANDS = 3  # beside one structure line: "\\label{x}", "\\cite{y}", "\\emph{z}"
LATEX_KNOWN = re.compile(r"\\(?:[a-z]*cite[a-z]*|ref|label|emph|textbf|textit|footnote|url|begin|end)\*?[\[{]"
                         r"|\\item\b")
LATEX_DOCUMENT = re.compile(r"\\documentclass\b|\\begin\{document\}")
LATEX_STRUCTURE = re.compile(r"^[ \t]*\\(?:(?:sub)*section|chapter|begin)\*?\{", re.MULTILINE)
LATEX_COMMENT = re.compile(r"(?<!\\)%[^\n]*")
LATEX_HEADING_LEVELS = {"part": 1, "chapter": 1, "title": 1, "section": 1, "subsection": 2,
                        "subsubsection": 3}
LATEX_HEADING = re.compile(r"^([ \t]*)\\(part|chapter|title|(?:sub){0,2}section)\*?(?:\[[^\]\n]*\])?"
                           r"\{([^{}\n]*)\}(?:\\label\{[^{}\n]*\})?[ \t]*\r?$", re.MULTILINE)
LATEX_ITEM = re.compile(r"^([ \t]*)\\item\b(?:\[[^\]\n]*\])?", re.MULTILINE)
LATEX_ARGUMENT = r"(?:\[[^\]\n]*\]|\{[^{}\n]*\})"
LATEX_COMMAND_LINE = re.compile(rf"^[ \t]*(?:\\[A-Za-z]+\*?{LATEX_ARGUMENT}*[ \t]*)+\r?$", re.MULTILINE)
# Read as their key; the other citation commands (\\cite, \\citep, ...) are asides and dropped.
LATEX_REFERENCES = r"ref|eqref|autoref|[cC]ref|pageref|[cC]itet|[tT]extcite|[cC]iteauthor|citeyear"
LATEX_REFERENCE = re.compile(rf"(\\(?:{LATEX_REFERENCES})\*?(?:\[[^\]\n]*\])*\{{)([^{{}}\n]*)\}}")
LATEX_DROPPED = re.compile(rf"[ \t~]*\\(?:[a-z]*cite[a-z]*|label|footnote)\*?{LATEX_ARGUMENT}+")
LATEX_UNWRAPPED = re.compile(r"(\\(?:emph|text(?:bf|it|tt|sc|rm|sf)|underline|url)\{)([^{}\n]*)\}")
LATEX_SPACE = re.compile(r"(?<!\\)(?:\\[, ]|~)")  # "40\\,\\%", "e.g.\\ arXiv", "Section~2"
LATEX_BRACED_COMMA = re.compile(r"\{(?=,\})|(?<=\{,)\}")  # "8{,}000"
LATEX_ESCAPE = re.compile(r"\\(?=[%&$#_])")
CODE_ENVIRONMENTS = r"verbatim|Verbatim|lstlisting|minted|equation|align|gather|multline|eqnarray"
LATEX_CODE = re.compile(rf"^[ \t]*\\begin\{{({CODE_ENVIRONMENTS})\*?\}}[^\n]*\n(.*?)^[ \t]*\\end\{{\1\*?\}}",
                        re.MULTILINE | re.DOTALL)


def blank_format_furniture(text: str) -> str:
    """Same length as `text`; its front matter, quote markers, e-mail headers, attribution,
    signature and courtesies, subtitle cue furniture, reST, LaTeX and Markdown markup blanked,
    as the module docstring says. Every "\\n"
    stays, except in a subtitle file, where a run of blank lines between cues keeps only its
    last one. Text with none of these is returned as it is."""
    message = message_spans(text)
    spans = front_matter_spans(text) + quote_marker_spans(text) + message + signature_spans(text)
    cue_spans = subtitle_spans(text)
    blanked = blank_spans(text, spans + cue_spans)
    if message:  # an e-mail: its greetings and sign-offs are no text either
        blanked = blank_spans(blanked, courtesy_spans(text, blanked))
    if cue_spans:
        blanked = CUE_GAP.sub(lambda gap: " " * (len(gap.group()) - 1) + "\n", blanked)
    return latex_furniture(markdown_links(inline_literals(rest_furniture(blanked)), text))


def blank_spans(text: str, spans: list[tuple[int, int]], blank: str = " ") -> str:
    """`text` with every character in the (start, end) `spans` but "\\n" and "\\r" turned into
    `blank`; the spans may overlap."""
    if not spans:
        return text
    pieces, position = [], 0
    for start, end in sorted(spans):
        start = max(start, position)
        if start < end:
            pieces += [text[position:start], LINE_CONTENT.sub(blank, text[start:end])]
            position = end
    pieces.append(text[position:])
    return "".join(pieces)


def front_matter_spans(text: str) -> list[tuple[int, int]]:
    """The YAML front matter, fences included, or nothing."""
    match = FRONT_MATTER.match(text) if text.lstrip("\ufeff").startswith("---") else None
    if not match:
        return []
    lines = match.group(1).split("\n")[:-1]
    keys = [line for line in lines if YAML_KEY.match(line)]
    if not keys or not all(YAML_KEY.match(line) or YAML_OTHER.match(line) for line in lines):
        return []
    return [(0, match.end())]


def quote_marker_spans(text: str) -> list[tuple[int, int]]:
    """The quote markers at line starts (with one space after them). A line of markers alone
    counts only next to quoted text, an indented marker only where the next line is quoted,
    blank or missing: in "   > <stdin>(2)f()" / "   (Pdb) p x", an indented pdb session, ">"
    marks the current frame."""
    if ">" not in text:
        return []
    spans = []
    for match in QUOTE_MARKERS.finditer(text):
        line_end = text.find("\n", match.end())
        line_end = len(text) if line_end < 0 else line_end
        if not text[match.end():line_end].strip() and not _next_to_quoted_text(text, match.start(), line_end):
            continue
        if text[match.start()] == " " and line_end < len(text) \
                and not QUOTE_MARKERS.match(text, line_end + 1) and not BLANK_LINE.match(text, line_end + 1):
            continue
        spans.append(match.span())
    return spans


def _next_to_quoted_text(text: str, line_start: int, line_end: int) -> bool:
    previous_start = text.rfind("\n", 0, max(line_start - 1, 0)) + 1
    return (line_start > 0 and QUOTED_TEXT.match(text, previous_start, line_start - 1) is not None) \
        or (line_end < len(text) and QUOTED_TEXT.match(text, line_end + 1) is not None)


def message_spans(text: str) -> list[tuple[int, int]]:
    """E-mail header blocks (a Subject's text aside) and attribution lines: what makes `text`
    an e-mail."""
    if ":" not in text:
        return []
    spans = []
    for block in HEADER_BLOCK.finditer(text):
        spans += _header_block_spans(text, block.start(), block.end())
    return spans + [match.span() for match in ATTRIBUTION.finditer(text)]


def signature_spans(text: str) -> list[tuple[int, int]]:
    """Signatures: a line "-- " and the few lines under it."""
    return [match.span() for match in SIGNATURE.finditer(text)] if "--" in text else []


def courtesy_spans(text: str, blanked: str) -> list[tuple[int, int]]:
    """In an e-mail, `text`, whose other furniture `blanked` has blanked (same offsets): its
    greetings, alone on a line that opens a paragraph; its closings, with the name lines under
    them up to the message's end; and "Sent from my ..." lines."""
    spans = [greeting.span() for greeting in SALUTATION.finditer(blanked)  # "Subject: Hi all," stays
             if _opens_paragraph(text, blanked, greeting.start())
             and not SUBJECT_PREFIX.match(text, greeting.start())]
    spans += [match.span() for match in SENT_FROM.finditer(blanked)]
    spans += [match.span() for match in FORWARD_SEPARATOR.finditer(blanked)]
    for closing in VALEDICTION.finditer(blanked):
        end = _signed_end(text, blanked, closing.start(), closing.end())
        if end is not None and not SUBJECT_PREFIX.match(text, closing.start()):
            spans.append((closing.start(), end))
    return spans


def _opens_paragraph(text: str, blanked: str, line_start: int) -> bool:
    """Whether the line at `line_start` follows a blank (or blanked) line, or opens the text or
    a quote ("> Hi Alice," under "Best, Bob")."""
    previous_start = blanked.rfind("\n", 0, max(line_start - 1, 0)) + 1
    return line_start == 0 or not blanked[previous_start:line_start - 1].strip() \
        or _quote_depth(text, previous_start) != _quote_depth(text, line_start)


def _signed_end(text: str, blanked: str, line_start: int, line_end: int) -> int | None:
    """Where a closing line (line_start, line_end) and the name lines under it end: at a blank
    line, the end of the text or a change of quote depth (a quoted reply) after at most
    MAX_SIGNED_LINES of them; None where a longer line or a sentence comes first ("Thanks,"
    wrapped in a paragraph)."""
    depth = _quote_depth(text, line_start)
    for n_lines in range(MAX_SIGNED_LINES + 1):
        next_start = line_end + 1
        if next_start >= len(text):
            return line_end
        next_end = text.find("\n", next_start)
        next_end = len(text) if next_end < 0 else next_end
        line = blanked[next_start:next_end].strip()
        if not line or _quote_depth(text, next_start) != depth:
            return line_end
        if n_lines == MAX_SIGNED_LINES or len(line) > MAX_SIGNED_LINE_CHARS or line[0].islower() \
                or len(line.split()) > MAX_SIGNED_LINE_WORDS or SENTENCE_LIKE.search(line):
            return None
        line_end = next_end
    return None


def _quote_depth(text: str, line_start: int) -> int:
    marker = QUOTE_MARKERS.match(text, line_start)
    return marker.group().count(">") if marker else 0


def _header_block_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """What to blank in the header block text[start:end]: every line, but for a Subject (and
    its continuation lines) only "Subject:" and its "Re:"/"Fwd:" prefixes; nothing when fewer
    than two lines are headers (one "From: ..." line is prose)."""
    spans, n_headers, in_subject, line_start = [], 0, False, start
    for line in text[start:end].split("\n"):
        line_end = line_start + len(line)
        if HEADER_LINE_START.match(text, line_start, line_end):
            n_headers += 1
            subject = SUBJECT_PREFIX.match(text, line_start, line_end)
            in_subject = subject is not None
            spans.append((line_start, subject.end() if subject else line_end))
        elif not in_subject:  # a continuation line of a header other than the Subject
            spans.append((line_start, line_end))
        line_start = line_end + 1
    return spans if n_headers >= 2 else []


def subtitle_spans(text: str) -> list[tuple[int, int]]:
    """The cue furniture of an SRT or WebVTT file; nothing for text with fewer cue timings."""
    if "-->" not in text:
        return []
    timings = [match.span() for match in TIMING_LINE.finditer(text)]
    if len(timings) < MIN_TIMING_LINES:
        return []
    spans = list(timings)
    for timing_start, _ in timings:
        if timing_start >= 2:  # the line before: a cue index ("12"), a WebVTT identifier, or text
            index_start = text.rfind("\n", 0, timing_start - 1) + 1
            alone = index_start < 2 or BLANK_LINE.match(text, text.rfind("\n", 0, index_start - 1) + 1)
            if CUE_INDEX.fullmatch(text, index_start, timing_start - 1) \
                    or (alone and "-->" not in text[index_start:timing_start]):
                spans.append((index_start, timing_start - 1))
    spans += [match.span() for match in VTT_BLOCK.finditer(text)]
    spans += [match.span() for match in CUE_TAG.finditer(text)]
    return spans


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
                     if _line_start(text, match.start()) not in code_lines]
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
    return [span for match, spans in matches if _line_start(text, match.start()) not in code_lines
            for span in spans if span[0] >= 0]


def reference_name(name: str) -> str:
    """A reference or target name as reStructuredText compares them: "The  Docs" is "the docs"."""
    return " ".join(name.split()).lower()


def _line_start(text: str, position: int) -> int:
    return text.rfind("\n", 0, position) + 1


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
    markup = [span for link, spans in links if _line_start(text, link.start()) not in code_lines
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


def looks_like_latex(text: str) -> bool:
    if "\\" not in text or LATEX_DOCUMENT.search(text) is not None:
        return "\\" in text
    structure = [match.end() - 1 for match in LATEX_STRUCTURE.finditer(text)]  # each one's "{"
    if len(structure) >= MIN_LATEX_LINES:
        return True
    others = [match for match in LATEX_KNOWN.finditer(text) if match.end() - 1 not in structure]
    return bool(structure) and len(others) >= MIN_LATEX_COMMANDS


def latex_furniture(text: str) -> str:
    """`text` with its LaTeX furniture blanked or rewritten, as rule 6 says; text that does not
    look like LaTeX as it is."""
    if not looks_like_latex(text):
        return text
    text = LATEX_COMMENT.sub(_spaces, text)
    text = LATEX_HEADING.sub(_markdown_heading, text)
    text = LATEX_ITEM.sub(lambda item: item.group(1) + "-" + " " * (item.end() - item.end(1) - 1), text)
    text = LATEX_REFERENCE.sub(_unwrapped, text)  # first: a line "\\citet{x}" is text, not a command
    text = LATEX_COMMAND_LINE.sub(_spaces, text)
    text = LATEX_DROPPED.sub(lambda match: INVISIBLE_BLANK * len(match.group()), text)
    text = LATEX_ESCAPE.sub(INVISIBLE_BLANK, text)
    text = LATEX_BRACED_COMMA.sub(INVISIBLE_BLANK, text)
    text = LATEX_SPACE.sub(lambda match: " " * len(match.group()), text)
    return LATEX_UNWRAPPED.sub(_unwrapped, text)


def _unwrapped(match: re.Match) -> str:
    """ "\\emph{word}" as "word", the command and braces blanked invisibly."""
    return INVISIBLE_BLANK * len(match.group(1)) + match.group(2) + INVISIBLE_BLANK


def _spaces(match: re.Match) -> str:
    return LINE_CONTENT.sub(" ", match.group())


def _markdown_heading(match: re.Match) -> str:
    """ "\\section{Intro}" as "#       Intro ", in the same characters."""
    indent, title = match.group(1), match.group(3)
    marker = "#" * LATEX_HEADING_LEVELS[match.group(2)]
    gap = " " * (match.start(3) - match.end(1) - len(marker))
    after = LINE_CONTENT.sub(" ", match.string[match.end(3):match.end()])
    return indent + marker + gap + title + after
