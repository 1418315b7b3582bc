"""What a summary is, whatever made it: sentences with their place in the document, the method,
the language; and the options a user gives every method."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from reformer_cli.errors import InputError
from reformer_cli.summarize.selection import Budget
from reformer_cli.text.language import DOCUMENT_LANGUAGES, guess_language
from reformer_cli.text.markup import readable_text

LANGUAGES = ("auto", *DOCUMENT_LANGUAGES)  # text/language.py says what each means
# What each method asks of --model: NOT_A_SUMMARIZER for the abstractive method, NOT_A_SCORER
# for the learned one, NO_SUMMARIZER_TASK for auto, which runs either.
NOT_A_SUMMARIZER = ("abstractive summarization needs a model trained with `reformer train "
                    "pairs.jsonl --task summarize`")
NOT_A_SCORER = ("the learned method needs a model trained with `reformer train pairs.jsonl "
                "--task extract`")
NO_SUMMARIZER_TASK = ("a summarizer is a model trained with `reformer train pairs.jsonl --task "
                      "summarize` (abstractive) or `--task extract` (learned sentence scorer)")
# A document whose only words are table rows or JSON (a CSV file, say): nothing to pick from.
NO_PROSE = "the document holds no prose sentences to summarize (it reads as a table or data)"
NO_PROSE_HINT = "give a document with sentences in it"
# Told (done, total) as a long step goes on, e.g. the learned method's windows read; the caller
# decides whether and how to show it.
Progress = Callable[[int, int], None]


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

    @property
    def made_by(self) -> tuple[str, str | None]:
        """(method, model folder or None): what `summarize` and `eval` report."""
        return self.method, self.config.get("model")


@dataclass(frozen=True)
class SummarizeOptions:
    """What the user asked for, whichever method summarizes."""

    budget: Budget = field(default_factory=Budget)
    language: str = "auto"


def detect_language(text: str, language: str = "auto") -> str:
    if language not in LANGUAGES:
        raise InputError(f"unknown language {language!r}", f"use one of {', '.join(LANGUAGES)}")
    if language != "auto":
        return language
    return guess_language(readable_text(text))  # a page's words, not its markup's
