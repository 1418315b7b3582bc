"""What `reformer train` says about its inputs before training: errors about the --val file name
--val, a --val file that is also training text or pairs given to a language model are warned
about, and --prepare-only needs no device."""

import json
from pydoc_data.topics import topics

import pytest
import torch
from cli_runs import TINY_TRAIN_FLAGS, run_cli, write_pydoc_corpus

TINY = TINY_TRAIN_FLAGS


@pytest.fixture
def workspace(cli_workspace):
    write_pydoc_corpus(cli_workspace, 20_000)
    return cli_workspace


def prepare(capsys, *args):
    """`reformer train ... --prepare-only`: reads and checks every input, trains nothing."""
    return run_cli(capsys, "train", *TINY, *args, "--prepare-only", "--data-cache", "cache")


def warnings_in(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning:")]


def write_pairs(path):
    records = [{"document": topics[key], "summary": topics[key][:100]} for key in sorted(topics)[:40]]
    path.write_text("\n".join(json.dumps(record) for record in records))


def test_an_empty_val_file_is_named_as_the_val_file(workspace, capsys):
    (workspace / "empty.txt").write_text("")
    code, _, err = prepare(capsys, "corpus.txt", "--val", "empty.txt")
    assert code == 2
    assert err.strip().splitlines() == ["error: --val: empty.txt is empty; give a file with text in it"]
    write_pairs(workspace / "pairs.jsonl")
    code, _, err = prepare(capsys, "pairs.jsonl", "--task", "extract", "--val", "empty.txt")
    assert code == 2 and err.startswith("error: --val: empty.txt holds no document/summary pairs")


def test_val_text_that_is_also_training_text_is_warned_about(workspace, capsys):
    (workspace / "texts").mkdir()
    (workspace / "texts" / "a.txt").write_text((workspace / "corpus.txt").read_text())
    for corpus, val in (("corpus.txt", "corpus.txt"), ("texts", "texts/a.txt")):
        code, _, err = prepare(capsys, corpus, "--val", val)
        assert code == 0, err
        [warning] = warnings_in(err)
        assert warning.startswith(f"warning: --val {val} is also training text (in {corpus})")
    (workspace / "held-out.txt").write_text(topics[sorted(topics)[-1]])
    code, _, err = prepare(capsys, "corpus.txt", "--val", "held-out.txt")
    assert code == 0 and warnings_in(err) == []


def test_pairs_given_to_a_language_model_are_warned_about(workspace, capsys):
    write_pairs(workspace / "pairs.jsonl")
    code, _, err = prepare(capsys, "pairs.jsonl")
    assert code == 0, err
    assert warnings_in(err) == [
        "warning: pairs.jsonl looks like summarization pairs; --task lm trains on its JSON text "
        "(pass --task summarize or --config extract to learn from the pairs)"]
    code, _, err = prepare(capsys, "corpus.txt")
    assert code == 0 and warnings_in(err) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_prepare_only_needs_no_device(workspace, capsys):
    code, _, err = prepare(capsys, "corpus.txt", "--set", "train.device=cuda",
                           "--set", "train.precision=bf16")
    assert code == 0, err
    assert "tokens:" in err


def test_a_lowered_vocabulary_is_said_before_the_error_it_explains(cli_workspace, capsys):
    # The error's token count is in the lowered vocabulary's tokens, so the warning that
    # explains it must come first.
    write_pydoc_corpus(cli_workspace, 3_000)
    code, _, err = run_cli(capsys, "train", "corpus.txt", "--prepare-only", "--data-cache", "cache")
    assert code == 2
    warning, error = err.strip().splitlines()
    assert warning.startswith("warning: the corpus is too small for a 4000-token vocabulary; using ")
    assert error.startswith("error: the training text has ") and "fewer than one window" in error
