"""LaTeX furniture (rule 6 of the package docstring).

LaTeX, only in a document that looks like it (`\\documentclass`, `\\begin{document}`,
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
"Section shows". So does a `\\cite{key}` governed by the word before it (LATEX_GOVERNED: "In
\\cite{lee19}, the authors", "by \\citet{a} and \\cite{b}"), unless a citation comes before
that word. A footnote's text may hold one level of braces (`\\footnote{In \\emph{2020}.}` goes
whole). `\\S` reads "§" (and an invisible blank), a backslash escaping `%&$#_` goes,
`8{,}000` reads "8,000", and `\\,`, `\\ `, `~` are spaces. Inline math `$x$` stays.

Pure functions: no files, no terminal.
"""

from __future__ import annotations

import re

from reformer_cli.text.furniture.spans import INVISIBLE_BLANK, LINE_CONTENT

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
# A footnote's text may hold one level of braces: "\\footnote{Released in \\emph{2020}.}".
LATEX_NESTED_ARGUMENT = r"(?:\[[^\]\n]*\]|\{(?:[^{}\n]|\{[^{}\n]*\})*\})"
LATEX_DROPPED = re.compile(rf"[ \t~]*\\(?:[a-z]*cite[a-z]*|label|footnote)\*?{LATEX_NESTED_ARGUMENT}+")
# A plain \\cite after a word that governs it is part of the sentence, read as its key: "In
# \\cite{lee19}, the authors show", "described by \\citet{a} and in \\cite{b}" (the words of
# summarize/citations.py's GOVERNED, which text/ must not import), but not after a citation:
# in "costly \\cite{a} and \\cite{b}." both are asides.
LATEX_GOVERNED = (r"in|see|of|by|to|from|and|or|per|cf\.|with|than|as|at|on|for|under|via|e\.g\.|i\.e\."
                  r"|(?:use|follow|extend|update|obsolete|replace|supersede|cite)[sd]?|using|following")
LATEX_GOVERNED_CITE = re.compile(rf"((?<![\w\\])(?<!\}}[ \t~])(?i:{LATEX_GOVERNED})"
                                 r"(?:[ \t~]+|[ \t]*\r?\n[ \t]*))(\\cite\*?(?:\[[^\]\n]*\])*\{)([^{}\n]*)\}")
LATEX_SECTION_SIGN = re.compile(r"(?<!\\)\\S(?![A-Za-z])")  # "\\S\\ref{x}": "§" and an invisible blank
LATEX_UNWRAPPED = re.compile(r"(\\(?:emph|text(?:bf|it|tt|sc|rm|sf)|underline|url)\{)([^{}\n]*)\}")
LATEX_SPACE = re.compile(r"(?<!\\)(?:\\[, ]|~)")  # "40\\,\\%", "e.g.\\ arXiv", "Section~2"
LATEX_BRACED_COMMA = re.compile(r"\{(?=,\})|(?<=\{,)\}")  # "8{,}000"
LATEX_ESCAPE = re.compile(r"\\(?=[%&$#_])")
CODE_ENVIRONMENTS = r"verbatim|Verbatim|lstlisting|minted|equation|align|gather|multline|eqnarray"
LATEX_CODE = re.compile(rf"^[ \t]*\\begin\{{({CODE_ENVIRONMENTS})\*?\}}[^\n]*\n(.*?)^[ \t]*\\end\{{\1\*?\}}",
                        re.MULTILINE | re.DOTALL)


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
    text = LATEX_GOVERNED_CITE.sub(lambda cite: cite.group(1) + _unwrapped(cite, 2), text)
    text = LATEX_SECTION_SIGN.sub("§" + INVISIBLE_BLANK, text)
    text = LATEX_COMMAND_LINE.sub(_spaces, text)
    text = LATEX_DROPPED.sub(lambda match: INVISIBLE_BLANK * len(match.group()), text)
    text = LATEX_ESCAPE.sub(INVISIBLE_BLANK, text)
    text = LATEX_BRACED_COMMA.sub(INVISIBLE_BLANK, text)
    text = LATEX_SPACE.sub(lambda match: " " * len(match.group()), text)
    return LATEX_UNWRAPPED.sub(_unwrapped, text)


def _unwrapped(match: re.Match, group: int = 1) -> str:
    """ "\\emph{word}" as "word", the command (`group`) and braces blanked invisibly; the word is
    the group after it."""
    return INVISIBLE_BLANK * len(match.group(group)) + match.group(group + 1) + INVISIBLE_BLANK


def _markdown_heading(match: re.Match) -> str:
    """ "\\section{Intro}" as "#       Intro ", in the same characters."""
    indent, title = match.group(1), match.group(3)
    marker = "#" * LATEX_HEADING_LEVELS[match.group(2)]
    gap = " " * (match.start(3) - match.end(1) - len(marker))
    after = LINE_CONTENT.sub(" ", match.string[match.end(3):match.end()])
    return indent + marker + gap + title + after


def _spaces(match: re.Match) -> str:
    return LINE_CONTENT.sub(" ", match.group())
