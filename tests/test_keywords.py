"""Keyword probabilities (summarize/keywords.py): the logistic regression against the model that
generated its data, the term features against a plain count, the JSON the weights ship in, the
fitting command, and what the shipped weights do to English ROUGE on the dev sets."""

import json

import numpy as np
import pytest
from dev_sets import DEV, NO_DATA, model_free_rouge
from fitting_commands import check_fitting_command

from reformer_cli.summarize.extractive import read_sentences
from reformer_cli.summarize.keywords import (
    FEATURES,
    KeywordModel,
    fit_keyword_model,
    shipped_keyword_model,
    summary_labels,
    term_features,
)
from reformer_cli.summarize.scoring import ScoringConfig


def test_logistic_regression_recovers_the_generating_weights():
    rng = np.random.default_rng(0)
    true_weights, true_intercept = np.array([1.5, -2.0, 0.0]), -1.0
    features = rng.normal([3.0, -1.0, 10.0], [2.0, 0.5, 4.0], size=(200_000, 3))
    probability = 1 / (1 + np.exp(-(features @ true_weights + true_intercept)))
    labels = (rng.random(len(features)) < probability).astype(float)
    model = fit_keyword_model([features[:75_000], features[75_000:]],
                              [labels[:75_000], labels[75_000:]])
    # Back from standardised features to the raw ones.
    raw = np.array(model.weights) / np.array(model.scale)
    intercept = model.intercept - float(raw @ np.array(model.mean))
    assert raw == pytest.approx(true_weights, abs=0.08)
    assert intercept == pytest.approx(true_intercept, abs=0.15)
    # And the fitted probabilities are those of the generating model.
    assert model.probabilities(features[:100]) == pytest.approx(probability[:100], abs=0.03)


def test_term_features_count_what_they_say():
    text = ("Introduction\n\nThe Widget protocol moves data. Widget frames carry a length. "
            "Frames are short. A receiver checks the length. Nothing else happens here. "
            "Data is moved in frames.")
    _, sentences, features = read_sentences(text, "en", ScoringConfig())
    found, table = term_features(sentences, features)
    row = dict(zip(found, table))
    n = len(features.candidates)
    widget = dict(zip(FEATURES, row["widget"]))
    assert widget["log_count"] == pytest.approx(np.log(2))  # two sentences hold it
    assert widget["first_place"] == 0.0
    assert widget["capitalised"] == 1.0  # "Widget" both times
    assert widget["log_overview"] == pytest.approx(np.log1p(2))  # under "Introduction"
    assert widget["log_sentences"] == pytest.approx(np.log(n))
    frame = dict(zip(FEATURES, row["fram"]))  # "frames", "Frames", "frames": stemmed to one
    assert frame["log_count"] == pytest.approx(np.log(3))
    assert frame["first_place"] == pytest.approx(1 / n)
    assert frame["capitalised"] == pytest.approx(1 / 3)
    assert frame["count_per_sentence"] == pytest.approx(3 / n)
    labels = summary_labels(found, "Widget frames move data.")  # "moves", "moved": "move"
    assert {term for term, label in zip(found, labels) if label} == {"widget", "fram", "move", "data"}


def test_weights_round_trip_through_json_and_refuse_other_features():
    model = KeywordModel(mean=(0.0,) * len(FEATURES), scale=(1.0,) * len(FEATURES),
                         weights=tuple(range(len(FEATURES))), intercept=-2.0, fitted_on="test")
    assert KeywordModel.from_json(model.to_json()) == model
    record = json.loads(model.to_json())
    record["features"] = record["features"][:-1]
    with pytest.raises(ValueError, match="other features"):
        KeywordModel.from_json(json.dumps(record))


def test_english_has_shipped_weights_and_chinese_has_none():
    model = shipped_keyword_model("en")
    assert model is not None and len(model.weights) == len(FEATURES)
    assert "pairs of rfc_abstract.train" in model.fitted_on
    assert shipped_keyword_model("zh") is None


def test_the_fitting_command_writes_weights_and_rejects_a_bad_file(tmp_path):
    out = check_fitting_command(tmp_path, "fit_keywords", "keywords.json", lambda key, text: key)
    assert "20 pairs of pairs.jsonl" in KeywordModel.from_json(out.read_text()).fitted_on


@pytest.mark.skipif(not (DEV / "peps_abstract.dev.jsonl").exists(),
                    reason=NO_DATA)
@pytest.mark.parametrize("name", ["peps_abstract.dev.jsonl", "rfc_abstract.dev.jsonl"])
def test_keyword_density_raises_english_rouge_on_the_dev_sets(name):
    # Fitted on RFCs only: the PEPs show it carries over to other technical documents.
    rows = [json.loads(line) for line in (DEV / name).open(encoding="utf-8")]
    with_keywords = model_free_rouge(rows, "en", ScoringConfig())
    without = model_free_rouge(rows, "en", ScoringConfig(keyword_exponent=0.0))
    assert (with_keywords > without).all(), (with_keywords, without)
