"""Extraction training examples: the document's sentences with a marker after each candidate
sentence; the target at a marker says whether the greedy ROUGE oracle keeps that sentence.

The markers and labels reuse the tokenizer's special tokens, so an extraction model has the
vocabulary of any other: the input at a marker is <sep>, its target is <sep> (keep) or </s>
(skip), and the sentence's score is the head's logit difference between the two.
A long document becomes several examples, one per window of whole sentences; every window
carries the labels of the oracle over the whole document.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable, Sequence

import numpy as np

from reformer_cli.core.head_loss import IGNORE_INDEX
from reformer_cli.data.examples import FixedExamples
from reformer_cli.data.pair_pool import POOL_MIN_PAIRS, map_pairs
from reformer_cli.errors import InputError
from reformer_cli.evaluation.oracle import greedy_oracle
from reformer_cli.evaluation.rouge import tokens
from reformer_cli.summarize.scoring import candidate_indexes
from reformer_cli.summarize.summary import detect_language
from reformer_cli.text.sentences import Sentence, split_sentences

MIN_SEQ_LEN = 16  # a window must hold a few words and a marker


def label_ids(tokenizer) -> tuple[int, int]:
    """(keep, skip): the target ids at a marker."""
    return tokenizer.sep_id, tokenizer.eos_id


@dataclass
class MarkedWindow:
    ids: list[int]  # sentence tokens, <sep> after each candidate sentence
    markers: list[int]  # positions of the <sep>s in ids
    marked: list[int]  # for each marker: the index of its sentence in the document


def marked_windows(sentences: Sequence[Sentence], candidates: Sequence[int], tokenizer,
                   seq_len: int) -> list[MarkedWindow]:
    """The document as consecutive windows of at most seq_len tokens, cut between sentences;
    a sentence longer than a window keeps its first tokens."""
    marked_set = set(candidates)
    windows, current = [], MarkedWindow([], [], [])
    for sentence in sentences:
        is_marked = sentence.index in marked_set
        ids = list(tokenizer.encode(sentence.text))[: seq_len - int(is_marked)]
        if len(current.ids) + len(ids) + int(is_marked) > seq_len and current.ids:
            windows.append(current)
            current = MarkedWindow([], [], [])
        current.ids.extend(ids)
        if is_marked:
            current.markers.append(len(current.ids))
            current.marked.append(sentence.index)
            current.ids.append(tokenizer.sep_id)
    if current.ids:
        windows.append(current)
    return windows


def oracle_sentences(sentences: Sequence[Sentence], candidates: Sequence[int], summary: str,
                     language: str) -> set[int]:
    """Document indexes of the sentences the greedy oracle picks for `summary`."""
    picked = greedy_oracle([tokens(sentences[i].text, language) for i in candidates],
                           tokens(summary, language))
    return {candidates[k] for k in picked}


@dataclass
class DocumentExamples:
    """One document's windows and labels (a pool worker sends these back)."""

    inputs: list[np.ndarray]  # (seq_len,) int32 each
    targets: list[np.ndarray]  # (seq_len,) int32 each
    n_marked: int
    n_kept: int


def document_examples(document: str, summary: str, *, tokenizer, seq_len: int) -> DocumentExamples:
    """The windows of one document with the oracle's keep/skip targets at their markers."""
    keep, skip = label_ids(tokenizer)
    sentences = split_sentences(document)
    candidates = candidate_indexes(sentences)
    kept = oracle_sentences(sentences, candidates, summary, detect_language(document))
    inputs, targets = [], []
    for window in marked_windows(sentences, candidates, tokenizer, seq_len):
        ids = np.full(seq_len, tokenizer.eos_id, dtype=np.int32)
        target = np.full(seq_len, IGNORE_INDEX, dtype=np.int32)
        ids[: len(window.ids)] = window.ids
        target[window.markers] = [keep if index in kept else skip for index in window.marked]
        inputs.append(ids)
        targets.append(target)
    return DocumentExamples(inputs, targets, len(candidates), len(kept))


class ExtractionExamples(FixedExamples):
    """One example per window of each document; targets only at the markers. `workers` > 1
    builds them in that many processes (data/pair_pool.py), with the same result."""

    kind = "extraction"
    stat_names = ("n_marked", "n_kept")

    def __init__(self, pairs: Sequence[tuple[str, str]], tokenizer, seq_len: int, seed: int = 0,
                 on_document: Callable[[], None] | None = None, workers: int = 1,
                 pool_min_pairs: int = POOL_MIN_PAIRS):
        if not pairs:
            raise InputError("no document/summary pairs to train on")
        if seq_len < MIN_SEQ_LEN:
            raise InputError(f"seq_len={seq_len} is too short for extraction examples",
                             "use --seq-len 256 or more")
        inputs, targets = [], []
        self.n_marked = self.n_kept = 0
        build = partial(document_examples, tokenizer=tokenizer, seq_len=seq_len)
        for examples in map_pairs(build, pairs, workers, on_document, pool_min_pairs):
            inputs.extend(examples.inputs)
            targets.extend(examples.targets)
            self.n_marked += examples.n_marked
            self.n_kept += examples.n_kept
        super().__init__(np.stack(inputs), np.stack(targets), seq_len, seed)  # (N, seq_len) each
