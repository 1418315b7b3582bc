"""Format furniture: the parts of a document that belong to its file format, not to its text.
Left in, "title: Release notes" opens the first sentence of a blog post, "> " cuts a quoted
e-mail into lines the segmenter reads as something other than prose, "From: ... Date: ..."
becomes a sentence, and every subtitle cue is a block of its own, so a sentence spoken across
two cues is cut in two.

What is blanked (turned into spaces; "\\n" and "\\r" stay, except where said):
1. YAML front matter (front_matter.py);
2. quote markers (quotes.py);
3. e-mail headers, attributions, signatures and courtesies (mail.py), and a mailing-list
   digest's masthead, topics, separators and footer (digest.py);
4. subtitle cue furniture (subtitles.py); only there does a "\\n" become a space;
5. reStructuredText markup (restructured_text.py), which also finds the code bodies;
6. LaTeX markup (latex.py);
7. inline ``literals`` and 8. Markdown links (markdown.py).
Each module's docstring says exactly what its rule blanks.

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

from reformer_cli.text.furniture.digest import digest_spans
from reformer_cli.text.furniture.front_matter import front_matter_spans
from reformer_cli.text.furniture.latex import latex_furniture
from reformer_cli.text.furniture.mail import courtesy_spans, message_spans, signature_spans
from reformer_cli.text.furniture.markdown import inline_literals, markdown_links
from reformer_cli.text.furniture.quotes import quote_marker_spans
from reformer_cli.text.furniture.restructured_text import code_body_lines, rest_furniture
from reformer_cli.text.furniture.spans import blank_spans
from reformer_cli.text.furniture.subtitles import CUE_GAP, subtitle_spans

__all__ = ["blank_format_furniture", "code_body_lines"]


def blank_format_furniture(text: str) -> str:
    """Same length as `text`; its front matter, quote markers, e-mail headers, attribution,
    signature and courtesies, digest furniture, subtitle cue furniture, reST, LaTeX and Markdown
    markup blanked, as the module docstring says. Every "\\n" stays, except in a subtitle file,
    where a run of blank lines between cues keeps only its last one. Text with none of these is
    returned as it is."""
    message = message_spans(text) + digest_spans(text)
    spans = front_matter_spans(text) + quote_marker_spans(text) + message + signature_spans(text)
    cue_spans = subtitle_spans(text)
    blanked = blank_spans(text, spans + cue_spans)
    if message:  # an e-mail: its greetings and sign-offs are no text either
        blanked = blank_spans(blanked, courtesy_spans(text, blanked))
    if cue_spans:
        blanked = CUE_GAP.sub(lambda gap: " " * (len(gap.group()) - 1) + "\n", blanked)
    return latex_furniture(markdown_links(inline_literals(rest_furniture(blanked)), text))
