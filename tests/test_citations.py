"""Citation marks in summary sentences: which are dropped, which stay, and that the budget counts
the sentence as it is printed."""

import dataclasses

import pytest

from reformer_cli.summarize.citations import drop_citation_marks
from reformer_cli.summarize.extractive import summarize_extractive
from reformer_cli.summarize.scoring import ScoringConfig
from reformer_cli.summarize.selection import Budget
from reformer_cli.text.words import count_words


@pytest.mark.parametrize("text, expected", [
    ("The Token Ring RMON MIB [19] provides objects.", "The Token Ring RMON MIB provides objects."),
    ("It conforms to IEEE 802.1D [2].", "It conforms to IEEE 802.1D."),
    ("TLS [RFC 8446] and DTLS [RFC9147], [4] are used.", "TLS and DTLS are used."),
    ("Characters follow ISO [ISO10646]; see below.", "Characters follow ISO; see below."),
    ("Earlier work [3, 4] and [7-9] differ.", "Earlier work and [7-9] differ."),
    ("Interfaces (RFC 2233) [18].", "Interfaces (RFC 2233)."),
])
def test_a_citation_mark_after_a_word_is_dropped(text, expected):
    assert drop_citation_marks(text) == expected


@pytest.mark.parametrize("text", [
    "The key words are to be interpreted as described in [RFC2119].",
    "For the details see [3].",
    "The format follows [RFC-822] closely.",
    "This memo obsoletes [RFC 1234].",
    "Use x = [0, 1, 2] as the default.",  # a list literal after "="
    "The annotation list[int] is accepted.",  # code: no space before the bracket
    "addr-spec [CFWS] is optional.",  # grammar: a tag without a digit
    "The table [project] holds metadata.",
    "Footnote[1] is attached.",
])
def test_marks_that_are_content_or_code_stay(text):
    assert drop_citation_marks(text) == text


def test_a_sentence_without_marks_is_returned_as_is():
    text = "Nothing to drop here."
    assert drop_citation_marks(text) is text


SENTENCES = [
    "The Widget Transfer Protocol [12] moves widgets between hosts over reliable streams.",
    "Widget hosts keep a table of transfers that are still open.",
    "Every transfer carries a widget identifier and a checksum.",
    "Hosts retry a transfer that fails its checksum.",
]
DOCUMENT = "\n\n".join(SENTENCES * 3)


def test_summaries_print_sentences_without_marks_and_count_their_words_so():
    marked = SENTENCES[0]
    plain = drop_citation_marks(marked)
    assert count_words(plain) == count_words(marked) - 1
    without = dataclasses.replace(ScoringConfig(), drop_citations=False)
    kept = summarize_extractive(DOCUMENT, Budget(sentences=4), config=without)
    assert marked in [s.text for s in kept.sentences]
    dropped = summarize_extractive(DOCUMENT, Budget(sentences=4))
    texts = [s.text for s in dropped.sentences]
    assert plain in texts and not any("[12]" in text for text in texts)
    # A budget of exactly the printed words takes the sentence whole, not cut to fit.
    alone = summarize_extractive(marked, Budget(max_words=count_words(plain)))
    assert [(s.text, s.truncated) for s in alone.sentences] == [(plain, False)]
