"""Format furniture: YAML front matter, quote markers, e-mail headers, signatures, greetings and
sign-offs, subtitle cue numbers, timings and tags become spaces of the same length, so offsets
into the text still hold; Markdown links read as their text; prose, Markdown without links, RFCs
and Chinese novels come back as they were, and PEPs, reST rendered to text, lose only the
reference markup left in them."""

import json
import re
from pydoc_data.topics import topics

import pytest
from dev_sets import DEV, NO_DATA

from reformer_cli.summarize.extractive import summarize_extractive
from reformer_cli.summarize.selection import Budget
from reformer_cli.text.furniture import blank_format_furniture, code_body_lines
from reformer_cli.text.sentences import split_sentences


def words(text: str) -> str:
    return " ".join(text.split())


def assert_same_shape(text: str, blanked: str, joined_gaps: bool = False) -> None:
    """Same length, and every character either kept or blanked (a space); every line end kept,
    unless `joined_gaps`, where a line end may become a space only between two text lines with
    nothing but blank or blanked lines between them."""
    assert len(blanked) == len(text)
    for position, (before, after) in enumerate(zip(text, blanked)):
        if before == "\n" and after != "\n":
            assert joined_gaps and after == " ", position
            assert not blanked[blanked.rfind("\n", 0, position) + 1:position].strip() \
                or not blanked[position + 1:].split("\n", 1)[0].strip(), position
        else:
            assert after in (before, " "), position


FRONT_MATTER = """---
title: "Release notes for 2.0"
date: 2024-05-01
tags: [cli, release]
authors:
  - Ann Example
# a comment
---
Version 2.0 drops the legacy flag.
"""

QUOTED_REPLY = """> Older releases silently ignored the flag,
> which surprised many users.
>
> > Did anyone complain?
>> Twice, on the list.

We now reject it with an error.
"""

EMAIL = """From: Ann Example <ann@example.org>
To: Bob Example <bob@example.org>,
  Carol Example <carol@example.org>
Subject: Re: Fwd: Removing the legacy flag
Date: Mon, 6 May 2024 10:00:00 +0200
Message-ID: <1234@example.org>

Hi Bob,

On Sun, 5 May 2024 at 18:00, Bob Example <bob@example.org> wrote:
> Is the flag gone in 2.0?

Yes, version 2.0 rejects it with an error.

""" + "-- \n" + """Ann Example
Release manager, Example Org
"""

SRT = """1
00:00:01,000 --> 00:00:04,000
Older releases silently ignored

2
00:00:04,000 --> 00:00:06,500
<i>the flag</i>, which surprised
many users.

3
00:00:06,500 --> 00:00:09,000
Version 2.0 rejects it.
"""

WEBVTT = """WEBVTT
Kind: captions
Language: en

NOTE This file was made by hand
for the test.

intro
00:01.000 --> 00:04.000 align:start position:10%
<v Narrator>Older releases silently</v> ignored

00:04.000 --> 00:06.500
<v.loud Bob>the <c.yellow>flag</c>, which</v> <b>surprised</b>

00:06.500 --> 00:09.000
many <00:00:07.000>users.
"""


def test_front_matter_is_blanked_with_its_fences():
    blanked = blank_format_furniture(FRONT_MATTER)
    assert_same_shape(FRONT_MATTER, blanked)
    fenced = "".join(" " * len(line) + "\n" for line in FRONT_MATTER.split("\n")[:8])
    assert blanked == fenced + "Version 2.0 drops the legacy flag.\n"


def test_quote_markers_are_blanked_at_line_starts_only():
    blanked = blank_format_furniture(QUOTED_REPLY)
    assert_same_shape(QUOTED_REPLY, blanked)
    assert blanked.split("\n")[:5] == [
        "  Older releases silently ignored the flag,",
        "  which surprised many users.",
        " ",
        "    Did anyone complain?",
        "   Twice, on the list.",
    ]
    assert words(blanked) == ("Older releases silently ignored the flag, which surprised many users. "
                              "Did anyone complain? Twice, on the list. We now reject it with an error.")


def test_email_headers_attribution_greeting_and_signature_are_blanked_but_the_subject_is_kept():
    blanked = blank_format_furniture(EMAIL)
    assert_same_shape(EMAIL, blanked)
    assert words(blanked) == ("Removing the legacy flag Is the flag gone in 2.0? "
                              "Yes, version 2.0 rejects it with an error.")
    subject = blanked.split("\n")[3]
    assert subject == " " * len("Subject: Re: Fwd: ") + "Removing the legacy flag"


def test_an_email_quoted_inside_a_reply_has_its_headers_blanked():
    text = ("Forwarding this.\n\n> From: Ann <ann@example.org>\n> Subject: Flag removal\n"
            "> Date: Mon, 6 May 2024\n>\n> The flag is gone.\n")
    blanked = blank_format_furniture(text)
    assert_same_shape(text, blanked)
    assert words(blanked) == "Forwarding this. Flag removal The flag is gone."


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_srt_cue_numbers_and_timings_are_blanked_and_cues_form_one_block(line_end):
    text = SRT.replace("\n", line_end)
    blanked = blank_format_furniture(text)
    assert_same_shape(text, blanked, joined_gaps=True)
    assert words(blanked) == ("Older releases silently ignored the flag , which surprised many users. "
                              "Version 2.0 rejects it.")
    # One block: no blank (or blanked) line left, and every text line starts a line.
    lines = blanked.strip().split("\n")
    expected = ["Older releases silently ignored", "the flag , which surprised", "many users.",
                "Version 2.0 rejects it."]
    assert [words(line) for line in lines] == expected
    assert lines[1].startswith("   the flag") and lines[2].startswith("many users.")


def test_webvtt_header_notes_identifiers_timings_and_tags_are_blanked():
    blanked = blank_format_furniture(WEBVTT)
    assert_same_shape(WEBVTT, blanked, joined_gaps=True)
    assert words(blanked) == "Older releases silently ignored the flag , which surprised many users."
    # The header, the NOTE, the identifier "intro" and the timing are one line of spaces.
    first_cue = WEBVTT.index("<v Narrator>")
    header, first_line = blanked.split("\n")[:2]
    assert header == " " * (first_cue - 1)
    assert first_line.rstrip() == " " * 12 + "Older releases silently" + " " * 4 + " ignored"
    assert "<" not in blanked and "-->" not in blanked and "NOTE" not in blanked


def test_two_timings_are_text_that_quotes_them_not_a_subtitle_file():
    text = "The log said\n\n00:00:01,000 --> 00:00:04,000\n\nand later\n\n00:00:05,000 --> 00:00:06,000\n"
    assert blank_format_furniture(text) is text


@pytest.mark.parametrize("text", [
    "Intro paragraph.\n\n---\ntitle: not front matter\n---\n\nMore text.\n",  # a break, mid-document
    "---\nThis is a thematic break at the top.\nIt is followed by prose.\n---\n",
    "In C, x > y is true when x is larger.\nx > y is true\n",
    "<!-- a comment -->\n<p>Some HTML</p>\n<!--\n-->\n",
    "From: the author's point of view, the flag was a mistake.\n\nIt is gone now.\n",
    "The pipeline goes parse --> check --> emit.\nA --> B\n",
    ">>> print(1)\n1\n>>> x >= 2\n",
    ">= 2 is the bound.\n",
    "On reflection, the reviewer wrote:\n\n    The flag must go.\n",
    "-- The schedule group\n--\n-- The schedule table.\n--\n\npmSchedTable OBJECT-TYPE\n",
    "The debugger prompt:\n\n   > ...(3)double()\n   -> return x * 2\n   (Pdb) p x\n",
    "SGML declaration ends\n\n>\n\n<!--\n",
])
def test_text_without_furniture_comes_back_unchanged(text):
    assert blank_format_furniture(text) is text


def test_pydoc_topics_come_back_unchanged():
    changed = [name for name, text in topics.items() if blank_format_furniture(text) != text]
    assert changed == []


def dev_documents(name: str) -> list[str]:
    with open(DEV / f"{name}.dev.jsonl", encoding="utf-8") as rows:
        return [json.loads(row)["document"] for row in rows]


@pytest.mark.skipif(not DEV.is_dir(), reason=NO_DATA)
@pytest.mark.parametrize("name", ["rfc_abstract", "zh_classics_huimu"])
def test_dev_documents_come_back_unchanged(name):
    changed = [number for number, document in enumerate(dev_documents(name))
               if blank_format_furniture(document) != document]
    assert changed == []


@pytest.mark.skipif(not DEV.is_dir(), reason=NO_DATA)
def test_dev_peps_lose_only_their_footnote_references_and_anonymous_targets():
    """What reST the PEPs keep: "bugs.python.org [#b.p.o]_." and lines "__ https://...";
    the plain version here drops them with the space before a reference, nothing else."""
    changed = 0
    for document in dev_documents("peps_abstract"):
        blanked = blank_format_furniture(document)
        assert_blanked_in_place(document, blanked)
        plain = re.sub(r"(?m)^__ \S+$", "", re.sub(r" \[[^\]\s]+\]_", "", document))
        assert words(blanked.replace("\u2060", "")) == words(plain)
        changed += blanked != document
    assert changed == 7


def assert_blanked_in_place(text: str, blanked: str, rewritten: str = "") -> None:
    """Same length and line ends; every other character kept, a space, a word joiner (inline
    markup, dropped when the text is normalised), or one of `rewritten` (Markdown markers)."""
    assert len(blanked) == len(text)
    for position, (before, after) in enumerate(zip(text, blanked)):
        if before in "\r\n":
            assert after == before, position
        else:
            assert after in (before, " ", "\u2060") or after in rewritten, position


RST = """:Author: Guido van Rossum
:Status: Active
   (continued)

.. contents:: Table of Contents
   :depth: 2

.. _naming:

.. note:: Mixed tabs are an error.

See :pep:`8` and :ref:`the rules <naming>`.

..
   Local Variables:
   End:

.. [1] A footnote is text.
"""


def test_restructuredtext_directives_fields_and_comments_are_blanked():
    blanked = blank_format_furniture(RST)
    assert_blanked_in_place(RST, blanked)
    assert words(blanked.replace("\u2060", "")) == (
        "Mixed tabs are an error. See `8` and `the rules`. A footnote is text.")


LATEX = r"""\documentclass{article}
% a comment line
\begin{document}
\section{Results}
\subsection*{Memory}
Memory falls \cite{kitaev2020} by 50\%, see Section~\ref{sec:memory}. % trailing
\item[a)] The \emph{first} point.
\end{document}
"""


def test_latex_furniture_is_blanked_and_sections_and_items_read_as_markdown():
    blanked = blank_format_furniture(LATEX)
    assert_blanked_in_place(LATEX, blanked, rewritten="#-")
    assert [words(line.replace("\u2060", "")) for line in blanked.split("\n") if line.strip()] == [
        "# Results", "## Memory", "Memory falls by 50%, see Section sec:memory.", "- The first point."]


@pytest.mark.parametrize("text", [
    "Use \\emph{x} and \\cite{key} in C:\\path.\n\\section{One}\n\\section{Two}\n",  # two: not LaTeX
    "... an ellipsis line\n\n    indented block\n",  # not explicit markup, not a field
    "The scope operator std::\nand Foo::\n    bar()\n",  # "::" with no literal block after it
    "Ratio: 3:2 is fine.\n:-) is a smiley\n",
    "Fields such as `:Author:` and `:PEP:`, in inline code, are named, not roles.\n",
])
def test_text_that_only_resembles_rest_or_latex_comes_back_unchanged(text):
    assert blank_format_furniture(text) is text


def test_a_literal_block_intro_ends_in_one_colon_and_its_block_is_code():
    text = "Run this command::\n\n    pip install foo\n\n    pip check\n\nDone.\n"
    blanked = blank_format_furniture(text)
    assert_same_shape(text, blanked)
    assert words(blanked) == "Run this command: pip install foo pip check Done."
    alone = "Run this command ::\n\n    pip install foo\n\nThen::\n\n    x\n"
    assert words(blank_format_furniture(alone)) == "Run this command pip install foo Then: x"
    assert [text[start:].split("\n")[0] for start in sorted(code_body_lines(text))] == [
        "    pip install foo", "    pip check"]
    assert code_body_lines("Run this command::\n    not a block: no blank line\n") == frozenset()


def test_code_directive_and_latex_environment_bodies_are_code_lines():
    rst = ".. code-block:: bash\n   :caption: build\n\n   meson setup builddir\n\n.. note::\n\n   Text.\n"
    assert [rst[start:].split("\n")[0] for start in sorted(code_body_lines(rst))] == [
        "   meson setup builddir"]
    latex = ("\\documentclass{article}\n\\begin{verbatim}\npython train.py\n\\end{verbatim}\n"
             "\\begin{align*}\na &= b\n\\end{align*}\n\\begin{quote}\nProse.\n\\end{quote}\n")
    assert [latex[start:].split("\n")[0] for start in sorted(code_body_lines(latex))] == [
        "python train.py", "a &= b"]


SECTION_FILE = r"""\section{Evaluation}\label{sec:eval}
About 50\% of the 8{,}000 documents\footnote{See the survey by Tay et al.} are long \cite{tay2020}.
The code is at \url{https://example.org/code}, e.g.\ here, in Section~\ref{sec:x}, by 40\,\%.
"""


def test_a_latex_section_file_is_recognised_and_its_inline_commands_read_as_text():
    blanked = blank_format_furniture(SECTION_FILE)
    assert_blanked_in_place(SECTION_FILE, blanked, rewritten="#")
    assert [words(line.replace("\u2060", "")) for line in blanked.split("\n") if line.strip()] == [
        "# Evaluation", "About 50% of the 8,000 documents are long.",
        "The code is at https://example.org/code, e.g. here, in Section sec:x, by 40 %."]


@pytest.mark.parametrize("text", [
    "Copy C:\\Users\\ann\\emph\\file.txt to D:\\backup\\cite\\ first.\n\\section{Paths}\nThen run it.\n",
    "Match \\d+ and \\s* with re, or \\w{3}, then \\b at the end.\n\\section{Regexes}\n",
    "A tilde ~ and a brace {,} stay.\n\\section{One}\n\\label{a}\n\\emph{b}\n",  # two commands
])
def test_plain_text_with_backslashes_is_no_latex(text):
    assert blank_format_furniture(text) is text


PAPER = r"""\documentclass{article}
\begin{document}
As shown in Section~\ref{sec:results}, the error falls by half.
\citet{smith20} show that memory grows linearly.
The method of \citet[p.~3]{jones21} needs twice the memory, as \textcite[see][p.~3]{lee} and
\Citet*{a,b} say; Equation~\eqref{eq:loss}, \autoref{tab:x}, \cref{fig:a} and \Cref{fig:b} on
page~\pageref{fig:b} agree with \citeauthor{kim} (\citeyear{kim}).
\end{document}
"""


def test_a_latex_reference_that_is_part_of_the_sentence_reads_as_its_key():
    blanked = blank_format_furniture(PAPER)
    assert_blanked_in_place(PAPER, blanked)
    assert [sentence.text for sentence in split_sentences(PAPER)] == [
        "As shown in Section sec:results, the error falls by half.",
        "smith20 show that memory grows linearly.",
        "The method of jones21 needs twice the memory, as lee and a,b say; Equation eq:loss, tab:x, "
        "fig:a and fig:b on page fig:b agree with kim (kim)."]


def test_a_latex_citation_aside_label_and_footnote_still_go_whole():
    text = ("\\documentclass{article}\nAttention is costly \\cite{vaswani17}, as shown \\citep[p.~2]{x}"
            " and \\parencite{y}\\footcite{z}.\\label{eq:a} Memory grows\\footnote{See the survey.}"
            " linearly (\\citeyearpar{w}).\n")
    blanked = blank_format_furniture(text)
    assert_blanked_in_place(text, blanked)
    assert words(blanked.replace("\u2060", "")) == (
        "Attention is costly, as shown and. Memory grows linearly ().")


def test_a_latex_footnote_with_a_reference_in_it_goes_whole():
    text = r"""\documentclass{article}
Memory grows\footnote{As \citet{kim} show in \S\ref{s}.} linearly.
"""
    blanked = blank_format_furniture(text)
    assert_blanked_in_place(text, blanked)
    assert words(blanked.replace("\u2060", "")) == "Memory grows linearly."


@pytest.mark.parametrize("footnote", ["Released in \\emph{2020} by the consortium.", "See \\url{https://x.org}."])
def test_a_latex_footnote_with_braces_in_it_goes_whole(footnote):
    text = f"\\documentclass{{article}}\nWe use the treebank\\footnote{{{footnote}}} for every experiment.\n"
    blanked = blank_format_furniture(text)
    assert_blanked_in_place(text, blanked)
    assert sentence_texts(text) == ["We use the treebank for every experiment."]


def test_a_latex_cite_governed_by_the_word_before_it_reads_as_its_key():
    text = r"""\documentclass{article}
In \cite{lee2019}, the authors show that it works.
This was described by \citet{c} and in \cite{d}.
As in~\cite[p.~3]{e}, cf. \cite{f}, following \cite{g}, see
\cite{h}.
Attention is costly \cite{vaswani17} and \cite{x}.
"""
    blanked = blank_format_furniture(text)
    assert_blanked_in_place(text, blanked)
    assert sentence_texts(text) == [
        "In lee2019, the authors show that it works.", "This was described by c and in d.",
        "As in e, cf. f, following g, see h.", "Attention is costly and."]


def test_a_latex_section_sign_reads_as_one():
    text = "\\documentclass{article}\nThe data (\\S\\ref{sec:data}) and \\S~\\ref{sec:b} are public.\n"
    blanked = blank_format_furniture(text)
    assert_blanked_in_place(text, blanked, rewritten="§")
    assert sentence_texts(text) == ["The data (§sec:data) and § sec:b are public."]


@pytest.mark.parametrize("label", ["1", "#", "#note", "*", "CIT2002"])
def test_a_restructuredtext_footnote_or_citation_loses_its_marker_and_label(label):
    text = f"Loading is faster [{label}]_.\n\n.. [{label}] see the manual, which\n   says more.\n"
    blanked = blank_format_furniture(text)
    assert_blanked_in_place(text, blanked)
    assert blanked.split("\n")[2] == " " * len(f".. [{label}] ") + "see the manual, which"
    assert [sentence.text for sentence in split_sentences(text)] == [
        "Loading is faster.", "see the manual, which says more."]


@pytest.mark.parametrize("text", [
    "Use ``--force`` to overwrite files.\n\n.. note:: Or ``-f``.\n",  # reStructuredText
    "# Usage\n\nUse ``--force`` to overwrite files.\n\n```\nrm -rf build\n```\n",  # Markdown
])
def test_a_double_backtick_literal_reads_as_inline_code(text):
    blanked = blank_format_furniture(text)
    assert_blanked_in_place(text, blanked)
    assert "Use \u2060`--force`\u2060 to overwrite files." in blanked
    assert "Use `--force` to overwrite files." in [sentence.text for sentence in split_sentences(text)]


@pytest.mark.parametrize("text", [
    "Fenced:\n\n```\nsplit at a ``b here\n```\n",  # a lone `` in code, and fences
    "```python\nx = 1\n```\n\n``` ```\n",
    "A pair ``across\nlines`` and `` spaced `` and ``a`b`` stay.\n",
])
def test_lone_double_backticks_fences_and_spaced_pairs_come_back_unchanged(text):
    assert blank_format_furniture(text) is text


def test_latex_quotation_marks_are_no_literals():
    text = "\\documentclass{article}\nHe said ``fast'', then ``faster''.\n"
    assert "He said ``fast'', then ``faster''." in blank_format_furniture(text)


REFERENCES = """Title
=====

This removes the legacy flag [#]_ and speeds up loading, as described in PEP 8 [1]_.
See the `Python tutorial <https://docs.python.org/3/tutorial/>`_ for details, or `the docs`_.
The Sphinx_ tool builds it; anonymous links__ work too.

.. [#] A footnote.
.. [1] Another.
.. _the docs: https://example.org
.. _Sphinx: https://sphinx-doc.org
__ https://example.com
"""


def test_restructuredtext_references_read_as_the_rendered_page_shows_them():
    blanked = blank_format_furniture(REFERENCES)
    assert_blanked_in_place(REFERENCES, blanked)
    assert "__ https" not in blanked and "The Sphinx\u2060 tool" in blanked
    assert [(sentence.kind, sentence.text) for sentence in split_sentences(REFERENCES)] == [
        ("heading", "Title"),
        ("sentence", "This removes the legacy flag and speeds up loading, as described in PEP 8."),
        ("sentence", "See the Python tutorial for details, or the docs."),
        ("sentence", "The Sphinx tool builds it; anonymous links work too."),
        ("sentence", "A footnote."), ("sentence", "Another.")]


@pytest.mark.parametrize("reference", [
    "`Python tutorial <https://docs.python.org/3/>`_", "`Python tutorial <https://docs.python.org/3/>`__",
    "`Python tutorial`_", "`Python tutorial`__", "`Python\n   tutorial <https://docs.python.org/3/>`_"])
def test_a_phrase_reference_reads_as_its_text_without_backticks(reference):
    text = f"Read the {reference}, then (`more`_).\n"
    blanked = blank_format_furniture(text)
    assert_blanked_in_place(text, blanked)
    assert words(blanked.replace("\u2060", "")) == "Read the Python tutorial, then (more)."


@pytest.mark.parametrize("targets", [".. _sphinx: https://sphinx-doc.org\n.. __: https://example.com\n",
                                     ".. _`SPHINX`:\n\n__ https://example.com\n"])
def test_simple_references_lose_their_underscores_where_their_targets_are_declared(targets):
    text = f"Build with Sphinx_ (see links__), not class_ or __init__.\n\n{targets}"
    blanked = blank_format_furniture(text)
    assert_blanked_in_place(text, blanked)
    assert blanked.split("\n")[0].replace("\u2060", "") == (
        "Build with Sphinx (see links), not class_ or __init__.")
    assert not blanked[blanked.index("\n\n"):].strip()  # the targets are blanked


@pytest.mark.parametrize("text", [
    "Define __init__ and _private, name it class_ or snake_case_; links__ too.\n",  # no targets
    "Define __init__, self.__dict__ and class_.\n\n.. _Class_: x\n\n__ https://example.com\n",
    "Markdown `code`, `x`_y, `[1]_`, `Sphinx_` and a[1]_ stay.\n\n.. _Sphinx: x\n",
])
def test_names_with_underscores_and_inline_code_are_no_references(text):
    blanked = blank_format_furniture(text)
    assert blanked.split("\n")[0] == text.split("\n")[0]


def test_a_role_with_a_target_still_reads_as_inline_code():
    text = "See :ref:`the rules <naming>` and :pep:`8` or `the rules`_.\n"
    assert [sentence.text for sentence in split_sentences(text)] == [
        "See `the rules` and `8` or the rules."]


@pytest.mark.parametrize("intro", ["An example::\n", ".. code-block:: rst\n"])
def test_references_in_a_code_body_stay(intro):
    body = "    Use [1]_, `a <b>`_, Sphinx_ and links__.\n    __ https://example.com\n"
    text = f"{intro}\n{body}\nSee [1]_ and Sphinx_.\n\n.. _Sphinx: x\n\n__ https://example.com\n"
    blanked = blank_format_furniture(text)
    assert body in blanked
    assert "See\u2060\u2060\u2060\u2060\u2060 and Sphinx\u2060." in blanked
    assert "__ https" not in blanked[blanked.index(body) + len(body):]


def sentence_texts(text: str) -> list[str]:
    return [sentence.text for sentence in split_sentences(text)]


HEADERS = "From: Alice Smith <alice@example.org>\nTo: Bob Jones <bob@example.org>\nSubject: {subject}\n" \
    "Date: Tue, 7 May 2024 09:12:00 +0200\n\n"

THREAD = HEADERS.format(subject="Re: Migration plan") + """Hi Bob,

Thanks for sending the migration plan. Could we move the cut-over to July?

Best,
Alice

On Mon, 6 May 2024 at 17:40, Bob Jones <bob@example.org> wrote:
> Hi Alice,
>
> The cut-over is planned for June.
>
> Cheers,
> Bob
"""


def test_a_thread_loses_its_greetings_and_sign_offs_and_keeps_its_sentences():
    blanked = blank_format_furniture(THREAD)
    assert_same_shape(THREAD, blanked)
    expected = ["Migration plan", "Thanks for sending the migration plan.",
                "Could we move the cut-over to July?", "The cut-over is planned for June."]
    assert sentence_texts(THREAD) == expected
    same_line = THREAD.replace("Best,\nAlice\n", "Best, Alice\n")
    assert sentence_texts(same_line) == expected


def test_an_email_summary_picks_no_greeting_or_sign_off():
    """The tester's thread: "Hi Bob," came first in its summary, and "Best, Alice" was in it."""
    text = HEADERS.format(subject="Re: Migration plan for the billing service") + (
        "Hi Bob,\n\nThanks for sending the migration plan. I went through it with the team yesterday and we "
        "agree with most of it. The main concern is the cut-over window, which overlaps with the end of the "
        "quarter when billing traffic peaks.\n\nCould we move the cut-over to the second week of July?\n\n"
        "Best,\nAlice\n\nOn Mon, 6 May 2024 at 17:40, Bob Jones <bob@example.org> wrote:\n> Hi Alice,\n>\n"
        "> Attached is the migration plan. Let me know what you think.\n>\n> Cheers,\n> Bob\n")
    summary = summarize_extractive(text, Budget(sentences=3))
    assert len(summary.sentences) == 3
    assert [sentence.text for sentence in summary.sentences
            if re.search(r"Hi |Best|Cheers", sentence.text)] == []


@pytest.mark.parametrize("greeting", ["Hi Bob,", "Hello all,", "Dear team,", "Hey,", "Good morning Sarah,",
                                      "Dear Mr. Smith:", "To whom it may concern:", "Hi all!"])
@pytest.mark.parametrize("closing", [
    "Best,\nAlice", "Best regards,\nAlice", "Thanks,\nAlice", "Cheers,", "Kind regards, Alice",
    "Sincerely,\nAlice Smith\nACME Corp", "Thanks!\nAlice\nSent from my iPhone",
    "Many thanks,\nAlice Smith, Ph.D.", "Yours sincerely,\nAlice Smith\nHead of Platform\nACME Corp."])
def test_email_greetings_and_closings_are_blanked(greeting, closing):
    text = HEADERS.format(subject="Budget") + f"{greeting}\n\nThe budget was approved.\n{closing}\n"
    blanked = blank_format_furniture(text)
    assert_same_shape(text, blanked)
    assert words(blanked) == "Budget The budget was approved."


def test_forward_separators_and_quoted_greetings_under_a_closing_are_blanked():
    text = ("Thanks, see below.\n\n-----Original Message-----\nFrom: Ann\nSent: Monday, May 6, 2024\n"
            "To: Bob\nSubject: Report\n\nHi Bob,\nPlease find the report attached.\nRegards,\nAnn\n"
            "> Hi Ann,\n> Where is the report?\n")
    assert sentence_texts(text) == ["Thanks, see below.", "Report", "Please find the report attached.",
                                    "Where is the report?"]


@pytest.mark.parametrize("body, kept", [
    ("Thanks for the report, I fixed it.\n", ["Thanks for the report, I fixed it."]),
    ("Hi Bob, thanks for the patch.\n", ["Hi Bob, thanks for the patch."]),
    ("Thanks,\nI fixed the bug in the parser.\n", ["Thanks, I fixed the bug in the parser."]),
    ("The plan:\nHello world:\nprints a greeting.\n", ["The plan: Hello world: prints a greeting."]),
    ("Regards,\nAnn\nAnalyst\nACME Corp\n+1 555 0100\n", ["Regards, Ann Analyst ACME Corp +1 555 0100"]),
    ("Thanks,\nand see you on Monday.\n", ["Thanks, and see you on Monday."]),
])
def test_email_sentences_that_open_like_courtesies_stay(body, kept):
    """A greeting must stand alone on a line that opens a paragraph; a closing must stand alone
    and be followed, within MAX_SIGNED_LINES short name lines, by the end of the message."""
    text = HEADERS.format(subject="Budget") + body
    assert sentence_texts(text)[1:] == kept


@pytest.mark.parametrize("subject", ["Thanks!", "Hi all,", "Re: Best regards"])
def test_a_subject_that_reads_like_a_courtesy_stays(subject):
    text = HEADERS.format(subject=subject) + "The budget was approved.\n"
    assert sentence_texts(text)[0] == subject.removeprefix("Re: ")


@pytest.mark.parametrize("text", [
    "CHAPTER 1.\n\nThe letter read:\n\nDear Sir,\nI write to inform you of your uncle's death.\n\n"
    "Best regards,\nMr. Collins\n\nShe folded it.\n",  # a letter in a novel
    "# Tool\n\n## Credits\n\nThanks to Alice for the parser.\nThanks to Bob for the tests.\n\n"
    "Thanks,\nThe maintainers\n",  # a README
    "From: the author's point of view, it was a mistake.\n\nHi Bob,\n\nCheers,\nAlice\n",  # one "From:"
])
def test_greetings_and_closings_outside_an_email_stay(text):
    assert blank_format_furniture(text) is text


@pytest.mark.parametrize("greeting, closing", [
    ("Hola Juan,", "Un saludo,\nMarta"), ("Buenos días,", "Saludos, Pepe"),
    ("Hola a todos,", "Atentamente,\nJo"),
    ("Bonjour Marie,", "Cordialement,\nClaire Dubois\nResponsable des services généraux"),
    ("Salut Paul,", "Bien à vous,\nJo"), ("Bonjour,", "Merci,\nJean"),
    ("Guten Tag Herr Weber,", "Mit freundlichen Grüßen\nKlaus Weber"),
    ("Hallo zusammen,", "Mit freundlichen Grüßen Klaus"),
    ("Sehr geehrte Damen und Herren,", "Viele Grüße, Jo"),
    ("Hoi Jan,", "Groetjes,\nJo"), ("Beste Jan,", "Met vriendelijke groet,"),
    ("Ciao Marco,", "Cordiali saluti,"), ("Buongiorno,", "Saluti,"), ("Olá Ana,", "Abraços,"),
    ("Hej Anna,", "Med vänliga hälsningar,"), ("Dear John,", "Sincerely yours,\nJohn"),
    ("Hello,", "Yours truly,"), ("Hi team,", "Warm regards,"),
])
def test_greetings_and_closings_in_other_languages_are_blanked(greeting, closing):
    text = HEADERS.format(subject="Budget") + f"{greeting}\n\nThe budget was approved.\n\n{closing}\n"
    blanked = blank_format_furniture(text)
    assert_same_shape(text, blanked)
    assert words(blanked) == "Budget The budget was approved."


@pytest.mark.parametrize("body, kept", [
    ("Merci pour le rapport, c'est corrigé.\n", ["Merci pour le rapport, c'est corrigé."]),
    ("Saludos a tu familia y nos vemos el viernes.\n", ["Saludos a tu familia y nos vemos el viernes."]),
    ("Merci,\nc'est corrigé depuis lundi.\n", ["Merci, c'est corrigé depuis lundi."]),
    ("Hola, ¿qué tal el viaje a Madrid?\n", ["Hola, ¿qué tal el viaje a Madrid?"]),
    ("The notes follow.\n\nBest Practices\n", ["The notes follow.", "Best Practices"]),  # a heading
])
def test_sentences_that_open_like_courtesies_in_other_languages_stay(body, kept):
    text = HEADERS.format(subject="Budget") + body
    assert sentence_texts(text)[1:] == kept


DIGEST = """From: dev-list-request@lists.example.org
To: dev-list@lists.example.org
Subject: dev-list Digest, Vol 12, Issue 3
Date: Tue, 7 May 2024 12:00:01 +0000

Send dev-list mailing list submissions to
	dev-list@lists.example.org

To subscribe or unsubscribe via the World Wide Web, visit
	https://lists.example.org/mailman/listinfo/dev-list
or, via email, send a message with subject or body 'help' to
	dev-list-request@lists.example.org

You can reach the person managing the list at
	dev-list-owner@lists.example.org

When replying, please edit your Subject line so it is more specific
than "Re: Contents of dev-list digest..."


Today's Topics:

   1. Release 3.2 schedule (Priya Natarajan)
   2. Re: Release 3.2 schedule (Tom Becker)
   3. Flaky integration test on the ARM runners since the last
      toolchain upgrade (Li Wei)


----------------------------------------------------------------------

Message: 1
Date: Mon, 6 May 2024 09:15:02 +0000
From: Priya Natarajan <priya@example.org>
To: dev-list@lists.example.org
Subject: [dev-list] Release 3.2 schedule
Message-ID: <abc123@example.org>
Content-Type: text/plain; charset="utf-8"

Hi all,

The release branch for 3.2 will be cut on May 20. Please land any feature work before then.
Bug fixes can still go in until the release candidate on June 3.

Thanks,
Priya


------------------------------

Message: 2
Date: Mon, 6 May 2024 11:02:40 +0200
From: Tom Becker <tom@example.org>
To: dev-list@lists.example.org
Subject: Re: [dev-list] Release 3.2 schedule
Message-ID: <def456@example.org>
Content-Type: text/plain; charset="us-ascii"

The new storage backend will not be ready by May 20. Could it ship as experimental in 3.2?

Cheers,
Tom

On Mon, 6 May 2024 at 09:15, Priya Natarajan <priya@example.org> wrote:
> The release branch for 3.2 will be cut on May 20.
-------------- next part --------------
An HTML attachment was scrubbed...
URL: <https://lists.example.org/pipermail/dev-list/attachments/20240506/def456/attachment.html>

------------------------------

Message: 3
Date: Mon, 6 May 2024 16:40:11 +0800
From: Li Wei <li.wei@example.org>
To: dev-list@lists.example.org
Subject: [dev-list] Flaky integration test on the ARM runners since
	the last toolchain upgrade
Message-ID: <ghi789@example.org>
Content-Type: text/plain; charset="utf-8"

The replication test times out on about one run in ten on the ARM runners. It started with the
toolchain upgrade last week, so I suspect the new compiler flags.

------------------------------

Subject: Digest Footer

_______________________________________________
dev-list mailing list
dev-list@lists.example.org
https://lists.example.org/mailman/listinfo/dev-list


------------------------------

End of dev-list Digest, Vol 12, Issue 3
***************************************
"""


def test_a_mailing_list_digest_keeps_only_its_messages_subjects_and_text():
    blanked = blank_format_furniture(DIGEST)
    assert_same_shape(DIGEST, blanked)
    assert sentence_texts(DIGEST) == [
        "Release 3.2 schedule", "The release branch for 3.2 will be cut on May 20.",
        "Please land any feature work before then.",
        "Bug fixes can still go in until the release candidate on June 3.",
        "Release 3.2 schedule", "The new storage backend will not be ready by May 20.",
        "Could it ship as experimental in 3.2?", "The release branch for 3.2 will be cut on May 20.",
        "Flaky integration test on the ARM runners since the last toolchain upgrade",
        "The replication test times out on about one run in ten on the ARM runners.",
        "It started with the toolchain upgrade last week, so I suspect the new compiler flags."]


def test_a_digest_summary_picks_no_masthead():
    """The tester's digest: its masthead ("Send dev-list mailing list submissions to ...") was the summary."""
    summary = summarize_extractive(DIGEST, Budget(sentences=3))
    assert [sentence.text for sentence in summary.sentences
            if re.search(r"mailing list|subscribe|Topics|Message: |Digest", sentence.text)] == []


@pytest.mark.parametrize("text", [
    "Send dev-list mailing list submissions to\n\tdev-list@lists.example.org\n\nMessage: 1\n"
    "------------------------------\n",  # no "Today's Topics:"
    "In the digest, Today's Topics: lists the subjects, and\n\"Send dev-list mailing list submissions to\""
    " opens it.\n\n------------------------------\n\nMessage: 1\n",  # no masthead line
])
def test_text_that_only_mentions_a_digest_comes_back_unchanged(text):
    assert blank_format_furniture(text) is text


MARKDOWN = """# Project

See the [documentation](https://example.org/docs) for more. Read the [install guide][install]
and the [FAQ][] first, or [Sphinx] to build the docs. A [wrapped
link](docs/wrapped.md "Title") works, as do ([nested [b] text](https://x.org)).

[![Build Status](https://ci.example.org/badge.svg)](https://ci.example.org) ![Logo](logo.png)

[install]: https://example.org/install "Install"
  [faq]: <https://example.org/faq>
[Sphinx]: https://sphinx-doc.org
"""


def test_markdown_links_and_images_read_as_their_text():
    blanked = blank_format_furniture(MARKDOWN)
    assert_blanked_in_place(MARKDOWN, blanked)
    assert [(sentence.kind, sentence.text) for sentence in split_sentences(MARKDOWN)] == [
        ("heading", "# Project"), ("sentence", "See the documentation for more."),
        ("sentence", "Read the install guide and the FAQ first, or Sphinx to build the docs."),
        ("sentence", "A wrapped link works, as do (nested [b] text)."),
        ("heading", "Build Status Logo")]
    assert not blanked[MARKDOWN.index("[install]:"):].strip()  # the definitions are blanked


def test_a_markdown_link_sentence_keeps_its_offsets_in_the_text():
    text = "Intro.\n\nSee the [documentation](https://example.org/docs) for more.\n"
    sentence = split_sentences(text)[1]
    assert sentence.text == "See the documentation for more."
    assert text[sentence.start:sentence.end] == "See the [documentation](https://example.org/docs) for more."


@pytest.mark.parametrize("text", [
    "Citations such as [1], [2] (Smith 2020) and [3][4] stay.\n",
    "Call a[i](x.y) or f()[0](y.z), and \\[not](a/link).\n",  # code-like prose, an escaped bracket
    "SFIDDESC Virtual File Description [UTF-8](n)\n",  # an RFC's field type: no URL
    "Inline `[x](y.md)` and `` `[a](b/c)` `` are code.\n",
    "```\nhandlers[0](event)\n[x](y.md)\n```\n",
    "Visit <https://example.org> or <mailto:ann@example.org>.\n",  # autolinks stay
    "A [reference][nowhere] and a [shortcut] with no definition.\n",
    "A footnote[^1].\n\n[^1]: https://example.org\n",
    "[INFO]: started\n[2024-05-01 12:00]: done\n",  # log lines, no destination
])
def test_text_that_only_resembles_markdown_links_comes_back_unchanged(text):
    assert blank_format_furniture(text) is text


@pytest.mark.parametrize("text, kept", [
    ("Inline ``[a](b/c)`` is code.\n", "[a](b/c)"),  # a reST literal
    ("An example::\n\n    [x](https://example.org) and [y][x]\n\n[x]: https://example.org\n",
     "    [x](https://example.org) and [y][x]\n\n" + " " * 24),  # a literal block; its definition goes
    ("Outside: [text][x].\n\n```\n[x]: https://example.org\n```\n",  # a definition in code is none
     "Outside: [text][x].\n\n```\n[x]: https://example.org\n```\n"),
])
def test_markdown_links_in_code_stay(text, kept):
    assert kept in blank_format_furniture(text).replace("\u2060", "")


def test_a_numbered_reference_reads_as_a_citation_but_its_definition_goes():
    text = "As shown in [1], and in [the paper][1].\n\n[1]: https://example.org/paper.pdf\n"
    blanked = blank_format_furniture(text)
    assert_blanked_in_place(text, blanked)
    assert sentence_texts(text) == ["As shown in [1], and in the paper."]
