"""Sentence segmentation: English abbreviations and numbers, headings, lists, code, Chinese."""

import html
import re
from pydoc_data.topics import topics

import pytest

from reformer_cli.text.sentences import split_sentences
from reformer_cli.text.words import balance_quotes, count_words, truncate_words


def texts(text, kind=None):
    return [s.text for s in split_sentences(text) if kind is None or s.kind == kind]


def test_abbreviations_and_decimals_do_not_end_sentences():
    text = ("Dr. Smith moved to the U.S. in 2001. He paid 3.14 dollars, e.g. for tea, i.e. a "
            "small cup. Mr. J. Doe et al. agreed. Then it rained!")
    assert texts(text) == [
        "Dr. Smith moved to the U.S. in 2001.",
        "He paid 3.14 dollars, e.g. for tea, i.e. a small cup.",
        "Mr. J. Doe et al. agreed.",
        "Then it rained!",
    ]


def test_question_and_quote_closing():
    assert texts('He asked "why?" Nobody knew. (It was late.) Fine.') == [
        'He asked "why?"', "Nobody knew.", "(It was late.)", "Fine."]


def test_headings_lists_and_code_are_their_own_units():
    text = ("1.  Introduction\n\nThe protocol is simple. It has two parts.\n\nDesign goals\n\n"
            "- fast start-up\n- small memory\n\n    x = compute(a, b);\n\nThe end.")
    sentences = split_sentences(text)
    kinds = [(s.kind, s.text) for s in sentences]
    assert kinds == [
        ("heading", "1. Introduction"),
        ("sentence", "The protocol is simple."),
        ("sentence", "It has two parts."),
        ("heading", "Design goals"),
        ("list", "- fast start-up"),
        ("list", "- small memory"),
        ("code", "x = compute(a, b);"),
        ("sentence", "The end."),
    ]


def test_underlined_titles_are_headings_and_rules_are_no_text():
    # reStructuredText (pydoc's own text, PEPs) and setext Markdown mark titles with a line of
    # one repeated character under them, or over and under them.
    text = ("Sequence Types — \"list\", \"tuple\"\n*****************************\n\n"
            "There are three basic sequence types.\n\n======\nTitle\n======\n\n"
            "Setext title\n---\nBody follows at once. And goes on.\n\n-----\n\n"
            "A closing sentence.\n~~~~~~~~")
    kinds = [(s.kind, s.text) for s in split_sentences(text)]
    assert kinds == [
        ("heading", "Sequence Types — \"list\", \"tuple\""),
        ("sentence", "There are three basic sequence types."),
        ("heading", "Title"),
        ("heading", "Setext title"),
        ("sentence", "Body follows at once."),
        ("sentence", "And goes on."),
        ("sentence", "A closing sentence."),  # a sentence is no title: its underline is a rule
    ]
    assert split_sentences("x = 1\n=====")[0].kind == "code"  # code is no title either


def test_offsets_point_into_the_original_text():
    text = "First one here.\n\nSecond  one\nwraps here. 第三句。第四句！"
    for sentence in split_sentences(text):
        original = text[sentence.start:sentence.end]
        assert " ".join(original.split()) == sentence.text
    assert [s.index for s in split_sentences(text)] == [0, 1, 2, 3]


def test_chinese_punctuation_and_closing_quotes():
    text = "竺上車端坐，目不邪視。婦人辭去；臨別曰：「我乃火德星君也。君可速歸！」言訖不見。真的嗎？"
    assert texts(text) == ["竺上車端坐，目不邪視。", "婦人辭去；", "臨別曰：「我乃火德星君也。",
                           "君可速歸！」", "言訖不見。", "真的嗎？"]
    assert texts("他說：“好。”然後走了。") == ["他說：“好。”", "然後走了。"]


def test_a_semicolon_before_an_opening_quote_introduces_it():
    # Classical texts type "曰；" for "曰："; split there, the speaker tag is a fragment.
    texts = [s.text for s in split_sentences("恢曰；「吾聞良禽相木而棲。」玄德大喜；遂用之。")]
    assert texts == ["恢曰；「吾聞良禽相木而棲。」", "玄德大喜；", "遂用之。"]


def test_a_sentence_out_of_a_quotation_gets_its_marks_balanced():
    assert balance_quotes("魯肅曰：「不可。") == "魯肅曰：「不可。」"  # left open: closed
    assert balance_quotes("君可速歸！」") == "君可速歸！"  # opened before it: dropped
    assert balance_quotes("「甲『乙』丙」") == "「甲『乙』丙」"
    assert balance_quotes("「甲『乙…") == "「甲『乙…』」"
    assert balance_quotes("他說：“好。”然後」走了。") == "他說：“好。”然後走了。"
    assert balance_quotes("He said \"yes.") == "He said \"yes."  # straight quotes: ambiguous


def test_mixed_english_and_chinese():
    assert texts("We use Python 3.11 here. 这是中文句子。And back to English.") == [
        "We use Python 3.11 here.", "这是中文句子。", "And back to English."]


def test_line_without_boundaries_becomes_pseudo_sentences():
    words = " ".join(f"word{i}" for i in range(10000))  # about 70,000 characters, no periods
    sentences = split_sentences(words, max_sentence_words=80)
    assert len(sentences) > 100
    assert all(s.pseudo and count_words(s.text) <= 80 for s in sentences)
    assert " ".join(s.text for s in sentences) == words
    chinese = "天" * 50000
    pieces = split_sentences(chinese)
    assert all(count_words(s.text) <= 80 for s in pieces)
    assert "".join(s.text for s in pieces) == chinese
    token = "x" * 50000  # no spaces at all: cut by characters
    assert [len(s.text) for s in split_sentences(token)] == [1000] * 50


def test_long_sentence_is_cut_at_clauses():
    clause = "the quick brown fox jumps over the lazy dog again and again"
    text = ", ".join([clause] * 30) + "."
    pieces = split_sentences(text, max_sentence_words=40)
    assert all(count_words(p.text) <= 40 for p in pieces)
    assert all(p.text.endswith((",", ".")) for p in pieces)


def test_word_count_and_truncation():
    assert count_words("Hello world, 中文字。 x") == 6
    assert truncate_words("Hello world 中文字 more", 4) == "Hello world 中文"
    assert truncate_words("short text", 10) == "short text"
    assert truncate_words("anything", 0) == ""
    for n in range(0, 12):
        assert count_words(truncate_words("one two 三四五 six, seven 八九 ten", n)) <= n


def test_a_books_divisions_are_headings_even_with_a_final_stop():
    contents = ("CONTENTS\n\nCHAPTER 1. Loomings.\n\nCHAPTER 73. Stubb and Flask kill a Right Whale; "
                "and Then Have a Talk\nover Him.\n\nBOOK II.\nOLD AND YOUNG.\n\nPRELUDE.\n\n"
                "Chapter IV.\nChapter V.\n\nCall me Ishmael. Some years ago I went to sea.")
    kinds = [(s.kind, s.text) for s in split_sentences(contents)]
    assert kinds == [
        ("heading", "CONTENTS"), ("heading", "CHAPTER 1. Loomings."),
        ("heading", "CHAPTER 73. Stubb and Flask kill a Right Whale; and Then Have a Talk over Him."),
        ("heading", "BOOK II. OLD AND YOUNG."), ("heading", "PRELUDE."),
        ("heading", "Chapter IV."), ("heading", "Chapter V."),
        ("sentence", "Call me Ishmael."), ("sentence", "Some years ago I went to sea.")]
    chinese = split_sentences("第一回　宴桃園豪傑三結義。\n\n話說天下大勢，分久必合。")
    assert [s.kind for s in chinese] == ["heading", "sentence"]
    # Sentences that merely start with such a word stay sentences.
    for prose in ("Chapter 3 describes the method.", "Act quickly.", "Book 1 of 3 is done.",
                  "Section 2 of this memo is normative.", "Part of the text is quoted.",
                  "Section 4.2 of RFC 2865 applies."):
        assert [s.kind for s in split_sentences(prose)] == ["sentence"], prose
    # Nor does a wrapped line of a paragraph that happens to begin with one.
    wrapped = "The client MUST send the request described in\nSection 4. The server then replies."
    assert texts(wrapped) == ["The client MUST send the request described in Section 4.",
                              "The server then replies."]


def test_emphasis_marks_do_not_hide_an_abbreviation_or_make_code():
    assert texts("We know _how_ _Mrs. Bennet_ stirred it. Then *Dr. Who* came.") == [
        "We know _how_ _Mrs. Bennet_ stirred it.", "Then *Dr. Who* came."]
    attribution = split_sentences("  tied to the root of his tail.” —_A Chapter on\n  Trucks_.")
    assert [(s.kind, s.text) for s in attribution][-1] == ("sentence", "—_A Chapter on Trucks_.")
    assert [s.kind for s in split_sentences("    my_value = other_value")] == ["code"]


def test_a_dialogue_tag_in_lower_case_stays_with_its_quotation():
    assert texts("“Why not?” said Mrs. Cadwallader. “Go!” He went. Is it? Yes.") == [
        "“Why not?” said Mrs. Cadwallader.", "“Go!”", "He went.", "Is it?", "Yes."]


MARKDOWN = """# Widget Service

The service stores widgets for other services.

## Installation

Install it with pip:

```bash
pip install widget-service

widget-service --port 8080
```

```
Plain words in a fence
=====
```

## Acknowledgements

Thanks to everyone who tested it.
"""


def test_markdown_fences_are_code_and_atx_lines_are_headings():
    kinds = [(s.kind, s.text) for s in split_sentences(MARKDOWN)]
    assert kinds == [
        ("heading", "# Widget Service"),
        ("sentence", "The service stores widgets for other services."),
        ("heading", "## Installation"),
        ("sentence", "Install it with pip:"),
        ("code", "```bash"), ("code", "pip install widget-service"),  # words, not symbols
        ("code", "widget-service --port 8080"), ("code", "```"),  # a blank line inside the fence
        ("code", "```"), ("code", "Plain words in a fence"), ("code", "====="),
        ("code", "```"),  # no underlined title inside a fence
        ("heading", "## Acknowledgements"),
        ("sentence", "Thanks to everyone who tested it."),
    ]


def test_a_fence_never_closed_leaves_the_rest_prose():
    kinds = [(s.kind, s.text) for s in split_sentences("```\nThe rest is prose. It goes on.")]
    assert kinds == [("code", "```"), ("sentence", "The rest is prose."), ("sentence", "It goes on.")]


def test_an_ellipsis_ends_a_sentence_only_before_a_new_one():
    # Python's own docs write "try"…"except"; after "Wait…" the sentence goes on in lower case.
    text = ('This allows common "try"…"except"…"finally" usage patterns to be encapsulated for '
            'convenient reuse. Another sentence here.\n\nWait… then he left the room. The end came.')
    assert texts(text) == [
        'This allows common "try"…"except"…"finally" usage patterns to be encapsulated for '
        'convenient reuse.', "Another sentence here.", "Wait… then he left the room.", "The end came."]
    for ellipsis in ("…", "..."):  # one rule for both spellings
        assert texts(f"He paused{ellipsis} The door opened.") == [f"He paused{ellipsis}",
                                                                  "The door opened."]
        assert texts(f"Wait{ellipsis} then he left.") == [f"Wait{ellipsis} then he left."]
        assert texts(f"The “try”{ellipsis}“except” form. Next.") == [
            f"The “try”{ellipsis}“except” form.", "Next."]
        assert texts(f'Handlers use the "try" {ellipsis} "except" statement. The end.') == [
            f'Handlers use the "try" {ellipsis} "except" statement.', "The end."]
        assert texts(f"The numbers 0, 1, {ellipsis}, n-1 in turn. Done.") == [
            f"The numbers 0, 1, {ellipsis}, n-1 in turn.", "Done."]


def test_a_chinese_ellipsis_still_ends_a_sentence():
    assert texts("他想了想……然後走了。") == ["他想了想……", "然後走了。"]
    assert texts("他說：「好……」然後走了。") == ["他說：「好……」", "然後走了。"]
    assert texts("这是中文… And back to English.") == ["这是中文…", "And back to English."]


def test_a_grammar_rule_is_one_code_line():
    # pydoc indents grammar by three spaces and it is light on symbols: a rule alone or among
    # others was prose, cut at `?" `.
    rule = '   statement ::= "print" ( "(" argument list ","? ")" | argument list ) ";" end'
    for text in (rule, f"{rule}\n   term ::= NAME (\",\" NAME)*", f"Intro text here.\n\n{rule}"):
        assert ("code", " ".join(rule.split())) in [(s.kind, s.text) for s in split_sentences(text)]
    mention = "In the grammar, the symbol ::= is read as is defined as, and a bar separates choices."
    assert [s.kind for s in split_sentences(mention)] == ["sentence"]


def test_pydoc_with_topic_keeps_its_ellipses_and_grammar_rules_whole():
    topic = topics["with"]
    sentences = split_sentences(topic)
    assert ('This allows common "try"…"except"…"finally" usage patterns to be encapsulated for '
            'convenient reuse.') in [s.text for s in sentences]
    for sentence in sentences:
        assert " ".join(topic[sentence.start:sentence.end].split()) == sentence.text
    for name, text in topics.items():  # every grammar rule of every topic is whole and code
        rules = [" ".join(line.split()) for line in text.splitlines()
                 if re.match(r"\s*[A-Za-z_][\w-]*\s*::=", line)]
        kinds = {(s.text, s.kind) for s in split_sentences(text) if "::=" in s.text}
        assert kinds == {(rule, "code") for rule in rules}, name


def test_an_ellipsis_in_a_page_keeps_its_offsets_in_the_markup():
    page = ("<html><body><p>This allows common <b>\"try\"</b>&hellip;\"except\" usage. "
            "Wait&hellip; then he left the room. The end came.</p></body></html>")
    sentences = split_sentences(page)
    assert [s.text for s in sentences] == ['This allows common "try"…"except" usage.',
                                           "Wait… then he left the room.", "The end came."]
    for sentence in sentences:
        readable = " ".join(html.unescape(re.sub(r"<[^>]*>", "", page[sentence.start:sentence.end])).split())
        assert readable == sentence.text


@pytest.mark.parametrize("line_end", ["\r\n", "\r"])
def test_windows_and_classic_mac_line_ends_segment_as_newlines_do(line_end):
    text = topics["typesseq"]
    other = text.replace("\n", line_end)
    expected = split_sentences(text)
    got = split_sentences(other)
    assert [s.kind for s in got] == [s.kind for s in expected]
    assert [s.text for s in got] == [s.text for s in expected]
    # The offsets point into the text as given, line ends and all.
    assert all(other[s.start:s.end].replace("\r\n", "\n").replace("\r", "\n")
               == text[e.start:e.end] for s, e in zip(got, expected))


def test_markdown_prose_with_inline_code_and_bold_is_prose_not_code():
    text = ("- **Abstractive.** With `--model M` trained by `--task summarize`, `--method auto` (or\n"
            "  `abstractive`) generates the summary with the cached decoder.\n"
            "- On CUDA, local and LSH layers run through `torch.nn.attention.flex_attention` (compiled)\n"
            "  and the ``reST`` literal counts as one word too.\n\n"
            "    total = sum(x for x in items)  # an indented code line stays code\n")
    sentences = split_sentences(text)
    assert [(s.kind, s.text) for s in sentences] == [
        ("list", "- **Abstractive.** With `--model M` trained by `--task summarize`, `--method auto` "
                 "(or `abstractive`) generates the summary with the cached decoder."),
        ("list", "- On CUDA, local and LSH layers run through `torch.nn.attention.flex_attention` "
                 "(compiled) and the `reST` literal counts as one word too."),
        ("code", "total = sum(x for x in items) # an indented code line stays code"),
    ]


def test_a_line_that_ends_an_open_sentence_joins_it_however_many_symbols_it_has():
    text = ("The pattern syntax builds on the existing syntax for sequence unpacking\n"
            "(e.g., a, b = value).\n"
            "The \"&\" operator yields the bitwise AND of its arguments, overriding\n"
            "\"__and__()\" or \"__rand__()\" special methods.\n")
    assert [(s.kind, s.text) for s in split_sentences(text)] == [
        ("sentence", "The pattern syntax builds on the existing syntax for sequence unpacking "
                     "(e.g., a, b = value)."),
        ("sentence", "The \"&\" operator yields the bitwise AND of its arguments, overriding "
                     "\"__and__()\" or \"__rand__()\" special methods.")]
    code = "Run this:\nx = compute(a, b);\n"  # a line after a colon is still code
    assert [s.kind for s in split_sentences(code)] == ["sentence", "code"]


def test_a_lettered_clause_ending_in_a_semicolon_is_a_list_item_not_code():
    text = ("2.2 Licensee shall not:\n"
            "(a) sublicense, sell, or distribute the Software;\n"
            "(b) modify the Software; or\n"
            "(c) remove any notice.\n")
    kinds = [(s.kind, s.text) for s in split_sentences(text)]
    assert ("list", "(a) sublicense, sell, or distribute the Software;") in kinds
    assert not [text for kind, text in kinds if kind == "code"]


def test_minified_data_on_one_line_is_cut_like_an_over_long_sentence():
    import json

    records = [{"id": n, "description": f"Item {n} is described here with a few plain words."}
               for n in range(60)]
    text = json.dumps({"items": records})  # one line of about 700 words
    sentences = split_sentences(text, max_sentence_words=80)
    assert len(sentences) > 8 and all(s.n_words <= 80 for s in sentences)
    assert "".join(text[s.start:s.end] for s in sentences).replace(" ", "") == text.replace(" ", "")


def test_invisible_characters_are_dropped_and_a_zero_width_space_after_a_stop_ends_a_sentence():
    text = "Soft\u00adhyphen\u00ads and zero\u200bwidth spaces vanish.\u200bThe next one starts here."
    sentences = split_sentences(text)
    assert [s.text for s in sentences] == ["Softhyphens and zerowidth spaces vanish.",
                                           "The next one starts here."]
    assert text[sentences[1].start:sentences[1].end] == "The next one starts here."


def test_a_full_width_period_ends_a_chinese_sentence_but_not_a_full_width_number():
    text = "說著，將一盤子花橫三豎四的插了一頭．賈母和眾人笑的了不得。價錢是３．１４兩銀子。"
    assert texts(text) == ["說著，將一盤子花橫三豎四的插了一頭．", "賈母和眾人笑的了不得。",
                           "價錢是３．１４兩銀子。"]


def test_a_line_that_starts_with_a_time_stamp_is_a_record_of_its_own():
    log = ("2023-04-01 12:00:05,620 INFO  [db.pool] Connection pool exhausted, waiting 555 ms\n"
           "2023-04-01 12:00:06,520 WARN  [http.server] Request GET /api/v1/users/962 took 406 ms.\n"
           "Apr  1 12:00:07 host sshd[42]: Accepted publickey for deploy\n"
           "[00:01:05] Bob: We agreed to ship on Friday.\n"
           "- a bullet after a record is an item of its own.\n")
    units = [(s.kind, s.text) for s in split_sentences(log)]
    assert [text[:10] for _, text in units] == ["2023-04-01", "2023-04-01", "Apr 1 12:0", "[00:01:05]",
                                                "- a bullet"]
    assert "code" not in [kind for kind, _ in units]


def test_format_furniture_is_no_part_of_any_sentence():
    thread = ("From: Alice Smith <alice@example.com>\n"
              "To: Bob Jones <bob@example.com>\n"
              "Subject: Re: Release plan for version 2.0\n"
              "Date: Sun, 9 Apr 2023 09:00:00 +0000\n\n"
              "Hi Bob,\n\n"
              "We ship the release on Friday after the last review.\n\n"
              "On Sat, 8 Apr 2023 at 18:00, Bob Jones <bob@example.com> wrote:\n"
              "> Older releases silently ignored the flag,\n"
              "> which surprised many users.\n\n"
              "-- \nAlice Smith\nRelease manager\n")
    sentences = split_sentences(thread)
    found = [s.text for s in sentences]
    assert "Older releases silently ignored the flag, which surprised many users." in found
    assert "We ship the release on Friday after the last review." in found
    assert [s.kind for s in sentences if s.text == "Release plan for version 2.0"] == ["heading"]
    assert not [text for text in found if re.search(r"From:|Date:|wrote:|^>|Release manager", text)]
    subtitles = ("1\n00:00:01,000 --> 00:00:04,000\nSome users are looking for a specific\n\n"
                 "2\n00:00:04,000 --> 00:00:07,000\n<v Narrator>version to integrate with existing code.\n\n"
                 "3\n00:00:07,000 --> 00:00:09,000\nOthers want every version.\n")
    assert texts(subtitles) == ["Some users are looking for a specific version to integrate with "
                                "existing code.", "Others want every version."]
    post = "---\nlayout: post\ntitle: Notes\n---\nThe post starts here.\n"
    sentence, = split_sentences(post)
    assert (sentence.text, post[sentence.start:sentence.end]) == ("The post starts here.",) * 2


def test_speaker_turns_are_records_where_most_lines_of_a_block_are_turns():
    transcript = ("Alice: We discuss the installers for Windows in this section, and their gaps:\n"
                  "Bob: Mm-hmm.\n"
                  "[00:00:07] Carol: The traditional installer is downloadable from python.org.\n"
                  "DR. SMITH: Most users want the latest stable release.\n")
    assert [(s.kind, s.text[:12]) for s in split_sentences(transcript)] == [
        ("list", "Alice: We di"), ("list", "Bob: Mm-hmm."), ("list", "[00:00:07] C"),
        ("list", "DR. SMITH: M")]
    prose = "The options are many.\nNote: the first one is the default\nand the others follow it.\n"
    assert texts(prose) == ["The options are many.",
                            "Note: the first one is the default and the others follow it."]


def test_a_wrapped_line_of_prose_ending_in_a_semicolon_is_not_a_code_statement():
    text = ("Input is UTF-8, or UTF-16/32 with a byte-order mark\n"
            "(as Windows Notepad saves \"Unicode\"), or UTF-16 without one when every other byte is NUL;\n"
            "offsets count characters.\n\n"
            "x = compute(a, b);\n")
    assert [s.kind for s in split_sentences(text)] == ["sentence", "code"]


def test_a_dotted_initialism_before_a_name_does_not_end_the_sentence():
    text = ("The U.S. Department of Energy said so. The U.K. Parliament and the E.U. Commission "
            "met, as did the U.N. Security Council and U.S.A. Track and Field. J.R.R. Tolkien "
            "and J. R. R. Tolkien are one man.")
    assert texts(text) == [
        "The U.S. Department of Energy said so.",
        "The U.K. Parliament and the E.U. Commission met, as did the U.N. Security Council and "
        "U.S.A. Track and Field.",
        "J.R.R. Tolkien and J. R. R. Tolkien are one man."]


def test_a_dotted_initialism_before_a_sentence_opener_ends_the_sentence():
    assert texts("He moved to the U.S. The weather was better. They left the U.K. In May they "
                 "came back.") == [
        "He moved to the U.S.", "The weather was better.", "They left the U.K.",
        "In May they came back."]


RST = """Style Guide
===========

:Author: Guido van Rossum
:PEP: 8
:depth: 2

.. contents:: Table of Contents
   :depth: 2

.. _naming:

.. |logo| image:: logo.png

.. note::

   Indented prose under a note is still a sentence to summarize.

.. warning:: Tabs and spaces must not be mixed.

See :pep:`8`, :func:`len` and :ref:`the naming rules <naming>` for the conventions.

.. code-block:: python

   x = 1

.. This comment is for the editors
   and so is this line.

+----------+---------+
| Name     | Rule    |
+==========+=========+
| module   | lower   |
+----------+---------+

=====  =====
Name   Rule
=====  =====
"""


def test_restructuredtext_markup_is_no_sentence_and_roles_read_as_their_text():
    sentences = split_sentences(RST)
    assert [(s.kind, s.text) for s in sentences] == [
        ("heading", "Style Guide"),
        ("sentence", "Indented prose under a note is still a sentence to summarize."),
        ("sentence", "Tabs and spaces must not be mixed."),
        ("sentence", "See `8`, `len` and `the naming rules` for the conventions."),
        ("code", "x = 1"),
        ("code", "| Name | Rule |"),
        ("code", "| module | lower |"),
        ("data", "Name Rule")]  # a simple table's row
    for sentence in sentences:  # offsets still point at the words in the original
        assert sentence.text.split()[-1].strip("`.") in RST[sentence.start:sentence.end]
    role_line = sentences[3]
    assert RST[role_line.start:role_line.end].startswith("See :pep:`8`")


def test_a_table_rule_ends_the_row_above_it():
    table = ("+------+-------+\n| one  | first |\n+------+-------+\n| two  | second |\n"
             "+------+-------+\n")
    assert "+" not in " ".join(texts(table)) and len(split_sentences(table)) == 2


LATEX = r"""\documentclass{article}
\usepackage{amsmath}
% Notes to self: cut this before submission.
\begin{document}
\maketitle
\section{Introduction}

We study \emph{reversible} layers in depth \cite{kitaev2020}. As Section~\ref{sec:lsh}
shows, memory falls by 50\%\label{eq:mem}.

\begin{itemize}
\item Hashing buckets the keys.
\item[b)] Chunking bounds the \textbf{feed-forward} memory. % check
\end{itemize}
\end{document}
"""


def test_latex_markup_is_no_sentence_and_inline_commands_read_as_text():
    sentences = split_sentences(LATEX)
    assert [(s.kind, s.text) for s in sentences] == [
        ("heading", "# Introduction"),
        ("sentence", "We study reversible layers in depth."),
        ("sentence", "As Section sec:lsh shows, memory falls by 50%."),
        ("list", "- Hashing buckets the keys."),
        ("list", "- Chunking bounds the feed-forward memory.")]
    study, shows = sentences[1], sentences[2]
    assert LATEX[study.start:study.end] == r"We study \emph{reversible} layers in depth \cite{kitaev2020}."
    assert LATEX[shows.start:shows.end].startswith("As Section~") and LATEX[shows.end - 1] == "."


def test_a_backslash_in_text_that_is_not_latex_is_left_alone():
    text = ("Use \\emph{x} as the macro, see \\cite{key} there.\n\n"
            "The path is C:\\Users\\ann and \\section{y} stays.\n")
    assert texts(text) == ["Use \\emph{x} as the macro, see \\cite{key} there.",
                           "The path is C:\\Users\\ann and \\section{y} stays."]


def test_numbering_abbreviations_end_a_sentence_unless_a_number_follows():
    assert texts("She said no. Then she walked out. We ate dried figs. They were sweet.") == [
        "She said no.", "Then she walked out.", "We ate dried figs.", "They were sweet."]
    assert texts("See Fig. 3 and Eq. (2) on p. 5 of Vol. 2. Then stop. It is No. 1 in sales.") == [
        "See Fig. 3 and Eq. (2) on p. 5 of Vol. 2.", "Then stop.", "It is No. 1 in sales."]
    assert texts("It was bigger vs. The rest. Mr. Smith came.") == [  # the others are unchanged
        "It was bigger vs. The rest.", "Mr. Smith came."]


def test_a_quoted_or_bracketed_sentence_after_an_initialism_starts_a_new_one():
    assert texts("Growth slowed in the U.S. “We are worried,” another economist said.") == [
        "Growth slowed in the U.S.", "“We are worried,” another economist said."]
    assert texts("Exports rose in the spring. Trade fell with the U.K. (The figures were revised "
                 "later.) It was a bad year.") == [
        "Exports rose in the spring.", "Trade fell with the U.K.", "(The figures were revised later.)",
        "It was a bad year."]
    assert texts("He lives in the U.S. (Ohio) now. The U.S. “Patriot Act” passed.") == [
        "He lives in the U.S. (Ohio) now.", "The U.S. “Patriot Act” passed."]


def test_a_literal_block_intro_is_a_sentence_and_code_bodies_are_code():
    text = ("This release fixes crashes in the parser.\nTo install it, run the following command::\n\n"
            "    pip install --upgrade foo\n\nThe old format still works.\n\n.. code-block:: bash\n\n"
            "   meson setup builddir\n   meson compile -C builddir\n")
    assert [(s.kind, s.text) for s in split_sentences(text)] == [
        ("sentence", "This release fixes crashes in the parser."),
        ("sentence", "To install it, run the following command:"),
        ("code", "pip install --upgrade foo"), ("sentence", "The old format still works."),
        ("code", "meson setup builddir"), ("code", "meson compile -C builddir")]
    latex = ("\\documentclass{article}\n\\begin{document}\nThe tool runs from a shell.\n\\begin{verbatim}\n"
             "python train.py --config base.yaml\nRead the file. Then run it.\n\\end{verbatim}\n"
             "\\begin{equation}\nE = mc^2\n\\end{equation}\nTraining takes two hours.\n\\end{document}\n")
    assert [(s.kind, s.text) for s in split_sentences(latex)] == [
        ("sentence", "The tool runs from a shell."), ("code", "python train.py --config base.yaml"),
        ("code", "Read the file. Then run it."), ("code", "E = mc^2"),
        ("sentence", "Training takes two hours.")]


CONTRACT = """SERVICE AGREEMENT

This Service Agreement is entered into by Acme Corp and Bob Ltd on 1 March 2024.

1. SERVICES.
The Provider shall deliver the software described in Schedule A within ninety days. The Provider \
shall fix reported defects within ten working days.

2. TERM
This agreement runs for two years from the effective date unless ended earlier under section 5.

TERMINATION.
Either party may end this agreement with thirty days' written notice.
"""


def test_a_title_in_capitals_over_its_paragraph_is_a_heading_and_the_paragraph_prose():
    assert [(s.kind, s.text) for s in split_sentences(CONTRACT)] == [
        ("heading", "SERVICE AGREEMENT"),
        ("sentence", "This Service Agreement is entered into by Acme Corp and Bob Ltd on 1 March 2024."),
        ("heading", "1. SERVICES."),  # not a list item that the paragraph goes on
        ("sentence", "The Provider shall deliver the software described in Schedule A within ninety days."),
        ("sentence", "The Provider shall fix reported defects within ten working days."),
        ("heading", "2. TERM"),  # no stop, yet not merged with the line under it
        ("sentence", "This agreement runs for two years from the effective date unless ended earlier "
                     "under section 5."),
        ("heading", "TERMINATION."),  # unnumbered: not a one-word sentence
        ("sentence", "Either party may end this agreement with thirty days' written notice.")]
    paragraph = "\nThe parties agree to it. It binds them."
    for title in ("2.1 TERM AND TERMINATION", "A. DEFINITIONS:", "(b) SCOPE.", "4) NOTICES", "II. TERM",
                  "NON-DISCLOSURE & CONFIDENTIALITY", "    3. FEES."):
        assert [(s.kind, s.text) for s in split_sentences(title + paragraph)] == [
            ("heading", title.strip()), ("sentence", "The parties agree to it."),
            ("sentence", "It binds them.")], title
    # Later in a block, a numbered title after a line that ends a sentence: no blank lines at all.
    unbroken = "1. SERVICES.\nThe Provider shall deliver.\n2. TERM\nIt runs for two years.\n3. FEES"
    assert [(s.kind, s.text) for s in split_sentences(unbroken)] == [
        ("heading", "1. SERVICES."), ("sentence", "The Provider shall deliver."),
        ("heading", "2. TERM"), ("sentence", "It runs for two years."), ("list", "3. FEES")]


@pytest.mark.parametrize("text, expected", [
    # A clause in capitals has a sentence's punctuation, and more words than a title.
    ('THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND.\nIN NO EVENT SHALL THE '
     "AUTHORS BE LIABLE FOR ANY CLAIM.\nSee the License for details.",
     [("sentence", 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND.'),
      ("sentence", "IN NO EVENT SHALL THE AUTHORS BE LIABLE FOR ANY CLAIM."),
      ("sentence", "See the License for details.")]),
    ("WARNING: DO NOT OPERATE WITHOUT THE GUARD.\nThe guard keeps hands out.",
     [("sentence", "WARNING: DO NOT OPERATE WITHOUT THE GUARD."),
      ("sentence", "The guard keeps hands out.")]),
    ("1. KEEP THE DOOR SHUT AT ALL TIMES WHEN THE MACHINE RUNS.\nThe guard keeps hands out.",
     [("list", "1. KEEP THE DOOR SHUT AT ALL TIMES WHEN THE MACHINE RUNS."),
      ("list", "The guard keeps hands out.")]),
    ("KEEP OUT.", [("heading", "KEEP OUT.")]),  # a shouted line alone was a heading already
    # Mixed case cannot tell a title from a list item: an RFC's title has a blank line under it.
    ("1.  Introduction\n\n   The protocol is simple.",
     [("heading", "1. Introduction"), ("sentence", "The protocol is simple.")]),
    ("1.  Introduction\nThe protocol is simple.", [("list", "1. Introduction The protocol is simple.")]),
    # Short items in capitals over one another are a list: only a paragraph under one makes a title.
    ("1. APPLES\n2. PEARS", [("list", "1. APPLES"), ("list", "2. PEARS")]),
    ("We sell:\n1. APPLES\n2. PEARS",
     [("sentence", "We sell:"), ("list", "1. APPLES"), ("list", "2. PEARS")]),
    ("1. SERVICES.\nTHE PROVIDER SHALL DELIVER.",
     [("list", "1. SERVICES."), ("list", "THE PROVIDER SHALL DELIVER.")]),
    # A line in lower case under it goes on its sentence; unnumbered, later in a block, it is no title.
    ("NOTICE TO USERS OF THIS\nsoftware: read the manual.",
     [("sentence", "NOTICE TO USERS OF THIS software: read the manual.")]),
    ("He said it loud.\nSTOP THAT NOW\nThen he left.",
     [("sentence", "He said it loud."), ("sentence", "STOP THAT NOW Then he left.")]),
    ("MAX_SIZE = 10\nThe value above is the limit.",
     [("code", "MAX_SIZE = 10"), ("sentence", "The value above is the limit.")]),
])
def test_lines_in_capitals_that_are_no_titles_over_a_paragraph_keep_their_reading(text, expected):
    assert [(s.kind, s.text) for s in split_sentences(text)] == expected


@pytest.mark.parametrize("text, expected", [
    # A line in capitals that ends with a stop is a title only when short (MAX_STOPPED_TITLE_WORDS).
    ("THE SOFTWARE IS PROVIDED WITHOUT ANY WARRANTY.\nThe authors are not liable for any damages.",
     [("sentence", "THE SOFTWARE IS PROVIDED WITHOUT ANY WARRANTY."),
      ("sentence", "The authors are not liable for any damages.")]),
    ("Intro.\n\nNO REFUNDS WILL BE GIVEN AFTER THIRTY DAYS.\n\nMore text.",
     [("sentence", "Intro."), ("sentence", "NO REFUNDS WILL BE GIVEN AFTER THIRTY DAYS."),
      ("sentence", "More text.")]),
    ("DO NOT OPERATE WITHOUT THE GUARD.", [("sentence", "DO NOT OPERATE WITHOUT THE GUARD.")]),
    # Must not change: short stopped titles, and longer ones without a stop.
    ("OLD AND YOUNG.", [("heading", "OLD AND YOUNG.")]),
    ("2.1 TERM AND TERMINATION.\nThe parties agree.",
     [("heading", "2.1 TERM AND TERMINATION."), ("sentence", "The parties agree.")]),
    ("LIMITATION OF THE LIABILITY OF EACH PARTY\nThe parties agree.",
     [("heading", "LIMITATION OF THE LIABILITY OF EACH PARTY"), ("sentence", "The parties agree.")]),
    ("BOOK VI.\nTHE WIDOW AND THE WIFE.", [("heading", "BOOK VI. THE WIDOW AND THE WIFE.")]),
])
def test_a_stopped_line_in_capitals_is_a_title_only_when_short(text, expected):
    assert [(s.kind, s.text) for s in split_sentences(text)] == expected


@pytest.mark.parametrize("text, expected", [
    ("3. TERMINATION. Either party may end this agreement with thirty days' notice.",
     [("heading", "3. TERMINATION."),
      ("sentence", "Either party may end this agreement with thirty days' notice.")]),
    ("4. LIMITATION OF LIABILITY\nEXCEPT FOR GROSS NEGLIGENCE, NEITHER PARTY SHALL BE LIABLE FOR ANY LOSS.",
     [("heading", "4. LIMITATION OF LIABILITY"),
      ("sentence", "EXCEPT FOR GROSS NEGLIGENCE, NEITHER PARTY SHALL BE LIABLE FOR ANY LOSS.")]),
    # Must not change: unnumbered ("NOTE." may be a shouted sentence), or in the middle of a unit.
    ("NOTE. The manual is online.", [("sentence", "NOTE."), ("sentence", "The manual is online.")]),
    ("1. SERVICES.\nTHE PROVIDER SHALL DELIVER.",
     [("list", "1. SERVICES."), ("list", "THE PROVIDER SHALL DELIVER.")]),
    ("See section\n3. TERMINATION. Either party may end it.",
     [("sentence", "See section 3."), ("sentence", "TERMINATION."),
      ("sentence", "Either party may end it.")]),
])
def test_a_numbered_title_in_capitals_on_its_paragraph_line_is_a_heading(text, expected):
    assert [(s.kind, s.text) for s in split_sentences(text)] == expected


@pytest.mark.parametrize("title, paragraph", [
    ("Background", "iOS apps must be signed before they are installed."),
    ("Logo", "fastgrid is a library for interpolating scattered measurements."),
    ("Open Issues", "none so far."),
    ("Rationale and Goals", "f-strings made interpolation easy."),
])
def test_a_title_over_a_paragraph_in_lower_case_is_not_glued_to_it(title, paragraph):
    sentences = split_sentences(f"{title}\n\n{paragraph}\n")
    assert [(s.kind, s.text) for s in sentences] == [("heading", title), ("sentence", paragraph)]


def test_a_sentence_cut_by_a_blank_line_is_still_joined_when_it_is_no_title():
    text = "The protocol uses\n\nport 80 for all of its traffic.\n"
    assert [s.text for s in split_sentences(text)] == ["The protocol uses port 80 for all of its traffic."]
