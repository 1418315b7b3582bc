"""Extractive summarization (pure functions: text in, `Summary` out; no files, no terminal).

`summarize_extractive` segments the text, scores sentences by position-aware centrality (or, for
the languages in ScoringConfig.salience_languages, by term salience with coverage) and selects
them under a budget. It never imports torch, so `reformer summarize` starts fast.
"""

from __future__ import annotations

import numpy as np

from reformer_cli.errors import InputError
from reformer_cli.summarize.citations import drop_citation_marks
from reformer_cli.summarize.keywords import keyword_density, shipped_keyword_model
from reformer_cli.summarize.phrases import PhrasePrior, phrase_scores, shipped_phrase_prior
from reformer_cli.summarize.salience import select_by_salience
from reformer_cli.summarize.scoring import (
    ScoringConfig,
    SentenceFeatures,
    combine_scores,
    sentence_features,
)
from reformer_cli.summarize.selection import Budget, Pick, select
from reformer_cli.summarize.summary import NO_PROSE, NO_PROSE_HINT, Summary, SummarySentence, detect_language
from reformer_cli.text.markup import readable_text
from reformer_cli.text.sentences import Sentence, split_sentences
from reformer_cli.text.words import balance_quotes, count_words


def summarize_extractive(text: str, budget: Budget | None = None, language: str = "auto",
                         config: ScoringConfig | None = None) -> Summary:
    """Select the most central, non-redundant sentences of `text` within `budget`."""
    budget = (budget or Budget()).validate()
    config = config or ScoringConfig()
    language, sentences, features = read_sentences(text, language, config)
    if language in config.salience_languages:
        texts = [sentences[i].text for i in features.candidates]
        picks, scores = select_by_salience(texts, features.term_sets,
                                           [sentences[i].n_words for i in features.candidates],
                                           budget, config.salience_parts)
        chosen = summary_sentences(sentences, features.candidates, scores, picks)
    else:
        scores = sentence_scores(language, sentences, features, config)
        chosen = select_sentences(sentences, features, scores, budget, config)
    return Summary(sentences=chosen, method="extractive", language=language, n_sentences=len(sentences),
                   n_words=count_words(readable_text(text)))


def sentence_scores(language: str, sentences: list[Sentence], features: SentenceFeatures,
                    config: ScoringConfig, phrase_prior: PhrasePrior | None = None) -> np.ndarray:
    """(n_candidates,) centrality and lead prior (combine_scores), times the keyword density to
    the power config.keyword_exponent where weights ship for the language, and times
    exp(config.phrase_weight * the phrase prior) where a phrase prior ships for it (or
    `phrase_prior` is given: one fitted without the documents a benchmark holds out)."""
    scores = combine_scores(features, config)
    model = shipped_keyword_model(language) if config.keyword_exponent else None
    if model is not None:
        density = keyword_density(sentences, features, model)
        scores = scores * (density + config.keyword_floor) ** config.keyword_exponent
    prior = (phrase_prior or shipped_phrase_prior(language)) if config.phrase_weight else None
    if prior is not None:
        texts = [sentences[index].text for index in features.candidates]
        scores = scores * np.exp(config.phrase_weight * phrase_scores(texts, prior))
    return scores


def read_sentences(text: str, language: str, config: ScoringConfig
                   ) -> tuple[str, list[Sentence], SentenceFeatures]:
    """(language, sentences, their candidates' features); an empty document, one without a
    word, or one whose only words are data (table rows, JSON), is an InputError."""
    if not text.strip():
        raise InputError("the document is empty or only whitespace", "give a file with text in it")
    language = detect_language(text, language)
    sentences = split_sentences(text)
    features = sentence_features(sentences, config, language)
    if not features.candidates and any(sentence.kind == "data" for sentence in sentences):
        raise InputError(NO_PROSE, NO_PROSE_HINT)
    if not features.candidates:
        raise InputError("the document has no words, only punctuation or symbols",
                         "give a file with text in it")
    return language, sentences, features


def select_sentences(sentences: list[Sentence], features: SentenceFeatures, scores: np.ndarray,
                     budget: Budget, config: ScoringConfig) -> list[SummarySentence]:
    """The candidates chosen within `budget` for these scores, as summary sentences, without
    their citation marks where config.drop_citations."""
    texts = [sentences[i].text for i in features.candidates]
    word_counts = [sentences[i].n_words for i in features.candidates]
    if config.drop_citations:
        shortened = [drop_citation_marks(text) for text in texts]
        word_counts = [count if new is old else count_words(new)
                       for old, new, count in zip(texts, shortened, word_counts)]
        texts = shortened
    picks = select(texts, scores, features.vectors, budget, config.redundancy, config.spread,
                   config.spread_scale, word_counts)
    return summary_sentences(sentences, features.candidates, scores, picks)


def summary_sentences(sentences: list[Sentence], candidates: list[int], scores: np.ndarray,
                      picks: list[Pick]) -> list[SummarySentence]:
    """The picks as summary sentences, with their place in the document and their score; a
    sentence cut out of a quotation gets its quotation marks balanced."""
    chosen = []
    for pick in picks:
        sentence = sentences[candidates[pick.candidate]]
        chosen.append(SummarySentence(text=balance_quotes(pick.text), index=sentence.index,
                                      start=sentence.start, end=sentence.end,
                                      score=round(float(scores[pick.candidate]), 6),
                                      rank=pick.rank, truncated=pick.truncated))
    return chosen
