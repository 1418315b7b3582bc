"""The command frame: version, help speed, and one-line errors without tracebacks."""

import subprocess
import sys
import time

import pytest

from reformer_cli import __version__
from reformer_cli.errors import ConfigError, InputError


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reformer_cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_version_prints_package_version():
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"reformer {__version__}"


def test_help_lists_every_subcommand_and_does_not_import_torch():
    code = ("import sys; from reformer_cli.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('TORCH_LOADED' if 'torch' in sys.modules else 'TORCH_ABSENT')")
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    for command in ("train", "continue", "summarize", "memprofile"):
        assert command in result.stdout
    assert "TORCH_ABSENT" in result.stdout
    assert elapsed < 5.0  # generous bound for a shared CI machine; typically ~0.3 s


def test_unknown_subcommand_is_a_usage_error_without_traceback():
    result = run_cli("no-such-command")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("error, code", [(ConfigError("bad key x", "use y"), 2),
                                         (InputError("empty file a.txt"), 2)])
def test_reformer_errors_become_one_line(error, code):
    assert error.exit_code == code
    line = error.one_line()
    assert "\n" not in line and line.startswith(error.message.rstrip("."))


def test_multiline_messages_are_folded_into_one_line():
    error = InputError("first line\nsecond line", "fix it\nnow")
    assert error.one_line() == "first line second line; fix it now"
