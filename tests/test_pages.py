"""Page furniture: running headers, footers and page numbers of paginated text (RFCs, pdftotext
output) are no part of any sentence, a sentence cut by a page break is whole again, and every
offset still points into the original text."""

import textwrap

import pytest

from reformer_cli.summarize.extractive import summarize_extractive
from reformer_cli.summarize.selection import Budget
from reformer_cli.text.pages import blank_page_furniture
from reformer_cli.text.sentences import split_sentences
from reformer_cli.text.words import normalise

PARAGRAPHS = [
    "The Widget Transfer Protocol moves widgets between hosts over reliable streams, and this "
    "memo defines its messages, its states and the errors that a host reports to its peer.",
    "Every transfer carries a widget identifier and a checksum, so that a host can tell a "
    "damaged widget from a whole one before it stores the widget in its table of transfers.",
    "Hosts retry a transfer that fails its checksum, waiting twice as long before each new "
    "attempt, and they give up after the fifth attempt and report the failure to the sender.",
    "A host that receives a widget it already holds answers with the identifier of its copy "
    "instead of storing the widget a second time, which keeps the tables of both hosts small.",
] * 3


def paginate(paragraphs, lines_per_page, footer, header, form_feed=True):
    """`paragraphs` laid out as a raw RFC: indented, wrapped at 72 columns, a footer and a
    header at every page break (optionally with a form feed between them)."""
    lines = []
    for paragraph in paragraphs:
        lines += textwrap.wrap(paragraph, 69, initial_indent="   ", subsequent_indent="   ")
        lines.append("")
    pages, out = [lines[i:i + lines_per_page] for i in range(0, len(lines), lines_per_page)], []
    for number, page in enumerate(pages, 1):
        out += page
        if number < len(pages):
            out += ["", footer.format(number), "\f" + header.format(number + 1), ""]
    return "\n".join(out)


RFC_FOOTER = "Doe                          Informational                      [Page {}]"
RFC_HEADER = "RFC 9999              Widget Transfer Protocol              March 2026"


@pytest.mark.parametrize("form_feed", [True, False])
def test_rfc_headers_and_footers_are_blanked_and_offsets_kept(form_feed):
    raw = paginate(PARAGRAPHS, 7, RFC_FOOTER, RFC_HEADER)
    if not form_feed:
        raw = raw.replace("\f", "")
    blanked = blank_page_furniture(raw)
    assert len(blanked) == len(raw)
    assert "[Page" not in blanked and "Widget Transfer Protocol  " not in blanked
    sentences = split_sentences(raw)
    texts = [s.text for s in sentences]
    assert not any("[Page" in text or "March 2026" in text for text in texts)
    # Every paragraph comes back whole, the ones cut by a page break included.
    assert all(paragraph in texts for paragraph in PARAGRAPHS[:4])
    for sentence in sentences:  # offsets point at the sentence's own words in the raw text
        span = raw[sentence.start:sentence.end]
        assert span.split()[0] == sentence.text.split()[0]
        assert span.split()[-1] == sentence.text.split()[-1]
        assert normalise(blanked[sentence.start:sentence.end]) == sentence.text


def test_the_rfc_header_after_the_only_footer_is_blanked():
    # Two pages: the header cannot recur, but an RFC's header follows its footer.
    raw = paginate(PARAGRAPHS[:2], 4, RFC_FOOTER, RFC_HEADER)
    assert raw.count("[Page") == 1
    blanked = blank_page_furniture(raw)
    assert "[Page" not in blanked and "RFC 9999" not in blanked


def test_pdftotext_page_numbers_and_a_running_header_are_blanked():
    raw = paginate(PARAGRAPHS, 9, "- {} -", "Annual Report of the Widget Society")
    sentences = split_sentences(raw)
    texts = [s.text for s in sentences]
    assert not any("Annual Report" in text or "- 2 -" in text for text in texts)
    assert all(paragraph in texts for paragraph in PARAGRAPHS[:4])


def test_a_line_by_a_single_page_break_stays_unless_it_is_a_page_number():
    # One break: a first line that does not recur is the next page's text (a title), kept.
    raw = "The first page ends here.\n\n12\n\fChapter Two Begins\n\nThe second page starts."
    blanked = blank_page_furniture(raw)
    assert "12" not in blanked and "Chapter Two Begins" in blanked and "\f" not in blanked


def test_text_without_page_breaks_is_returned_as_it_is():
    text = "One sentence. Another one.\n\nA second paragraph."
    assert blank_page_furniture(text) is text
    prose = ("A long sentence of prose that happens to cite the old layout with its footer mark "
             "[Page 3] inside the text, which is far longer than any footer line would be.")
    assert blank_page_furniture(prose) == prose


def test_a_wrapped_hyphen_joins_the_compound():
    assert normalise("an Access-\n   Accept packet") == "an Access-Accept packet"
    assert normalise("pages 3-\n4 and a -\nb") == "pages 3- 4 and a - b"


def test_a_summary_of_a_paginated_document_has_no_furniture():
    raw = paginate(PARAGRAPHS, 5, RFC_FOOTER, RFC_HEADER)
    summary = summarize_extractive(raw, Budget(sentences=3))
    assert summary.sentences
    for sentence in summary.sentences:
        assert "[Page" not in sentence.text and "March 2026" not in sentence.text
        assert sentence.text in PARAGRAPHS
