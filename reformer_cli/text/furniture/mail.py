"""E-mail furniture (rule 3 of the package docstring).

E-mail: a header block, 2 or more header lines (HEADER_NAMES, also when quoted) with their
folded continuation lines, names and values, except the text of a Subject (its "Subject:"
and "Re:"/"Fwd:"/"Fw:" prefixes go); an attribution line "On ... wrote:" followed by a
quoted line (after blank lines, if any); a signature: a line `-- ` or `--`, then 1 to 6
lines up to a blank line or the end, none of them starting with "--" (an SQL or MIB
comment is no signature).
In an e-mail, a text where a header block or an attribution line was found (so a letter in
a novel, "Dear Sir, I write...", or a README's "Thanks to Ann" keeps its words), also its
courtesies, which would otherwise be its shortest, most central sentences: a greeting
(GREETINGS, in English and a few other European languages, up to 4 words of names, then `,`
`:` or `!`: "Hi Bob,", "Dear team:", "Good morning Sarah,", "Hola Juan,", "Guten Tag Herr
Weber,") alone on a line that opens a paragraph or a quote; a closing (CLOSINGS: "Best,",
"Thanks!", "Kind regards, Alice", "Cordialement,", "Mit freundlichen Grüßen Klaus", a name
without a comma only after a closing of two words or more) alone on its line, with up to
MAX_SIGNED_LINES short lines under it (a name, a title, a company; none opening in lower case
or ending like a sentence), but only where a blank line, the end or a change of quote depth
comes next, so "Thanks,\nI fixed it." stays; a line "Sent from my iPhone"; a separator
"-----Original Message-----". "Thanks for the report, I fixed it." or "Merci pour le rapport."
is a sentence, not a closing, and a Subject's text ("Subject: Thanks!") is never one. A
mailing-list digest's own furniture is digest.py's.

Pure functions: no files, no terminal.
"""

from __future__ import annotations

import re

from reformer_cli.text.furniture.quotes import QUOTE, QUOTE_MARKERS

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
# ("Hi Bob,", "Dear team:", "Hola Juan,") alone on its line, a closing ("Best,", "Kind regards,
# Alice", "Mit freundlichen Grüßen") and "Sent from my iPhone". One tuple of phrases a language,
# each phrase a regex, matched case-insensitively; a space in a phrase is any run of blanks.
GREETINGS = {
    "en": ("hi", "hello", "hey", "hiya", "dear(?:est)?", "greetings",
           "good (?:morning|afternoon|evening|day)", "to whom"),
    "es": ("hola", "buen(?:os|as) (?:días|dias|tardes|noches)", "estimad[oa]s?", "querid[oa]s?"),
    "fr": ("bonjour", "bonsoir", "salut", "cher", "chère", "chers", "chères", "madame", "monsieur"),
    "de": ("hallo", "guten (?:morgen|tag|abend)", "liebe[rs]?", "sehr geehrte[rs]?", "servus", "moin"),
    "nl": ("hoi", "beste", "goedemorgen", "goedemiddag", "geachte"),
    "it": ("ciao", "salve", "buongiorno", "buonasera", "gentil(?:e|issim[oa])", "car[oi]"),
    "pt": ("olá", "oi", "bom dia", "boa (?:tarde|noite)", "prezad[oa]s?"),
    "nordic": ("hej(?:san)?", "hei", "hallå", "kära?", "god (?:morgon|dag)"),
}
CLOSINGS = {
    "en": ("(?:with )?(?:(?:best|kind|kindest|warm|warmest|many) )?(?:regards|wishes|thanks)", "best",
           "all the best", "thanks (?:again|in advance|so much|a lot)",
           "thank you(?: (?:again|so much|very much|in advance))?", "cheers",
           "(?:yours )?(?:sincerely|truly|faithfully)", "(?:sincerely|truly|faithfully) yours", "yours",
           "respectfully", "take care", "talk soon", "love", "br", "thx"),
    "es": ("(?:un )?(?:cordial )?saludos?(?: cordiales)?", "(?:un )?abrazos?", "atentamente", "cordialmente",
           "(?:muchas )?gracias"),
    "fr": ("(?:bien )?cordialement", "bien à vous", "merci(?: beaucoup| encore)?",
           "(?:sincères )?salutations", "amitiés", "bises", "bonne (?:journée|soirée)", "à bientôt"),
    "de": ("(?:mit )?(?:(?:freundlichen|besten|herzlichen|lieben|vielen) )?grü(?:ß|ss)en",
           "(?:viele|beste|liebe|freundliche|herzliche) grü(?:ß|ss)e", "gruß", "(?:vielen )?dank", "danke",
           "mfg", "lg", "vg"),
    "nl": ("(?:met )?(?:vriendelijke|hartelijke) groet(?:en)?", "groet(?:en|jes)", "bedankt"),
    "it": ("(?:cordiali|distinti) saluti", "saluti", "un saluto", "grazie(?: mille)?", "a presto",
           "un abbraccio"),
    "pt": ("(?:um )?abraços?", "atenciosamente", "cumprimentos", "obrigad[oa]", "saudações", "beijos"),
    "nordic": ("(?:med )?(?:vänliga|venlig|vennlig) (?:hälsningar|hilsen)", "hälsningar", "hilsen", "mvh",
               "tack"),
}


def _phrases(phrases_by_language: dict[str, tuple[str, ...]]) -> str:
    """One case-insensitive alternation of every language's phrases."""
    phrases = (phrase for language in phrases_by_language.values() for phrase in language)
    return "(?i:" + "|".join(phrase.replace(" ", "[ \\t]+") for phrase in phrases) + ")"


GREETING = _phrases(GREETINGS)
SALUTATION = re.compile(rf"^[ \t]*{GREETING}(?:[ \t]+[\w'&@-]+\.?){{0,4}}[ \t]*[,:!][ \t]*\r?$", re.MULTILINE)
CLOSING = _phrases(CLOSINGS)
NAME = r"[A-ZÀ-ÖØ-Þ][\w.'-]*(?:[ \t]+[A-ZÀ-ÖØ-Þ][\w.'-]*){0,3}"  # "Alice Smith", "J. R. Smith", "Émile"
# A name after a closing of two words or more needs no comma ("Mit freundlichen Grüßen Klaus"),
# after one word it does: "Best Practices" alone on its line is a heading.
VALEDICTION = re.compile(rf"^[ \t]*(?P<closing>{CLOSING})[ \t]*"
                         rf"(?:[,!.]|,[ \t]*{NAME}|[ \t](?P<bare_name>{NAME}))?[ \t]*\r?$", re.MULTILINE)
MAX_SIGNED_LINES = 3  # a closing's name, title and company lines
MAX_SIGNED_LINE_CHARS = 60
MAX_SIGNED_LINE_WORDS = 6
SENTENCE_LIKE = re.compile(r"[?!]|\b[a-z]+[.:;]\s*$")  # "I fixed it." is no name line, "ACME Corp." is
SENT_FROM = re.compile(r"^[ \t]*(?:Sent from (?:my|Outlook|Mail|Yahoo Mail|Gmail)|Get Outlook for)\b"
                       r"[^\n]{0,40}$", re.MULTILINE)
FORWARD_SEPARATOR = re.compile(r"^[ \t]*-{3,}[ \t]*(?:Original Message|Forwarded message)[ \t]*-{3,}"
                               r"[ \t]*\r?$", re.MULTILINE | re.IGNORECASE)  # Outlook's, Gmail's


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
        if closing.group("bare_name") and not closing.group("closing").split()[1:]:
            continue
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


def _quote_depth(text: str, line_start: int) -> int:
    marker = QUOTE_MARKERS.match(text, line_start)
    return marker.group().count(">") if marker else 0
