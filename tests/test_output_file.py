"""--output as a stream: `-` is stdout, and a path into /dev or /proc (/dev/stdout of a shell's
`> log`), a FIFO or a terminal is written in place, never replaced by a rename."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reformer_cli.commands.output_file import replacing_file, stream_path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(PYTHON) if PYTHON.exists() else sys.executable
ENGLISH = ("The committee met on Monday to discuss the budget for next year. Members agreed that "
           "spending on roads should rise. The chair said a final vote would take place in March.\n")
SUMMARY = "The committee met on Monday to discuss the budget for next year.\n"
SUMMARIZE = f"'{PYTHON}' -m reformer_cli summarize doc.txt --method extractive --sentences 1"


@pytest.fixture()
def folder(tmp_path):
    (tmp_path / "doc.txt").write_text(ENGLISH, encoding="utf-8")
    return tmp_path


def shell(script: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", script], capture_output=True, cwd=cwd, timeout=120)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
@pytest.mark.parametrize("output", ["/dev/stdout", "/proc/self/fd/1", "/dev/fd/1"])
def test_a_redirected_stdout_keeps_what_the_shell_wrote_around_the_summary(folder, output):
    result = shell(f'(echo "line before"; {SUMMARIZE} -o {output}; echo "line after") > log1.txt',
                   folder)
    assert result.returncode == 0, result.stderr
    assert (folder / "log1.txt").read_text(encoding="utf-8") == (
        f"line before\n{SUMMARY}line after\n")


def test_a_link_to_dev_stdout_is_written_through_not_replaced(folder):
    (folder / "latest").symlink_to("/dev/stdout")
    result = shell(f'(echo before; {SUMMARIZE} -o latest; echo after) >> log.txt', folder)
    assert result.returncode == 0, result.stderr
    assert (folder / "log.txt").read_text(encoding="utf-8") == f"before\n{SUMMARY}after\n"
    assert os.readlink(folder / "latest") == "/dev/stdout"


def test_dash_is_stdout_and_creates_no_file(folder):
    result = shell(f"{SUMMARIZE} -o -", folder)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == SUMMARY
    assert sorted(path.name for path in folder.iterdir()) == ["doc.txt"]


def test_what_is_a_stream(tmp_path):
    regular = tmp_path / "file.txt"
    regular.write_text("x", encoding="utf-8")
    (tmp_path / "to-stdout").symlink_to("/dev/stdout")
    (tmp_path / "to-file").symlink_to(regular)
    os.mkfifo(tmp_path / "fifo")
    assert stream_path(regular) is None and stream_path(tmp_path / "new.txt") is None
    assert stream_path(tmp_path / "to-file") is None  # replaced through the link, as before
    assert stream_path(Path("/dev/stdout")) == "/dev/stdout"
    assert stream_path(tmp_path / "to-stdout") == "/dev/stdout"
    assert stream_path(tmp_path / "fifo") == str(tmp_path / "fifo")
    assert stream_path(Path("/dev/null")) == "/dev/null"


def test_dash_in_replacing_file_is_stdout(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with replacing_file(Path("-")) as sink:
        sink.write("to stdout\n")
    assert capsys.readouterr().out == "to stdout\n"
    assert list(tmp_path.iterdir()) == []
