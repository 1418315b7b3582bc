"""Preparing summarization pairs reports its progress: the tokenizer being trained, then one
event per document turned into examples, which the display shows as a line every few seconds
without a terminal (and nothing for work done in moments)."""

import io
import json
from pydoc_data.topics import topics

import pytest
from rich.console import Console

from reformer_cli.commands.progress import ENCODE_LINE_SECONDS, ProgressDisplay
from reformer_cli.config.load import load_run_config
from reformer_cli.shards.prepare import DataEvent
from reformer_cli.training.setup import prepare_data


@pytest.fixture
def pairs_file(tmp_path):
    keys = [key for key in sorted(topics) if len(topics[key]) > 800][:30]
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps({"document": topics[key], "summary": topics[key][:200]})
                              for key in keys), encoding="utf-8")
    return path


@pytest.mark.parametrize("task", ["extract", "summarize"])
def test_every_document_is_one_event_with_the_running_count(pairs_file, task):
    config = load_run_config(None, [f"data.task={task}", "data.tokenizer=byte", "data.seq_len=512",
                                    "data.val_fraction=0.1"])
    events = []
    prepare_data([str(pairs_file)], config, on_event=events.append)
    examples = [event.values for event in events if event.values["stage"] == "examples"]
    assert [values["done"] for values in examples] == list(range(1, 31))  # train + validation
    assert all(values["total"] == 30 for values in examples)
    assert all(a["elapsed"] <= b["elapsed"] for a, b in zip(examples, examples[1:]))
    assert not [event for event in events if event.values["stage"] == "tokenizer"]  # bytes


def test_training_a_sentencepiece_tokenizer_is_announced(pairs_file):
    config = load_run_config(None, ["data.task=extract", "data.vocab_size=800", "data.seq_len=512",
                                    "data.val_fraction=0.1"])
    events = []
    prepare_data([str(pairs_file)], config, on_event=events.append)
    first = events[0]
    assert first.kind == "pairs" and first.values["stage"] == "tokenizer"
    assert first.values["vocab_size"] == 800 and first.values["texts"] == 2 * 27  # train pairs


def show(events):
    buffer = io.StringIO()
    display = ProgressDisplay(Console(file=buffer, width=200), live=False)
    for event in events:
        display(event)
    return [line for line in buffer.getvalue().splitlines() if line]


def examples_event(done, total, elapsed):
    return DataEvent("pairs", {"stage": "examples", "done": done, "total": total, "elapsed": elapsed})


def test_the_display_prints_a_line_every_few_seconds_and_one_at_the_end():
    step = ENCODE_LINE_SECONDS / 4
    lines = show([DataEvent("pairs", {"stage": "tokenizer", "texts": 6000, "vocab_size": 8000})]
                 + [examples_event(done, 12, done * step) for done in range(1, 13)])
    assert lines[0] == "training a SentencePiece tokenizer (8,000 pieces) on 6,000 documents and summaries"
    assert lines[1:] == [  # at 5 s and 10 s, then the end; 4 documents per 5 s
        "pairs 4/12 documents  0.8/s  ETA 00:10", "pairs 8/12 documents  0.8/s  ETA 00:05",
        "pairs 12/12 documents  0.8/s  ETA 00:00"]
    # Work done in moments gets no line at all.
    assert show([examples_event(done, 50, done * 0.01) for done in range(1, 51)]) == []
