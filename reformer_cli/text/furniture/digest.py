"""Mailing-list digest furniture (rule 3 of the package docstring, beside mail.py).

A Mailman digest (2.x or 3.x, plain text) is one e-mail holding many; left in, its masthead
("Send dev-list mailing list submissions to ...", "To subscribe or unsubscribe via ...", "You
can reach the person managing the list at ...") is the most central text in it and becomes the
summary. Only in a text that has a masthead, a line "Send NAME mailing list submissions to"
with "Today's Topics:" after it (so a message that merely mentions either keeps its words),
these go: the masthead up to and including the separator line under the "Today's Topics:" list;
every separator line (30 or more `-`); "Message: N" lines; the list's tag in a Subject
("Subject: Re: [dev-list] Release" keeps "Release"); the scrubber's "--- next part ---" notes
with their lines; the footer, a line of `_` with the lines under it, and its "Subject: Digest
Footer"; the digest's own Subject ("dev-list Digest, Vol 12, Issue 3"); and the closing "End
of NAME Digest, Vol N, Issue N" with its line of stars. The messages' own headers, greetings
and closings are mail.py's; their text stays.

Pure functions: no files, no terminal.
"""

from __future__ import annotations

import re

MASTHEAD = re.compile(r"^[ \t]*Send [^\n]{1,100} mailing list submissions to[ \t]*\r?$", re.MULTILINE)
TOPICS = re.compile(r"^[ \t]*Today's Topics:[ \t]*\r?$", re.MULTILINE)
SEPARATOR = re.compile(r"^[ \t]*-{30,}[ \t]*\r?$", re.MULTILINE)
DIGEST_FURNITURE = re.compile(
    r"^(?:[ \t]*Message:[ \t]*\d+"  # "Message: 2"
    r"|Subject:[ \t]*(?:Digest Footer|[^\n]{1,100} Digest, Vol \d+, Issue \d+)"  # the digest's own
    r"|_{30,}(?:\r?\n[ \t]*\S[^\n]*){0,4}"  # the footer: the list's name, address and page
    r"|[ \t]*-{3,}[ \t]*next part[ \t]*-{3,}(?:\r?\n[ \t]*\S[^\n]*){0,6}"  # "An HTML attachment was..."
    r"|End of [^\n]{1,100} Digest\b[^\n]*(?:\r?\n\*{3,})?)[ \t]*\r?$", re.MULTILINE)
LIST_TAG = re.compile(r"^Subject:[ \t]*(?:(?i:re|fwd?)[ \t]*:[ \t]*)*(\[[^\]\n]{1,60}\][ \t]*)", re.MULTILINE)


def digest_spans(text: str) -> list[tuple[int, int]]:
    """A mailing-list digest's furniture, as the module docstring says; [] for any other text."""
    if "mailing list submissions to" not in text or "Today's Topics:" not in text:
        return []
    masthead = MASTHEAD.search(text)
    topics = masthead and TOPICS.search(text, masthead.end())
    separator = topics and SEPARATOR.search(text, topics.end())
    if not separator:
        return []
    spans = [(masthead.start(), separator.end())]
    spans += [match.span() for match in SEPARATOR.finditer(text, separator.end())]
    spans += [match.span() for match in DIGEST_FURNITURE.finditer(text)]
    return spans + [match.span(1) for match in LIST_TAG.finditer(text)]
