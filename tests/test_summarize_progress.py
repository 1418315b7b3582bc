"""Progress while the learned method reads a long document: the core's (done, total) callback,
the CLI's silence off a terminal, and the transient bar on one."""

import io
import json
import os
import pty
import subprocess
import sys
import threading
from pathlib import Path
from pydoc_data.topics import topics

import numpy as np
import pytest
from rich.console import Console

from reformer_cli.commands.reading_progress import ReadingProgress

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(PYTHON) if PYTHON.exists() else sys.executable
DOCUMENT = "\n\n".join(topics[key] for key in sorted(topics)[:3])  # ~60 windows of 64 bytes


@pytest.fixture(scope="module")
def scorer_root(tmp_path_factory):
    """models/scorer: a tiny --task extract checkpoint reading 64-byte windows; doc.txt."""
    from tiny_models import save_tiny_model

    root = tmp_path_factory.mktemp("scorer")
    save_tiny_model(root, "scorer", task="extract", seq_len=64)
    (root / "doc.txt").write_text(DOCUMENT, encoding="utf-8")
    return root


def test_the_scorer_reports_every_batch_and_ends_at_the_number_of_windows(scorer_root):
    from reformer_cli.data.extraction import marked_windows
    from reformer_cli.summarize.learned import WINDOWS_PER_BATCH, load_scorer, score_sentences
    from reformer_cli.summarize.scoring import candidate_indexes
    from reformer_cli.text.sentences import split_sentences

    loaded = load_scorer(scorer_root / "models" / "scorer" / "final")
    sentences = split_sentences(DOCUMENT)
    candidates = candidate_indexes(sentences)
    n_windows = len(marked_windows(sentences, candidates, loaded.tokenizer, 64))
    assert n_windows > 2 * WINDOWS_PER_BATCH
    calls = []
    reported = score_sentences(loaded.model, loaded.tokenizer, sentences, candidates, 64,
                               progress=lambda done, total: calls.append((done, total)))
    dones = [done for done, _ in calls]
    assert {total for _, total in calls} == {n_windows}
    assert dones[-1] == n_windows and dones == sorted(set(dones))
    assert all(0 < now - before <= WINDOWS_PER_BATCH for before, now in zip([0] + dones, dones))
    assert len(calls) == -(-n_windows // WINDOWS_PER_BATCH)  # one call a batch
    silent = score_sentences(loaded.model, loaded.tokenizer, sentences, candidates, 64)
    assert np.array_equal(reported, silent)


def test_the_summarizer_passes_progress_to_the_learned_method(scorer_root):
    from reformer_cli.summarize.methods import summarizer
    from reformer_cli.summarize.selection import Budget
    from reformer_cli.summarize.summary import SummarizeOptions

    summarize = summarizer("learned", scorer_root / "models" / "scorer" / "final", "cpu")
    options = SummarizeOptions(budget=Budget(sentences=2))
    calls = []
    told = summarize(DOCUMENT, options, lambda done, total: calls.append((done, total)))
    assert len(calls) >= 2 and calls[-1][0] == calls[-1][1]
    assert told.text == summarize(DOCUMENT, options).text


def run_summarize(root, *args, stderr_terminal: bool):
    """(returncode, stdout, stderr) of `reformer summarize doc.txt --model scorer ARGS`, its
    stderr a pseudo-terminal or a pipe; stdout is always a pipe."""
    command = [PYTHON, "-m", "reformer_cli", "summarize", "doc.txt", "--model", "scorer",
               "--device", "cpu", *map(str, args)]
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "120"}
    if not stderr_terminal:
        result = subprocess.run(command, capture_output=True, cwd=root, env=env, timeout=120)
        return result.returncode, result.stdout, result.stderr
    leader, follower = pty.openpty()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=follower, cwd=root,
                               env=env)
    os.close(follower)
    chunks = []

    def drain():
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the child closed the terminal
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    stdout, _ = process.communicate(timeout=120)
    reader.join(timeout=10)
    os.close(leader)
    return process.returncode, stdout, b"".join(chunks)


def test_progress_shows_on_a_terminal_and_never_elsewhere_and_stdout_is_the_same(scorer_root,
                                                                               tmp_path):
    code, plain, notes = run_summarize(scorer_root, "--format", "json", stderr_terminal=False)
    assert code == 0, notes
    assert b"reading" not in notes and b"\x1b" not in notes
    assert notes.decode().splitlines() == ["summarize: learned method (model models/scorer/final)"]
    assert json.loads(plain)["method"] == "learned"
    code, shown, terminal = run_summarize(scorer_root, "--format", "json", stderr_terminal=True)
    assert code == 0, terminal
    assert b"summarize: doc.txt: reading " in terminal and b" windows" in terminal
    assert shown == plain
    target = tmp_path / "summary.json"
    code, empty, terminal = run_summarize(scorer_root, "--format", "json", "-o", target,
                                          stderr_terminal=True)
    assert code == 0, terminal
    assert b"summarize: doc.txt: reading " in terminal
    assert empty == b"" and target.read_bytes() == plain


def terminal_display():
    buffer = io.StringIO()
    return ReadingProgress(Console(file=buffer, force_terminal=True, width=100)), buffer


def test_the_bar_names_the_file_and_the_windows_read_then_goes():
    display, buffer = terminal_display()
    assert display.live
    with display:
        report = display.for_document("book.txt")
        report(48, 150)
        assert "summarize: book.txt: reading 48/150 windows" in buffer.getvalue()
        assert display.progress is not None
        report(150, 150)
        assert display.progress is None  # transient: gone when the document is read
    assert "reading 150/150 windows" in buffer.getvalue()


def test_a_document_read_in_one_batch_and_a_pipe_show_nothing():
    display, buffer = terminal_display()
    with display:
        display.for_document("short.txt")(5, 5)
    assert buffer.getvalue() == "" and display.progress is None
    piped = ReadingProgress(Console(file=io.StringIO()))
    assert not piped.live and piped.for_document("book.txt") is None


def test_several_documents_get_one_bar_each_in_turn():
    display, buffer = terminal_display()
    with display:
        first = display.for_document("a.txt")
        first(8, 20)
        second = display.for_document("b.txt")  # a failed first document left its bar
        second(8, 16)
        second(16, 16)
    text = buffer.getvalue()
    assert "a.txt: reading 8/20" in text and "b.txt: reading 16/16" in text
    assert display.progress is None


@pytest.mark.parametrize("label", ["/home/reader/library/classics/english/moby_dick.en.txt",
                                   "moby_dick.en.txt"])
def test_at_80_columns_the_bar_shows_the_name_the_time_and_ten_cells_of_bar(label):
    import re

    buffer = io.StringIO()
    display = ReadingProgress(Console(file=buffer, force_terminal=True, width=80))
    with display:
        display.for_document(label)(48, 270)
        frame = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buffer.getvalue()).split("\r")[-2]
    assert frame.startswith("summarize: moby_dick.en.txt: reading 48/270 windows ")
    assert "/home" not in buffer.getvalue()
    assert re.search(r" (-|\d):(--|\d\d):(--|\d\d) ", frame)  # the time, whole
    assert len(re.search(r"[━╸╺]+", frame).group()) >= 10


def test_a_long_name_is_cut_before_the_time_or_the_bar():
    import re

    buffer = io.StringIO()
    display = ReadingProgress(Console(file=buffer, force_terminal=True, width=80))
    with display:
        display.for_document("a_very_long_file_name_" * 5 + ".txt")(48, 270)
        frame = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buffer.getvalue()).split("\r")[-2]
    assert "…" in frame and re.search(r" (-|\d):(--|\d\d):(--|\d\d) ", frame)
    assert len(re.search(r"[━╸╺]+", frame).group()) >= 10 and len(frame) <= 80
