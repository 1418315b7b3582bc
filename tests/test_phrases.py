"""The phrase prior (summarize/phrases.py): the fitted log odds against a count done by hand, the
sentence prior, the table file, the fitting command, the shipped table, and how the score uses
it (the model-free method, the shipped scorer, a user's own scorer)."""

import json
import lzma
import math
from pydoc_data.topics import topics

import numpy as np
import pytest
from fitting_commands import check_fitting_command, run_fitting

from reformer_cli.summarize.extractive import read_sentences, sentence_scores
from reformer_cli.summarize.phrases import (
    PhrasePrior,
    fit_phrase_prior,
    phrase_scores,
    shipped_phrase_prior,
    word_pairs,
)
from reformer_cli.summarize.scoring import ScoringConfig

PAIRS = [  # (document, abstract)
    ("This memo defines a protocol. The protocol runs over links. See the figure below.",
     "This memo defines a protocol."),
    ("This memo defines a format. See the figure below. The format has fields.",
     "This memo defines a format with fields."),
    ("The protocol runs over links. See the figure below. It is simple.",
     "A protocol that runs over links."),
    ("See the figure below. This memo defines nothing new.", "Nothing new."),
]


def reference_log_odds(pairs, min_count, prior_pairs):
    """The prior's definition, counted pair by pair with plain lists."""
    documents = [pair for document, _ in pairs for pair in word_pairs(document)]
    abstracts = [pair for _, abstract in pairs for pair in word_pairs(abstract)]
    expected = {}
    for pair in sorted(set(documents)):
        if documents.count(pair) >= min_count:
            document_rate = documents.count(pair) / len(documents)
            abstract_rate = ((abstracts.count(pair) + prior_pairs * document_rate)
                             / (len(abstracts) + prior_pairs))
            expected[pair] = math.log(abstract_rate / document_rate)
    return expected


def test_word_pairs_are_stemmed_lower_case_neighbours():
    assert word_pairs("This memo defines RFC 2865.") == ["this memo", "memo defin", "defin rfc",
                                                         "rfc 2865"]
    assert word_pairs("Alone.") == []


@pytest.mark.parametrize("min_count,prior_pairs", [(1, 10.0), (2, 1.0), (3, 0.5)])
def test_fitted_log_odds_match_a_count_by_hand(min_count, prior_pairs):
    prior = fit_phrase_prior(PAIRS, "four pairs", min_count, prior_pairs)
    expected = reference_log_odds(PAIRS, min_count, prior_pairs)
    assert set(prior.log_odds) == set(expected)
    for pair, value in expected.items():
        assert prior.log_odds[pair] == pytest.approx(value, abs=0.005)  # stored to 2 decimals
    # Three times in both abstracts and documents, against four times in documents only.
    assert prior.log_odds["memo defin"] > 0 > prior.log_odds["figure below"]


def test_sentence_prior_is_the_mean_over_its_pairs_and_unknown_pairs_count_zero():
    prior = PhrasePrior({"memo defin": 1.2, "defin a": 0.4, "figure below": -0.8})
    texts = ["This memo defines a protocol.", "See the figure below.", "Unknown words here.",
             "One."]
    expected = [(0 + 1.2 + 0.4 + 0) / 4, (0 + 0 - 0.8) / 3, 0.0, 0.0]
    np.testing.assert_allclose(phrase_scores(texts, prior), expected)


def test_the_table_file_round_trips_and_a_foreign_file_is_refused():
    prior = fit_phrase_prior(PAIRS, "four pairs\nof text", min_count=1)
    back = PhrasePrior.from_bytes(prior.to_bytes())
    assert back.log_odds == prior.log_odds and back.fitted_on == "four pairs of text"
    with pytest.raises(ValueError, match="not a phrase prior"):
        PhrasePrior.from_bytes(lzma.compress(b"memo defin\t1.0\n"))


def test_the_shipped_english_prior_favours_what_abstracts_say():
    prior = shipped_phrase_prior("en")
    assert prior is not None and "pairs of rfc_abstract.train" in prior.fitted_on
    assert shipped_phrase_prior("zh") is None
    said, shown = phrase_scores(["This memo defines a protocol for the transport of messages.",
                                 "As shown in the figure below, the field is set to zero."], prior)
    assert said > 0 > shown


def test_the_prior_scales_the_model_free_score_by_its_exponential():
    text = topics["typesseq"]
    language, sentences, features = read_sentences(text, "en", ScoringConfig())
    without = sentence_scores(language, sentences, features, ScoringConfig(phrase_weight=0.0))
    weighted = sentence_scores(language, sentences, features, ScoringConfig(phrase_weight=0.5))
    prior = phrase_scores([sentences[i].text for i in features.candidates], shipped_phrase_prior("en"))
    np.testing.assert_allclose(weighted, without * np.exp(0.5 * prior), rtol=1e-12)
    assert np.ptp(prior) > 0.1  # the prior does tell this document's sentences apart


def test_the_fitting_command_writes_a_table_and_rejects_a_bad_file(tmp_path):
    out = check_fitting_command(tmp_path, "fit_phrases", "phrases.tsv.xz",
                                lambda key, text: text[:300])
    written = PhrasePrior.from_bytes(out.read_bytes())
    assert written.fitted_on == "20 pairs of pairs.jsonl (seed 0)" and written.log_odds
    chinese = tmp_path / "chinese.jsonl"
    chinese.write_text(json.dumps({"document": "第一回 天下大勢，分久必合。", "summary": "天下"},
                                  ensure_ascii=False), encoding="utf-8")
    result = run_fitting("fit_phrases", chinese, "--out", out)
    assert result.returncode == 2 and "no English document/summary pairs" in result.stderr
    assert PhrasePrior.from_bytes(out.read_bytes()).log_odds == written.log_odds
