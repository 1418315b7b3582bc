"""Sentence scores: directed degree centrality on TF-IDF cosine similarity (after PacSum),
blended with a lead prior, boosted by Edmundson's cue and location features, and multiplied
by form penalties (too short, too long, list items, lines that introduce code or lists,
outline sentences, reported speech, lines that go on from something before them) and by a
penalty on sections about the document's surroundings (acknowledgements, history, rejected ideas).

PacSum (Zheng & Lapata, 2019) splits degree centrality by direction: a sentence that many
*later* sentences resemble introduces a topic, one that resembles *earlier* ones repeats it.
PacSum weighs the backward part negatively; on our dev sets (technical documents, Chinese
novels) a small positive weight did better, so the forward part simply counts more. Edges
below a threshold relative to the mean similarity are dropped first, as in LexRank; relative,
because character-bigram vectors (Chinese) have lower cosines than word vectors.

The weights in ScoringConfig were chosen with a small grid on the three dev sets of
bench/summarization.py, one setting for all languages. Chinese (and Japanese) documents select by
term salience instead (salience.py, ScoringConfig.salience_languages); their term sets come from
here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from reformer_cli.summarize.terms import terms, tfidf_matrix
from reformer_cli.text.sentences import Sentence

# Above this many candidates the pairwise matrix would be too big; use the linear fallback.
MAX_PAIRWISE_SENTENCES = 4000

# Edmundson's cue method: sentences that say what the document itself does.
CUE_PHRASE = re.compile(
    r"\b(?:this|the present|our) (?:document|memo|pep|proposal|paper|report|specification|rfc|"
    r"article|note|draft|standard|chapter|study|book|guide)\b|\bwe (?:propose|describe|present|"
    r"define|introduce|specify)\b|本文|本報告|本报告", re.IGNORECASE)
# Outline sentences ("The remainder of this document is organized as follows") point at the
# structure, not the content: they match the cue words but are not summaries.
ROADMAP = re.compile(r"\b(?:remainder|rest) of (?:this|the) (?:document|memo|paper|report|section|"
                     r"pep|specification)\b|\borganized as follows\b|\bstructured as follows\b",
                     re.IGNORECASE)
# Edmundson's location method: sections whose heading promises an overview.
OVERVIEW_HEADING = re.compile(r"\b(?:abstract|summary|introduction|overview|purpose|scope|"
                              r"motivation|background|conclusions?)\b|摘要|概述|引言|總結|总结",
                              re.IGNORECASE)
# Sections about the document's own history, process or surroundings rather than its content.
META_HEADING = re.compile(r"\b(?:acknowledge?ments?|references|copyright|notices?|errata|"
                          r"(?:version|change|revision|document) history|changes (?:from|since|to)|"
                          r"contributors?|authors?'? address(?:es)?|appendix|footnotes|"
                          r"rejected (?:ideas|alternatives|proposals)|open (?:issues|questions)|"
                          r"withdrawal|rejection|reference implementation|backwards? compatibility|"
                          r"(?:security|iana|privacy) considerations|how to teach|"
                          r"security implications)\b|致謝|致谢|參考文獻|参考文献", re.IGNORECASE)
OPEN_QUOTES, CLOSE_QUOTES = "「『“", "」』”"
# How a line starts that goes on from something before it: a lower-case word (not an
# identifier: "iOS", "malloc()", "x86_64" are not flagged), or a dash ("—_Tales of a Whale_.").
FRAGMENT_START = re.compile(r"[\"'“‘(]?[a-z]+(?=[\s,;:.!?])|\s*(?:—|–|--)")


@dataclass(frozen=True)
class ScoringConfig:
    edge_threshold: float = 1.0  # similarity below this many times the mean is no edge
    forward_weight: float = 1.0  # PacSum lambda_2: similarity to later sentences
    backward_weight: float = 0.3  # PacSum lambda_1 (negative there): similarity to earlier ones
    centrality_weight: float = 1.0
    position_weight: float = 0.5  # weight of the lead prior
    position_scale: float = 0.02  # the lead prior halves every `scale * n + 5` sentences
    min_words: int = 8  # shorter sentences are scaled down linearly
    max_words: int = 60  # longer ones are scaled down gently
    list_factor: float = 0.6  # list items are often fragments
    colon_factor: float = 0.5  # "... as follows:" introduces code or a list
    roadmap_factor: float = 0.3  # "The rest of this document is organized as follows"
    # A piece cut from an over-long sentence (Sentence.pseudo), or a line that starts in
    # lower case ("or, THE WHALE.") or with a dash: it reads as the middle of something.
    fragment_factor: float = 0.3
    cue_bonus: float = 0.7  # "This document defines ..." (Edmundson's cue words)
    overview_bonus: float = 0.5  # under an "Introduction"/"Overview"/... heading
    meta_factor: float = 0.3  # under an "Acknowledgements"/"Rejected Ideas"/... heading
    quote_factor: float = 0.3  # reported speech rarely summarises a narrative
    redundancy: float = 0.6  # MMR: penalty on similarity to sentences already chosen
    spread: float = 0.15  # coverage: penalty on closeness in the text to sentences chosen
    spread_scale: float = 0.01  # closeness decays over `scale * n + 1` sentences
    drop_citations: bool = True  # "[19]" after a word is not summary content (citations.py)
    # The learned method: this score times (the model's keep probability / its mean) ** exponent.
    model_exponent: float = 0.5
    # With shipped keyword weights (keywords.py): the score times (keyword density + floor) ** this.
    keyword_exponent: float = 0.5
    keyword_floor: float = 1e-6
    # With a shipped phrase prior (phrases.py): the score times exp(weight * the prior).
    phrase_weight: float = 1.0
    # Languages that select by term salience with coverage (salience.py) instead of centrality.
    salience_languages: tuple[str, ...] = ("zh", "ja")
    salience_parts: int = 10  # the document's equal runs for a term's inverse part frequency


@dataclass
class SentenceFeatures:
    candidates: list[int]  # indexes into the document's sentences that may be selected
    term_sets: list[set[str]]  # each candidate's distinct terms
    vectors: np.ndarray  # (n_candidates, n_terms) row-normalised TF-IDF
    forward: np.ndarray  # (n_candidates,) edge weight to later sentences
    backward: np.ndarray  # (n_candidates,) edge weight to earlier sentences
    position: np.ndarray  # (n_candidates,) rank among candidates, 0 first
    form: np.ndarray  # (n_candidates,) product of the form penalties, in (0, 1]
    cue: np.ndarray  # (n_candidates,) 1 where a cue phrase occurs
    overview: np.ndarray  # (n_candidates,) 1 under an overview-like heading
    meta: np.ndarray  # (n_candidates,) 1 under a heading about the document's surroundings
    quoted: np.ndarray  # (n_candidates,) 1 where the sentence starts inside a quotation


def is_candidate(sentence: Sentence) -> bool:
    return sentence.kind in ("sentence", "list") and sentence.n_words >= 2


def candidate_indexes(sentences: list[Sentence]) -> list[int]:
    """Indexes of the sentences a summary may use: prose and list items of two words or more;
    in a document of only headings, code or one-word lines, any unit with a word but data (table
    rows, JSON), which is never a summary: a document of data alone has no candidate."""
    candidates = [s.index for s in sentences if is_candidate(s)]
    return candidates or [s.index for s in sentences if s.n_words >= 1 and s.kind != "data"]


def _form_factor(sentence: Sentence, config: ScoringConfig) -> float:
    n_words = sentence.n_words
    factor = min(1.0, n_words / config.min_words)
    if n_words > config.max_words:
        factor *= (config.max_words / n_words) ** 0.5
    if sentence.kind == "list":
        factor *= config.list_factor
    if sentence.text.rstrip().endswith((":", "：")):
        factor *= config.colon_factor
    if ROADMAP.search(sentence.text):
        factor *= config.roadmap_factor
    if sentence.pseudo or FRAGMENT_START.match(sentence.text):
        factor *= config.fragment_factor
    return factor


def directed_centrality(vectors: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(forward, backward) sums of thresholded cosine similarity to later / earlier rows."""
    n = vectors.shape[0]
    if n <= MAX_PAIRWISE_SENTENCES:
        similarity = vectors @ vectors.T  # (n, n)
        np.fill_diagonal(similarity, 0.0)
        cutoff = threshold * float(similarity.sum(dtype=np.float64)) / max(1, n * (n - 1))
        edges = np.maximum(similarity - cutoff, 0.0, out=similarity)  # in place: n can be 4000
        np.fill_diagonal(edges, 0.0)
        total = edges.sum(axis=1, dtype=np.float64)
        backward = np.tril(edges, k=-1).sum(axis=1, dtype=np.float64)
        return total - backward, backward
    # Linear fallback without the threshold: x_i . (sum of later rows), via a running sum.
    total = vectors.sum(axis=0)
    running = np.cumsum(vectors, axis=0) - vectors  # (n, n_terms) sum of earlier rows
    backward = np.einsum("ij,ij->i", vectors, running)
    forward = vectors @ total - backward - np.einsum("ij,ij->i", vectors, vectors)
    return forward, backward


def _section_flags(sentences: list[Sentence], heading: re.Pattern) -> list[bool]:
    """Per sentence: whether the nearest heading above it matches `heading`."""
    flags, current = [], False
    for sentence in sentences:
        if sentence.kind == "heading":
            current = bool(heading.search(sentence.text))
        flags.append(current)
    return flags


def _quote_flags(sentences: list[Sentence]) -> list[bool]:
    """Per sentence: whether it starts inside 「...」 or “...” opened by an earlier sentence of
    the same block (Chinese dialogue is split into several sentences)."""
    flags, depth, block = [], 0, -1
    for sentence in sentences:
        if sentence.block != block:
            depth, block = 0, sentence.block
        opens_at_start = sentence.text[:1] in OPEN_QUOTES
        flags.append(depth > 0 or opens_at_start)
        depth += sum(sentence.text.count(q) for q in OPEN_QUOTES)
        depth = max(0, depth - sum(sentence.text.count(q) for q in CLOSE_QUOTES))
    return flags


def sentence_features(sentences: list[Sentence], config: ScoringConfig,
                      language: str = "en") -> SentenceFeatures:
    candidates = candidate_indexes(sentences)
    overview, quoted = _section_flags(sentences, OVERVIEW_HEADING), _quote_flags(sentences)
    meta = _section_flags(sentences, META_HEADING)
    term_lists = [terms(sentences[i].text, language) for i in candidates]
    vectors = tfidf_matrix(term_lists)
    forward, backward = directed_centrality(vectors, config.edge_threshold)
    return SentenceFeatures(
        candidates=candidates, term_sets=[set(found) for found in term_lists], vectors=vectors,
        forward=forward, backward=backward,
        position=np.arange(len(candidates), dtype=np.float64),
        form=np.array([_form_factor(sentences[i], config) for i in candidates]),
        cue=np.array([bool(CUE_PHRASE.search(sentences[i].text)) for i in candidates], float),
        overview=np.array([overview[i] for i in candidates], dtype=float),
        meta=np.array([meta[i] for i in candidates], dtype=float),
        quoted=np.array([quoted[i] for i in candidates], dtype=float))


def _scaled(values: np.ndarray) -> np.ndarray:
    peak = np.abs(values).max() if values.size else 0.0
    return values / peak if peak > 0 else np.zeros_like(values)


def combine_scores(features: SentenceFeatures, config: ScoringConfig) -> np.ndarray:
    """One score per candidate: (centrality + lead prior) times form penalties."""
    n = len(features.candidates)
    centrality = _scaled(config.forward_weight * features.forward
                         + config.backward_weight * features.backward)
    half_life = config.position_scale * n + 5.0
    lead_prior = 0.5 ** (features.position / half_life)
    raw = config.centrality_weight * centrality + config.position_weight * lead_prior
    if not n:
        return raw
    boost = (1.0 + config.cue_bonus * features.cue) * (1.0 + config.overview_bonus * features.overview)
    speech = 1.0 - (1.0 - config.quote_factor) * features.quoted
    meta = 1.0 - (1.0 - config.meta_factor) * features.meta
    return (raw - raw.min() + 1e-6) * features.form * boost * speech * meta
