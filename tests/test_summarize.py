"""Extractive summarizer: budgets, determinism, order, centrality against a plain reference,
and quality against Lead on a sample of the PEP dev set."""

import dataclasses
import json
import random
from pathlib import Path
from pydoc_data.topics import topics

import numpy as np
import pytest

from reformer_cli.errors import InputError
from reformer_cli.summarize.citations import drop_citation_marks
from reformer_cli.summarize.extractive import summarize_extractive
from reformer_cli.summarize.scoring import ScoringConfig, directed_centrality
from reformer_cli.summarize.selection import CUT_MARK, MIN_CUT_WORDS, Budget, cut_sentence
from reformer_cli.summarize.terms import terms, tfidf_matrix
from reformer_cli.text.sentences import split_sentences
from reformer_cli.text.words import count_words

DEV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "summarization"
DOCUMENT = "\n\n".join(topics[key] for key in sorted(topics)[:40])

CHINESE = "\n".join(
    f"第{i}段：劉備與關羽、張飛在桃園結義，誓同生死。曹操聞之大怒；孫權按兵不動！"
    f"諸葛亮曰：「此乃天意也。」眾人皆服。" for i in range(40))


def test_word_budget_is_never_exceeded():
    for budget in (1, 2, 7, 25, 60, 200):
        summary = summarize_extractive(DOCUMENT, Budget(max_words=budget))
        assert sum(count_words(s.text) for s in summary.sentences) <= budget
    for budget in (1, 5, 17, 84):
        summary = summarize_extractive(CHINESE, Budget(max_words=budget))
        assert summary.language == "zh"
        assert sum(count_words(s.text) for s in summary.sentences) <= budget


QUOTE_MARKS = {"「": "」", "『": "』", "“": "”"}


def without_quote_marks(text):
    return "".join(char for char in text if char not in QUOTE_MARKS and char not in QUOTE_MARKS.values())


def quotes_balanced(text):
    waiting = []
    for char in text:
        if char in QUOTE_MARKS:
            waiting.append(QUOTE_MARKS[char])
        elif char in QUOTE_MARKS.values() and (not waiting or waiting.pop() != char):
            return False
    return not waiting


def assert_whole_sentences_or_one_clause(text, summary, budget):
    """The budget holds; every line is a whole sentence of `text` (its quotation marks
    balanced, its citation marks dropped), except at most one cut that keeps MIN_CUT_WORDS
    words or more of its sentence's opening; lines in document order."""
    sentences = {sentence.index: sentence.text for sentence in split_sentences(text)}
    assert sum(count_words(s.text) for s in summary.sentences) <= budget
    assert [s.index for s in summary.sentences] == sorted(s.index for s in summary.sentences)
    cuts = [s for s in summary.sentences if s.truncated]
    assert len(cuts) <= 1
    for line in summary.sentences:
        assert quotes_balanced(line.text), line.text
        whole = without_quote_marks(drop_citation_marks(sentences[line.index]))
        words = without_quote_marks(line.text)
        if not line.truncated:
            assert words == whole
            continue
        assert words.endswith(CUT_MARK) and whole.startswith(words[:-1])
        assert count_words(line.text) >= MIN_CUT_WORDS or (
            budget < MIN_CUT_WORDS and len(summary.sentences) == 1), line.text


def test_no_fragments_over_many_budgets_and_the_budget_is_filled_nearly():
    filled, cuts = [], 0
    english = "\n\n".join(topics[key] for key in sorted(topics)[40:46])
    for budget in range(1, 300, 4):
        summary = summarize_extractive(english, Budget(max_words=budget))
        assert_whole_sentences_or_one_clause(english, summary, budget)
        cuts += any(s.truncated for s in summary.sentences)
        filled.append(sum(count_words(s.text) for s in summary.sentences) / budget)
    for budget in range(1, 200, 3):
        summary = summarize_extractive(CHINESE, Budget(max_words=budget))
        assert summary.language == "zh"
        assert_whole_sentences_or_one_clause(CHINESE, summary, budget)
        cuts += any(s.truncated for s in summary.sentences)
        filled.append(sum(count_words(s.text) for s in summary.sentences) / budget)
    assert np.mean(filled) > 0.9  # whole sentences and one cut still use the budget
    assert cuts >= 10  # the cutting rule was exercised, not only whole sentences


@pytest.mark.parametrize("text, budget, fragment", [
    (DOCUMENT, 41, "The…"), (DOCUMENT, 67, "When the…"), (CHINESE, 20, "孫…"), (CHINESE, 27, "曹操…")])
def test_budgets_that_used_to_end_in_a_fragment_give_whole_sentences(text, budget, fragment):
    summary = summarize_extractive(text, Budget(max_words=budget))
    assert fragment not in summary.text.splitlines()
    assert_whole_sentences_or_one_clause(text, summary, budget)


def test_a_budget_below_every_sentence_gets_the_first_words_of_the_best_one():
    summary = summarize_extractive("Alpha beta gamma delta epsilon zeta eta theta.", Budget(max_words=3))
    assert [s.text for s in summary.sentences] == ["Alpha beta gamma…"]


def test_cut_sentence_ends_on_a_content_word_or_a_chinese_clause():
    rules = "The rules of the game are simple for everyone"
    assert cut_sentence(rules, 7) == "The rules of the game are simple…"
    assert cut_sentence("The rules of the game are simple", 6) == "The rules of the game…"  # not "are"
    assert cut_sentence("The rules of the game are simple", 4) is None  # "The rules" is too short
    assert cut_sentence("Alpha beta gamma delta, epsilon zeta", 5) == "Alpha beta gamma delta, epsilon…"
    assert cut_sentence("劉備與關羽、張飛在桃園結義，誓同生死。", 15) == "劉備與關羽、張飛在桃園結義…"
    assert cut_sentence("劉備與關羽張飛在桃園結義", 7) is None  # no clause mark: mid-phrase
    assert cut_sentence("劉備與關羽張飛在桃園結義，誓同生死", 15) == "劉備與關羽張飛在桃園結義…"
    assert cut_sentence("長史張昭進曰：「主公不可輕出宜守城", 12) is None  # "…張昭進曰…": says nothing
    assert cut_sentence("長史張昭進曰：「主公不可輕出，宜守城", 16) == "長史張昭進曰：「主公不可輕出…"
    for budget in range(1, 30):
        cut = cut_sentence("Hello world 中文字 more, and the rest of it goes on", budget)
        assert cut is None or MIN_CUT_WORDS <= count_words(cut) <= budget


def test_a_cut_never_ends_inside_brackets():
    aside = "A server and a client agree on a key (see RFC 2865 for the details of it) before they talk"
    for budget in range(MIN_CUT_WORDS, count_words(aside)):
        cut = cut_sentence(aside, budget)
        assert cut is None or cut.count("(") == cut.count(")"), cut
    assert cut_sentence(aside, 12) == "A server and a client agree on a key…"  # before the aside
    assert cut_sentence(aside, 17) == \
        "A server and a client agree on a key (see RFC 2865 for the details of it)…"
    # What is left outside an aside is too little: no cut at all.
    assert cut_sentence("When (to take the present book only) Mr. Collins changed his mind", 7) is None


def test_sentence_and_ratio_budgets():
    assert len(summarize_extractive(DOCUMENT, Budget(sentences=3)).sentences) == 3
    assert len(summarize_extractive(DOCUMENT).sentences) == 5  # the default
    from reformer_cli.summarize.scoring import candidate_indexes

    sentences = split_sentences(DOCUMENT)
    candidates = candidate_indexes(sentences)
    distinct = {" ".join(sentences[i].text.casefold().split()).rstrip(".!?;: ") for i in candidates}
    whole = summarize_extractive(DOCUMENT, Budget(ratio=1.0))
    tenth = summarize_extractive(DOCUMENT, Budget(ratio=0.1))
    assert len(tenth.sentences) == -(-len(candidates) // 10)
    assert len(whole.sentences) == len(distinct) < len(candidates)  # the topics repeat some lines


def test_document_order_and_determinism():
    first = summarize_extractive(DOCUMENT, Budget(sentences=8))
    second = summarize_extractive(DOCUMENT, Budget(sentences=8))
    assert first == second
    starts = [s.start for s in first.sentences]
    assert starts == sorted(starts)
    assert sorted(s.rank for s in first.sentences) == list(range(8))
    for sentence in first.sentences:  # offsets point at the sentence in the input
        assert " ".join(DOCUMENT[sentence.start:sentence.end].split()) == sentence.text


@pytest.mark.parametrize("budget", [Budget(sentences=0), Budget(max_words=-3), Budget(ratio=0),
                                    Budget(sentences=2, max_words=10)])
def test_bad_budgets(budget):
    with pytest.raises(InputError):
        summarize_extractive(DOCUMENT, budget)


def test_empty_text_is_an_input_error():
    with pytest.raises(InputError):
        summarize_extractive("  \n\t ")


def test_redundant_copies_are_not_chosen_twice():
    topic = "The reactor cooling pump failed during the night shift at the plant."
    filler = [f"Unrelated sentence number {i} talks about {w} and {v}." for i, (w, v) in
              enumerate(zip(["apples", "trains", "music", "rivers", "clouds", "chess"] * 3,
                            ["pears", "planes", "paint", "lakes", "rain", "cards"] * 3))]
    text = " ".join([topic] + filler[:6] + [topic] + filler[6:12] + [topic] + filler[12:])
    # Centrality alone (no keyword weights) ranks the thrice-repeated sentence first.
    summary = summarize_extractive(text, Budget(sentences=3),
                                   config=ScoringConfig(keyword_exponent=0.0))
    assert [s.text for s in summary.sentences].count(topic) == 1


def test_long_line_without_boundaries():
    random.seed(0)
    words = [random.choice(["alpha", "beta", "gamma", "delta", "omega", "sigma"]) for _ in range(9000)]
    line = " ".join(words)[:50000]
    summary = summarize_extractive(line, Budget(max_words=60))
    assert summary.sentences and sum(count_words(s.text) for s in summary.sentences) <= 60


def _plain_centrality(vectors, threshold):
    """Slow reference: loop over pairs, as the definition reads."""
    n = len(vectors)
    similarity = [[float(np.dot(vectors[i], vectors[j])) if i != j else 0.0 for j in range(n)]
                  for i in range(n)]
    cutoff = threshold * sum(map(sum, similarity)) / (n * (n - 1))
    forward = [sum(max(0.0, similarity[i][j] - cutoff) for j in range(i + 1, n)) for i in range(n)]
    backward = [sum(max(0.0, similarity[i][j] - cutoff) for j in range(i)) for i in range(n)]
    return np.array(forward), np.array(backward)


def test_directed_centrality_matches_plain_loops():
    sentences = [s for s in DOCUMENT.split(". ")[:60]]
    vectors = tfidf_matrix([terms(s) for s in sentences])
    forward, backward = directed_centrality(vectors, 1.0)
    expected_forward, expected_backward = _plain_centrality(vectors, 1.0)
    np.testing.assert_allclose(forward, expected_forward, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(backward, expected_backward, rtol=1e-4, atol=1e-5)


def test_tfidf_rows_are_unit_or_zero_and_cosines_exact():
    lists = [terms(s) for s in ["hashing buckets sort", "sort buckets chunk", "unique words only"]]
    matrix = tfidf_matrix(lists)
    assert matrix.shape[0] == 3
    assert float(np.abs(matrix[2]).sum()) == 0.0  # shares no term with the others
    assert 0 < float(matrix[0] @ matrix[1]) < 1


@pytest.mark.skipif(not DEV.is_dir(), reason=f"dev data not found at {DEV} (../shared/data absent)")
def test_beats_lead_on_a_sample_of_pep_abstracts():
    from rouge_score import rouge_scorer

    rows = [json.loads(line) for line in (DEV / "peps_abstract.dev.jsonl").open(encoding="utf-8")]
    sample = rows[::4]  # 29 documents spread over the set
    scorer = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=True)
    ours, lead = [], []
    for row in sample:
        length = len(row["reference"].split())
        summary = summarize_extractive(row["document"], Budget(max_words=length), language="en")
        ours.append(scorer.score(row["reference"], " ".join(summary.text.split()[:length])))
        lead_text = " ".join(row["document"].split()[:length])
        lead.append(scorer.score(row["reference"], lead_text))
    ours_r1 = np.mean([s["rouge1"].fmeasure for s in ours])
    lead_r1 = np.mean([s["rouge1"].fmeasure for s in lead])
    assert ours_r1 > lead_r1, (ours_r1, lead_r1)


def test_linear_fallback_equals_pairwise_without_threshold(monkeypatch):
    import reformer_cli.summarize.scoring as scoring

    vectors = tfidf_matrix([terms(s) for s in DOCUMENT.split(". ")[:200]])
    pairwise = directed_centrality(vectors, 0.0)
    monkeypatch.setattr(scoring, "MAX_PAIRWISE_SENTENCES", 10)
    linear = scoring.directed_centrality(vectors, 0.0)
    for expected, got in zip(pairwise, linear):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_feature_flags_quotes_sections_and_cues():
    from reformer_cli.summarize.scoring import (
        OVERVIEW_HEADING,
        ROADMAP,
        _quote_flags,
        _section_flags,
        sentence_features,
    )
    from reformer_cli.text.sentences import split_sentences

    dialogue = split_sentences("瑜曰：「吾自去和他說話。好便好。」肅曰：「某願同往。」於是引兵而去。")
    assert _quote_flags(dialogue) == [False, True, False, False]
    text = ("Overview\n\nThis document defines a protocol for hashing. It is short.\n\n"
            "Details\n\nThe rest of this document is organized as follows. Hashing is fast.")
    sentences = split_sentences(text)
    assert [s.kind for s in sentences][0] == "heading"
    flags = dict(zip((s.text for s in sentences), _section_flags(sentences, OVERVIEW_HEADING)))
    assert flags["It is short."] and not flags["Hashing is fast."]
    features = sentence_features(sentences, ScoringConfig())
    texts = [sentences[i].text for i in features.candidates]
    assert features.cue[texts.index("This document defines a protocol for hashing.")] == 1
    assert ROADMAP.search("The rest of this document is organized as follows.")
    roadmap = texts.index("The rest of this document is organized as follows.")
    assert features.form[roadmap] < features.form[texts.index("Hashing is fast.")]


def test_a_sentence_under_a_heading_about_the_documents_surroundings_scores_lower():
    from reformer_cli.summarize.scoring import combine_scores, sentence_features

    body = "The cache keeps recent pages in memory and evicts the oldest page first."
    text = (f"Motivation\n\nLookups are slow. {body}\n\nProtocol\n\nClients ask twice. {body}\n\n"
            f"Acknowledgements\n\nThanks to many. {body}\n\nRejected Ideas\n\nA tree. {body}")
    sentences = split_sentences(text)
    features = sentence_features(sentences, ScoringConfig())
    meta = {sentences[i].text: flag for i, flag in zip(features.candidates, features.meta)}
    assert meta["Thanks to many."] == meta["A tree."] == 1
    assert meta["Lookups are slow."] == meta["Clients ask twice."] == 0
    penalised = combine_scores(features, ScoringConfig())
    plain = combine_scores(features, ScoringConfig(meta_factor=1.0))
    ratio = penalised / plain
    np.testing.assert_allclose(ratio, np.where(features.meta == 1, ScoringConfig().meta_factor, 1.0))


def test_a_line_that_goes_on_from_something_before_it_scores_as_a_fragment():
    from reformer_cli.summarize.scoring import sentence_features

    config = ScoringConfig(min_words=1)  # lines of different lengths: only the fragment factor differs
    lines = ["or, THE WHALE of the north.", "—_Tales of a Whale Voyager to the Arctic Ocean_.",
             "Stubb and Flask kill a right whale.", "iOS keeps the whale in memory.",
             "x86_64 machines keep the whale in memory."]
    sentences = split_sentences("\n\n".join(lines))
    form = dict(zip((s.text for s in sentences), sentence_features(sentences, config).form))
    whole = form["Stubb and Flask kill a right whale."]
    assert form["or, THE WHALE of the north."] == pytest.approx(whole * config.fragment_factor)
    assert form["—_Tales of a Whale Voyager to the Arctic Ocean_."] == pytest.approx(
        whole * config.fragment_factor)
    assert form["iOS keeps the whale in memory."] == whole  # identifiers are not lower-case words
    assert form["x86_64 machines keep the whale in memory."] == whole
    long_one = " ".join(["the whale swam on, and"] * 30) + " it dived."  # cut into pseudo pieces
    pieces = split_sentences(long_one)
    assert len(pieces) > 1 and all(piece.pseudo for piece in pieces)
    pseudo_form = sentence_features(pieces, config).form
    plain = sentence_features(pieces, dataclasses.replace(config, fragment_factor=1.0)).form
    assert np.allclose(pseudo_form, plain * config.fragment_factor)


BOOKS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lm"


@pytest.mark.skipif(not BOOKS.is_dir(), reason=f"books not found at {BOOKS} (../shared/data absent)")
@pytest.mark.parametrize("book", ["moby_dick.en.txt", "middlemarch.en.txt", "pride_and_prejudice.en.txt"])
def test_a_novels_summary_has_no_contents_lines_and_no_line_from_the_middle_of_one(book):
    """Seen in these summaries: "CHAPTER 1." ... "CHAPTER 29." (the contents), "BOOK I. MISS
    BROOKE.", "said Mr. Brooke.", "those old astronomers were wont to ...", "When (to take the
    present book…"."""
    from reformer_cli.summarize.scoring import FRAGMENT_START
    from reformer_cli.text.units import DIVISION_HEADING

    text = (BOOKS / book).read_text(encoding="utf-8")
    for budget in (Budget(max_words=150), Budget(sentences=12)):
        summary = summarize_extractive(text, budget, "en")
        for line in summary.text.splitlines():
            assert not DIVISION_HEADING.match(line) and not FRAGMENT_START.match(line), line
            assert line.count("(") == line.count(")"), line


@pytest.mark.slow
@pytest.mark.skipif(not DEV.is_dir(), reason=f"dev data not found at {DEV} (../shared/data absent)")
def test_no_fragment_in_the_dev_set_summaries_at_the_reference_length():
    from reformer_cli.evaluation.rouge import reference_length

    for path in sorted(DEV.glob("*.dev.jsonl")):
        for line in path.open(encoding="utf-8"):
            row = json.loads(line)
            language = row.get("lang", "en")
            budget = reference_length(row["reference"], language)
            summary = summarize_extractive(row["document"], Budget(max_words=budget), language)
            assert_whole_sentences_or_one_clause(row["document"], summary, budget)


@pytest.mark.parametrize("method", ["extractive", "auto"])
def test_a_sentence_the_document_repeats_is_in_the_summary_once(method):
    from reformer_cli.summarize.methods import summarizer
    from reformer_cli.summarize.summary import SummarizeOptions

    repeated = "The server processes the request and returns a response to the client."
    english = "Introduction to the service.\n\n" + "\n\n".join(
        f"Entry {i}.\n{repeated if i % 2 else repeated.upper()}" for i in range(30))
    chinese = "".join(f"第{i}條。伺服器處理請求並回應客戶端，" + "然後記錄結果。"
                      for i in range(30))
    summarize = summarizer(method, None)
    for text, key in ((english, str.casefold), (chinese, str)):
        for budget in (Budget(sentences=5), Budget(max_words=80)):
            lines = summarize(text, SummarizeOptions(budget=budget)).text.splitlines()
            keys = [key(line).rstrip(".。…") for line in lines]
            assert len(lines) >= 2 and len(set(keys)) == len(keys), lines


CONTRACT = (  # as a tester gave it: a heading's paragraph on the lines under it, no blank line
    "SERVICE AGREEMENT\n\n"
    "This Service Agreement is entered into by Acme Corp and Bob Ltd on 1 March 2024.\n\n"
    "1. SERVICES.\n"
    "The Provider shall deliver the software described in Schedule A within ninety days. "
    "The Provider shall fix reported defects within ten working days.\n\n"
    "2. TERM.\n"
    "This agreement runs for two years from the effective date unless ended earlier under "
    "section 5.\n\n"
    "3. COMPENSATION.\n"
    "The Client shall pay the fees in Schedule B within thirty days of each invoice. "
    "Late payments bear interest at two percent per month.\n")
CONTRACT_HEADINGS = {"1. SERVICES.", "2. TERM.", "3. COMPENSATION."}


def test_a_numbered_heading_in_capitals_is_never_a_candidate_sentence():
    """The segmenter reads "1. SERVICES." over its paragraph in one block as a heading
    (units.py), not as a list item that the paragraph goes on; as the shortest candidates such
    lines filled --max-words first ("1. SERVICES." alone for --max-words 3)."""
    from reformer_cli.summarize.scoring import candidate_indexes

    unstopped = CONTRACT.replace("2. TERM.", "2. TERM").replace("3. COMPENSATION.", "COMPENSATION.")
    for text, headings in ((CONTRACT, CONTRACT_HEADINGS), (unstopped, {"2. TERM", "COMPENSATION."})):
        sentences = split_sentences(text)
        assert headings <= {s.text for s in sentences if s.kind == "heading"}
        candidates = {sentences[i].text for i in candidate_indexes(sentences)}
        assert not candidates & headings and len(candidates) == 6
        for budget in [Budget(max_words=n) for n in range(1, 80)] + \
                [Budget(sentences=k) for k in range(1, 8)] + [Budget(ratio=r) for r in (0.2, 0.5, 1.0)]:
            summary = summarize_extractive(text, budget)
            assert not {s.text for s in summary.sentences} & headings, (budget, summary.text)
        assert len(summarize_extractive(text, Budget(ratio=0.5)).sentences) == 3  # of 6, not 9
    shouted_list = "1. KEEP OUT.\n2. WEAR GLOVES.\n3. NO SMOKING HERE."  # a list: its items are candidates
    assert len(summarize_extractive(shouted_list, Budget(sentences=1)).sentences) == 1
