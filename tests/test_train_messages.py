"""What `reformer train` says, in-process through the CLI: a small or repetitive corpus trains
with the vocabulary it can fill and the advice in the warning works as written; a sentence
scorer's evaluation is in its own terms; a bad flag value is named as typed; a missing or
undecodable file is worded as in every command; a folder's skipped files are counted."""

import json
import os
import random
import re
import signal
from pathlib import Path

import pytest
import yaml
from cli_runs import TINY_TRAIN_FLAGS, read_metrics, run_cli

# The tiny model with a SentencePiece tokenizer (the default) instead of bytes.
SENTENCEPIECE = [flag for flag in TINY_TRAIN_FLAGS if flag not in ("--tokenizer", "byte")]
ADVICE = re.compile(r"\((--vocab-size (\d+)) silences this\)$")


def number_list() -> str:
    """`seq 1 20000`: eleven distinct characters, far too few pieces for 4,000."""
    return "".join(f"{number}\n" for number in range(1, 20001))


def repeated_paragraph() -> str:
    return ("The quick brown fox jumps over the lazy dog. It was a sunny day and everyone was "
            "happy.\n") * 300


def trained_vocabulary(run: str) -> int:
    config = yaml.safe_load((Path(run) / "final" / "config.yaml").read_text())
    assert config["model"]["vocab_size"] == config["data"]["vocab_size"]
    return config["model"]["vocab_size"]


@pytest.mark.parametrize("make_corpus", [number_list, repeated_paragraph])
def test_a_small_corpus_trains_with_the_lowered_vocabulary_and_the_advice_works(
        cli_workspace, capsys, make_corpus):
    Path("corpus.txt").write_text(make_corpus())
    code, _, err = run_cli(capsys, "train", "corpus.txt", *SENTENCEPIECE, "--steps", 1,
                           "--out", "lowered")
    assert code == 0, err
    [warning] = [line for line in err.splitlines() if line.startswith("warning:")]
    assert warning.startswith("warning: the corpus is too small for a 4000-token vocabulary; using ")
    flag, size = ADVICE.search(warning).groups()
    assert trained_vocabulary("lowered") == int(size) < 300  # below the floor of old
    code, _, err = run_cli(capsys, "train", "corpus.txt", *SENTENCEPIECE, "--steps", 1,
                           *flag.split(), "--out", "advised")
    assert code == 0, err
    assert "warning" not in err and trained_vocabulary("advised") == int(size)


def test_a_vocabulary_below_what_the_corpus_needs_names_the_size_that_works(cli_workspace, capsys):
    Path("numbers.txt").write_text(number_list())
    code, _, err = run_cli(capsys, "train", "numbers.txt", *SENTENCEPIECE, "--steps", 1,
                           "--vocab-size", 265, "--out", "small")
    assert code == 2 and err == (
        "error: data.vocab_size=265 is too small for this corpus: SentencePiece needs 270 pieces "
        "for it (256 bytes, 3 special tokens, 11 characters); pass --vocab-size 270 or more\n")
    code, _, err = run_cli(capsys, "train", "numbers.txt", *SENTENCEPIECE, "--steps", 1,
                           "--vocab-size", 270, "--out", "enough")
    assert code == 0, err
    assert not Path("small").exists()


def test_a_corpus_no_sentencepiece_vocabulary_fits_points_to_the_byte_tokenizer(
        cli_workspace, capsys, monkeypatch):
    """SentencePiece offers at most 280 pieces, then wants 290: no size can work."""
    import sentencepiece

    answers = iter(["Vocabulary size too high (4000). Please set it to a value <= 280.",
                    "Vocabulary size is smaller than required_chars. 280 vs 290. Increase "
                    "vocab_size or decrease character_coverage"])

    def train(**settings):
        raise RuntimeError(f"INTERNAL: src/trainer_interface.cc(1) [...] {next(answers)}")

    monkeypatch.setattr(sentencepiece.SentencePieceTrainer, "train", train)
    Path("corpus.txt").write_text(repeated_paragraph())
    code, _, err = run_cli(capsys, "train", "corpus.txt", *SENTENCEPIECE, "--steps", 1)
    lines = err.splitlines()
    assert code == 2 and lines[-1] == (
        "error: no SentencePiece vocabulary fits this corpus: it needs 290 pieces (256 bytes, 3 "
        "special tokens, 31 characters) but can fill only 280; train with --tokenizer byte "
        "instead")
    assert lines[0].startswith("warning: the corpus is too small")  # said before it failed


FILLER = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda omicron".split()


def test_a_sentence_scorer_reports_accuracy_and_ranking_not_perplexity(cli_workspace, capsys):
    rng = random.Random(0)
    with open("pairs.jsonl", "w") as file:
        for _ in range(40):
            sentences = [" ".join(rng.choice(FILLER) for _ in range(6)).capitalize() + "."
                         for _ in range(8)]
            file.write(json.dumps({"document": " ".join(sentences),
                                   "summary": rng.choice(sentences)}) + "\n")
    code, _, err = run_cli(capsys, "train", "pairs.jsonl", "--config", "extract", *TINY_TRAIN_FLAGS,
                           "--steps", 2, "--set", "train.time_budget=null", "--set",
                           "train.eval_every=1", "--set", "data.val_fraction=0.2", "--out", "scorer")
    assert code == 0, err
    said = [line for line in err.splitlines() if line.startswith(("eval at step", "done ("))]
    assert [line.split(":")[0] for line in said] == [
        "eval at step 1", "eval at step 2", "done (steps) at step 2 after 00"]
    for line in said:
        assert re.search(r": val loss \d+\.\d{4}, keep/skip accuracy \d+\.\d% \(always skip: "
                         r"\d+\.\d%\), oracle picks in the top k \d+\.\d% \(chance \d+\.\d%\) "
                         r"over \d+ sentences", line), line
        assert "perplexity" not in line and "bits" not in line
    end = read_metrics("scorer")[-1]
    assert end["kind"] == "end" and 0 <= end["val_accuracy"] <= 1
    assert 0 < end["val_keep_share"] < 0.5  # one sentence of eight: the baseline is always skip
    assert f"(always skip: {1 - end['val_keep_share']:.1%})" in said[-1]
    assert 0 < end["val_picks_in_top_k_chance"] <= 1 and 0 <= end["val_picks_in_top_k"] <= 1
    assert not {"val_perplexity", "val_bits_per_sentence"} & set(end)


@pytest.mark.parametrize("args, line", [
    (["--steps", 0], "error: --steps=0 is out of range; it must be >= 1"),
    (["--batch-size", 0], "error: --batch-size=0 is out of range; it must be >= 1"),
    (["--seq-len", 1], "error: --seq-len=1 is out of range; it must be >= 2"),
    (["--vocab-size", 100], "error: --vocab-size=100 is out of range; it must be in [260, 1000000]"),
    (["--set", "train.steps=0"], "error: train.steps=0 is out of range; it must be >= 1 (set in --set)"),
    (["--set", "train.min_lr_ratio=2"],
     "error: train.min_lr_ratio=2 is out of range; it must be in [0.0, 1.0] (set in --set)"),
    (["--set", "train.time_budget=0"], "error: train.time_budget=0 is out of range; it must be "
                                       "seconds > 0 (or null for no limit) (set in --set)"),
])
def test_a_bad_value_is_named_as_it_was_given(cli_workspace, capsys, args, line):
    Path("corpus.txt").write_text(repeated_paragraph())
    code, _, err = run_cli(capsys, "train", "corpus.txt", *args)
    assert (code, err) == (2, line + "\n")


def test_missing_and_undecodable_files_are_worded_as_in_every_command(cli_workspace, capsys):
    Path("corpus.txt").write_text(repeated_paragraph())
    Path("latin.txt").write_bytes("caf\xe9 au lait\n".encode("latin-1") * 20)
    code, _, summarize = run_cli(capsys, "summarize", "nosuch.txt")
    assert (code, summarize) == (2, "error: no such file: nosuch.txt; check the path\n")
    code, _, err = run_cli(capsys, "train", "nosuch.txt", *TINY_TRAIN_FLAGS)
    assert (code, err) == (2, summarize)
    code, _, err = run_cli(capsys, "train", "corpus.txt", "--val", "nosuch.txt", *TINY_TRAIN_FLAGS)
    assert (code, err) == (2, "error: --val: no such file: nosuch.txt; check the path\n")
    code, _, err = run_cli(capsys, "train", "latin.txt", *TINY_TRAIN_FLAGS)
    assert code == 2 and err.startswith("error: latin.txt is not valid UTF-8: byte 0xe9 at offset 3")
    Path("binary.txt").write_bytes(b"abc\x00def")
    Path("empty.txt").write_text("")
    Path("docs").mkdir()
    Path("docs/a.txt").write_text(repeated_paragraph())
    for name, line in (("binary.txt", "error: binary.txt looks binary (NUL byte at offset 3); "
                                      "pass a plain text file\n"),
                       ("empty.txt", "error: empty.txt is empty; give a file with text in it\n")):
        code, _, summarize = run_cli(capsys, "summarize", name)
        assert (code, summarize) == (2, line)
        code, _, err = run_cli(capsys, "train", name, *TINY_TRAIN_FLAGS)
        assert (code, err) == (2, summarize)
    code, _, summarize = run_cli(capsys, "summarize", "docs/a.txt", "--encoding", "foo")
    assert (code, summarize) == (2, "error: unknown encoding 'foo'; use e.g. utf-8, latin-1, gb18030\n")
    code, _, err = run_cli(capsys, "train", "corpus.txt", "--encoding", "foo", *TINY_TRAIN_FLAGS)
    assert (code, err) == (2, summarize)
    code, _, summarize = run_cli(capsys, "summarize", "docs/a.txt", "--device", "tpu")
    assert (code, summarize) == (2, "error: device 'tpu' is not a device; use auto, cpu, cuda, "
                                    "cuda:N or mps\n")
    code, _, err = run_cli(capsys, "train", "corpus.txt", "--device", "tpu", *TINY_TRAIN_FLAGS)
    assert (code, err) == (2, summarize)


def test_a_fifo_in_a_folder_is_skipped_unopened(cli_workspace, capsys):
    """Opening a FIFO waits for a writer: the folder's listing and its note must not."""
    Path("docs").mkdir()
    Path("docs/a.txt").write_text(repeated_paragraph())
    os.mkfifo("docs/pipe")

    def hung(*_):
        raise TimeoutError("train opened the FIFO")

    signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    try:
        code, _, err = run_cli(capsys, "train", "docs", *TINY_TRAIN_FLAGS, "--prepare-only",
                               "--out", "run")
    finally:
        signal.alarm(0)
    assert code == 0, err
    assert "note: skipped 1 file in docs/ (1 not a regular file); pass it by name to see why" \
        in err.splitlines()


def test_utf16_text_in_a_folder_is_skipped_as_what_it_is_as_when_named(cli_workspace, capsys):
    """Without --encoding utf-16, train reads no UTF-16 file: named, it is refused with the fix;
    in a folder, skipped and counted as UTF-16 text (not as binary)."""
    Path("docs").mkdir()
    Path("docs/a.txt").write_text(repeated_paragraph())
    Path("docs/wide.txt").write_bytes(repeated_paragraph().encode("utf-16"))  # with its mark
    code, _, err = run_cli(capsys, "train", "docs", *TINY_TRAIN_FLAGS, "--prepare-only",
                           "--out", "run")
    assert code == 0, err
    assert "note: skipped 1 file in docs/ (1 UTF-16 text); pass it by name to see why" \
        in err.splitlines()
    code, _, err = run_cli(capsys, "train", "docs/wide.txt", *TINY_TRAIN_FLAGS, "--prepare-only",
                           "--out", "run")
    assert code == 2 and "pass --encoding utf-16" in err, err


def test_the_files_a_folder_holds_that_are_not_text_are_counted_in_one_note(cli_workspace, capsys):
    docs = Path("docs")
    (docs / "deeper").mkdir(parents=True)
    (docs / "a.txt").write_text(repeated_paragraph())
    (docs / "deeper" / "b.txt").write_text(repeated_paragraph())
    (docs / "image.bin").write_bytes(b"\x00\x01\x02 not text")
    (docs / "deeper" / "data.dat").write_bytes(b"\x07\x00" * 50)
    (docs / "notes.txt.gz").write_bytes(b"\x1f\x8b\x08\x00 compressed")
    (docs / "placeholder.txt").write_text("")
    os.symlink("gone.txt", docs / "link.txt")
    (docs / ".cache").write_bytes(b"\x00hidden")  # hidden files are not counted
    code, _, err = run_cli(capsys, "train", "docs", *TINY_TRAIN_FLAGS, "--steps", 1, "--out", "run")
    assert code == 0, err
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert notes == ["note: skipped 5 files in docs/ (2 binary, 1 .gz, 1 broken link, 1 empty); "
                     "pass them by name to see why"]
    for name in ("image.bin", "notes.txt.gz", "link.txt", "placeholder.txt"):
        (docs / name).unlink()
    (docs / "deeper" / "data.dat").unlink()
    code, _, err = run_cli(capsys, "train", "docs", *TINY_TRAIN_FLAGS, "--steps", 1, "--out", "clean")
    assert code == 0 and "note:" not in err, err
