"""Citation marks in summary sentences: "The Token Ring RMON MIB [19] provides ..." points at a
reference list that a summary does not carry, so the mark is dropped and its words go to content.

Only marks that read as an aside are dropped: a number list ("[3]", "[4, 7]", "[2-5]"), an RFC
("[RFC 2119]"), a tag with a digit in it ("[ISO10646]", "[Ref1]"), or a run of them ("[1], [4]"),
right after a word and followed by a space or punctuation. A mark that is the object of the word
before it ("defined in [RFC2119]", "see [3]") is the sentence's own content and stays, and so do
brackets that are code ("list[int]", "x = [0, 1]") or grammar ("addr-spec [CFWS]").
"""

from __future__ import annotations

import re

_MARK = r"\[(?:\d+(?:\s*[,-]\s*\d+)*|RFC[\s-]?\d+|[A-Z][\w.+/-]*\d[\w.+/-]*)\]"
# " [19]" or " [1], [4]" after a word or ")" and before a space, punctuation or the end.
CITATION_MARKS = re.compile(rf"(?<=[A-Za-z0-9)]) {_MARK}(?:,\s*{_MARK})*(?=[\s.,;:)]|$)")
# Words that make the marks their object: prepositions and verbs of reference.
GOVERNED = re.compile(r"\b(?:in|see|of|by|to|from|and|or|per|cf\.|with|than|as|at|on|for|under|"
                      r"via|e\.g\.|i\.e\.|(?:use|follow|extend|update|obsolete|replace|"
                      r"supersede|cite)[sd]?|using|following)$", re.IGNORECASE)


def drop_citation_marks(text: str) -> str:
    """`text` without the citation marks that read as asides; unchanged where there is none."""
    pieces, last = [], 0
    for mark in CITATION_MARKS.finditer(text):
        if GOVERNED.search(text, 0, mark.start()):
            continue
        pieces.append(text[last:mark.start()])
        last = mark.end()
    return "".join(pieces) + text[last:] if pieces else text
