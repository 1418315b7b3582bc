"""Extractive summarization (pure functions: text in, `Summary` out; no files, no terminal).

`summarize_extractive` segments the text, scores sentences by position-aware centrality and
selects them under a budget. The abstractive summarizer lives in
`reformer_cli/summarize_abstractive.py` and is loaded only when asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reformer_cli.errors import InputError
from reformer_cli.summarize.scoring import ScoringConfig, combine_scores, sentence_features
from reformer_cli.summarize.selection import Budget, select
from reformer_cli.text.sentences import count_words, is_cjk_text, split_sentences

LANGUAGES = ("auto", "en", "zh")


@dataclass(frozen=True)
class SummarySentence:
    text: str
    index: int  # position among all sentences (headings and code lines included)
    start: int  # character offsets of the whole original sentence in the input
    end: int
    score: float
    rank: int  # order of selection, 0 = best
    truncated: bool  # cut to fit --max-words


@dataclass
class Summary:
    sentences: list[SummarySentence]
    method: str
    language: str
    n_sentences: int  # sentences in the document
    n_words: int  # words in the document (CJK characters count one each)
    config: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n".join(sentence.text for sentence in self.sentences)


@dataclass(frozen=True)
class SummarizeOptions:
    """What the user asked for; passed to `summarize_abstractive(text, model_dir, options)`."""

    budget: Budget = field(default_factory=Budget)
    language: str = "auto"


def detect_language(text: str, language: str = "auto") -> str:
    if language not in LANGUAGES:
        raise InputError(f"unknown language {language!r}", f"use one of {', '.join(LANGUAGES)}")
    if language != "auto":
        return language
    return "zh" if is_cjk_text(text) else "en"


def summarize_extractive(text: str, budget: Budget | None = None, language: str = "auto",
                         config: ScoringConfig | None = None) -> Summary:
    """Select the most central, non-redundant sentences of `text` within `budget`."""
    budget = (budget or Budget()).validate()
    config = config or ScoringConfig()
    if not text.strip():
        raise InputError("the document is empty or only whitespace", "give a file with text in it")
    language = detect_language(text, language)
    sentences = split_sentences(text)
    features = sentence_features(sentences, config)
    if not features.candidates:
        raise InputError("the document has no words, only punctuation or symbols",
                         "give a file with text in it")
    scores = combine_scores(features, config)
    texts = [sentences[i].text for i in features.candidates]
    picks = select(texts, scores, features.vectors, budget, config.redundancy, config.spread,
                   config.spread_scale, [sentences[i].n_words for i in features.candidates])
    chosen = []
    for pick in picks:
        sentence = sentences[features.candidates[pick.candidate]]
        chosen.append(SummarySentence(text=pick.text, index=sentence.index, start=sentence.start,
                                      end=sentence.end, score=round(float(scores[pick.candidate]), 6),
                                      rank=pick.rank, truncated=pick.truncated))
    return Summary(sentences=chosen, method="extractive", language=language,
                   n_sentences=len(sentences), n_words=count_words(text))
