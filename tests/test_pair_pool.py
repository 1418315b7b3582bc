"""Pair examples built by a pool of processes (data/pair_pool.py) equal those built in one, in
the same order, for both tasks, with one progress call per pair; a SentencePiece tokenizer
crosses into the workers as its proto."""

import os
import random
from pydoc_data.topics import topics

import numpy as np
import pytest

from reformer_cli.data.extraction import ExtractionExamples
from reformer_cli.data.pair_pool import map_pairs
from reformer_cli.data.summarization import SummarizationExamples
from reformer_cli.text.tokenizer import train_sentencepiece


@pytest.fixture(scope="module")
def tokenizer():
    return train_sentencepiece([topics[key] for key in sorted(topics)[:40]], vocab_size=600)


def pairs(count):
    """Real paragraphs as documents; as summary one of their sentences, varied in length so
    some summaries are truncated in the summarization examples."""
    rng = random.Random(0)
    texts = [topics[key] for key in sorted(topics) if len(topics[key]) > 2000]
    chosen = []
    for number in range(count):
        document = texts[number % len(texts)][:4000]
        sentences = [s for s in document.split(". ") if len(s) > 30] or [document[:200]]
        chosen.append((document, ". ".join(rng.sample(sentences, min(len(sentences), 1 + number % 4)))))
    return chosen


@pytest.mark.filterwarnings("ignore:.*were truncated")  # some are, on purpose
@pytest.mark.parametrize("examples_class", [ExtractionExamples, SummarizationExamples])
def test_two_processes_build_the_examples_one_builds(tokenizer, examples_class):
    data = pairs(24)
    seq_len = 256 if examples_class is ExtractionExamples else 160
    one = examples_class(data, tokenizer, seq_len)
    calls = []
    pooled = examples_class(data, tokenizer, seq_len, on_document=lambda: calls.append(1),
                            workers=2, pool_min_pairs=1)
    assert len(calls) == len(data)
    assert np.array_equal(one.inputs, pooled.inputs) and np.array_equal(one.targets, pooled.targets)
    if examples_class is ExtractionExamples:
        assert (one.n_marked, one.n_kept) == (pooled.n_marked, pooled.n_kept) and one.n_kept > 0
        assert len(one) > len(data)  # several windows per document: the order was kept
    else:
        assert one.truncated == pooled.truncated and 0 < one.truncated < len(data)


def test_few_pairs_stay_in_this_process():
    seen = []
    results = list(map_pairs(lambda document, summary: (document, summary, seen.append(1)),
                             [("a", "b"), ("c", "d")], workers=4, pool_min_pairs=3))
    # A lambda cannot pickle: it ran here, in order.
    assert [result[:2] for result in results] == [("a", "b"), ("c", "d")] and len(seen) == 2


def process_of(document, summary):
    return os.getpid()


def test_enough_pairs_run_in_other_processes():
    pids = set(map_pairs(process_of, [("a", "b")] * 40, workers=2, pool_min_pairs=10))
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
