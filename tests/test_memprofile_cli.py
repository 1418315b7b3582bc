"""`reformer memprofile` end to end: bad lengths are one line; JSON/CSV hold every row marked."""

import csv
import json
import subprocess
import sys

import pytest


def run_cli(*args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reformer_cli", "memprofile", *args],
                          capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize("args, words", [
    (["--seq-len", "0"], ["--seq-len=0 is out of range; it must be >= 2"]),
    (["--seq-len", "-4096"], ["--seq-len=-4096 is out of range; it must be >= 2"]),
    (["--sweep", "4096,1"], ["--sweep=4096,1 is out of range; each length must be >= 2"]),
    (["--seq-len", "lots"], ["--seq-len", "'lots'", "whole number"]),
    (["--seq-len", "262144"], ["262144", "max_seq_len=131072"]),
    (["--sweep", "1024,x,4096"], ["--sweep", "'x'"]),
    (["--seq-len", "1024", "--set", "model.max_seq_len=512"], ["1024", "max_seq_len=512"]),
])
def test_bad_lengths_are_one_clear_line_and_nonzero_exit(args, words):
    assert_one_line_error(run_cli(*args, timeout=60), *words)


def test_the_shortest_length_named_is_the_one_accepted():
    # 0 and 1 get the same line: the hint names the real minimum (data.seq_len >= 2)
    for length in ("0", "1"):
        result = run_cli("--seq-len", length, timeout=60)
        assert result.returncode == 2
        assert result.stderr == f"error: --seq-len={length} is out of range; it must be >= 2\n"


def test_a_batch_size_below_one_is_our_one_line_error_not_a_usage_block():
    result = run_cli("--batch-size", "0", timeout=60)
    assert result.returncode == 2
    assert result.stderr == "error: --batch-size=0 is out of range; it must be >= 1\n"


def test_the_devices_help_lists_are_the_ones_it_takes():
    """mps is a device (DEVICE_NAMES) but not one memprofile measures on: its help does not
    list it, and it is refused at once, on any machine, as an unknown name is."""
    assert "auto|cpu|cuda|cuda:N " in run_cli("--help", timeout=60).stdout
    result = run_cli("--device", "mps", timeout=60)
    assert (result.returncode, result.stderr) == (
        4, "error: memprofile measures on cpu or cuda, not mps; use --device cpu\n")
    result = run_cli("--device", "tpu", timeout=60)
    assert (result.returncode, result.stderr) == (
        2, "error: device 'tpu' is not a device; use auto, cpu, cuda, cuda:N or mps\n")


def test_an_output_path_that_cannot_be_written_fails_before_measuring(tmp_path):
    # a folder, or a file in a missing folder: one line at once, not after minutes of rows
    for args in (["--json", str(tmp_path)], ["--csv", str(tmp_path / "absent" / "rows.csv")]):
        result = run_cli("--seq-len", "256", *args, timeout=60)
        assert_one_line_error(result, "cannot write" if "--csv" in args else "--json")
        assert "memprofile:" not in result.stderr  # no row was started


def test_plot_without_matplotlib_says_how_to_install_it(tmp_path):
    try:
        import matplotlib  # noqa: F401
        pytest.skip("matplotlib is installed here")
    except ImportError:
        pass
    result = run_cli("--seq-len", "256", "--plot", str(tmp_path / "peak.png"), timeout=60)
    assert_one_line_error(result, "matplotlib", "pip install matplotlib")


TINY = ["--set", "model.vocab_size=300", "--set", "model.d_model=64", "--set", "model.n_heads=8",
        "--set", "model.d_ff=128", "--set", "model.n_layers=2"]


def test_tiny_memory_limit_estimates_every_row_and_json_parses(tmp_path):
    json_path, csv_path = tmp_path / "rows.json", tmp_path / "rows.csv"
    result = run_cli("--sweep", "1024,2048", *TINY, "--memory-limit", "0.0001",
                     "--json", str(json_path), "--csv", str(csv_path))
    assert result.returncode == 0, result.stderr
    document = json.loads(json_path.read_text())
    assert len(document["rows"]) == 10
    assert {row["source"] for row in document["rows"]} == {"estimated"}
    assert document["header"]["config"]["d_model"] == 64
    assert "estimated" in result.stdout and "L = 2048" in result.stdout
    assert len(list(csv.DictReader(csv_path.open()))) == 10
    # Piped, nothing wraps: the config is one line, and no cell is cut with "…".
    assert any("d_model 64" in line and "ff/loss chunks" in line for line in result.stdout.splitlines())
    assert "…" not in result.stdout


@pytest.mark.slow
def test_json_marks_measured_and_estimated_rows(tmp_path):
    # At L=1024 with 8 heads the naive score matrices need ~0.2 GiB: over a 0.1 GiB budget,
    # while the other rows of this tiny model need a few MiB and are measured.
    json_path = tmp_path / "rows.json"
    result = run_cli("--seq-len", "1024", *TINY, "--memory-limit", "0.1",
                     "--json", str(json_path))
    assert result.returncode == 0, result.stderr
    rows = {row["index"]: row for row in json.loads(json_path.read_text())["rows"]}
    assert sorted(rows) == [1, 2, 3, 4, 5]
    assert rows[1]["source"] == "estimated" and rows[1]["status"] == "over-memory"
    for index in (2, 3, 4, 5):
        assert rows[index]["source"] == "measured", rows[index]
        assert rows[index]["peak_bytes"] > rows[index]["param_bytes"]
        assert rows[index]["model_error"] is not None
    assert "measured" in result.stdout and "memory model vs measurement" in result.stdout


@pytest.mark.parametrize("config, settings, vocabulary", [
    (None, [], 4000),  # what a default `reformer train` builds (data.vocab_size)
    (None, ["data.tokenizer=byte"], 258),
    ("extract", [], 8000),
    (None, ["data.vocab_size=1000"], 1000),
    (None, ["model.vocab_size=300"], 300),  # said outright: that one
])
def test_the_default_model_has_the_vocabulary_train_would_give_it(config, settings, vocabulary):
    from reformer_cli.commands.memprofile import load_model_config

    assert load_model_config(config, None, settings, 64).model.vocab_size == vocabulary


def test_help_and_report_say_which_model_is_profiled(tmp_path):
    help_text = " ".join(run_cli("--help", timeout=60).stdout.replace("│", " ").split())
    assert "ModelConfig" not in help_text
    assert "[default: (the model `reformer train` builds by default, vocabulary 4,000)]" in help_text
    result = run_cli("--seq-len", "64", "--memory-limit", "0.0001", timeout=120)
    assert result.returncode == 0, result.stderr
    assert ("config (the model `reformer train` builds by default): d_model 256, 4 layers "
            "['local', 'lsh'], 4 heads, d_ff 1024, vocab 4000") in result.stdout
