"""The command frame: version, help speed, and one-line errors without tracebacks."""

import subprocess
import sys

import pytest
from unreadable_file import HAS_UNREADABLE, NO_UNREADABLE, UNREADABLE

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
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for command in ("train", "continue", "summarize", "memprofile"):
        assert command in result.stdout
    assert "TORCH_ABSENT" in result.stdout


@pytest.mark.parametrize("args, fragment", [
    (["no-such-command"], "no such command 'no-such-command'; see `reformer --help`"),
    (["summarize", "--bogus"], "no such option: --bogus; see `reformer summarize --help`"),
    (["train", "corpus.txt", "--steps", "abc"], "invalid value for '--steps'"),
    (["continue"], "missing argument 'FILE'; see `reformer continue --help`"),
    (["train"], "missing argument 'PATH'; see `reformer train --help`"),
    (["memprofile", "--seq-len"], "option '--seq-len' requires an argument"),
    (["trian"], "error: no such command 'trian' (did you mean 'train'?); see `reformer --help`"),
    (["train", "x.txt", "--stpes", "3"],
     "error: no such option: --stpes (possible options: --set, --steps, --task); "
     "see `reformer train --help`"),
])
def test_usage_errors_are_one_line_naming_the_help(args, fragment):
    result = run_cli(*args)
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], lines


def test_bare_reformer_is_reformer_help():
    """The command list, on stdout with exit 0 exactly as `reformer --help`; nothing on stderr."""
    bare, asked = run_cli(), run_cli("--help")
    assert bare.returncode == 0 and bare.stderr == ""
    assert "Usage: reformer" in bare.stdout and bare.stdout == asked.stdout


@pytest.mark.parametrize("args, error, fragment", [
    (["train", "corpus.txt", "--set", "train.lrr=0.1"], ConfigError, "did you mean train.lr"),
    (["summarize", "absent.txt"], InputError, "no such file"),
    (["continue", "absent.txt", "--model", "absent-model"], InputError, "absent.txt"),
    pytest.param(["summarize", UNREADABLE], InputError, f"cannot read {UNREADABLE}",
                 marks=pytest.mark.skipif(not HAS_UNREADABLE, reason=NO_UNREADABLE)),
])
def test_reformer_errors_become_one_line(tmp_path, args, error, fragment):
    (tmp_path / "corpus.txt").write_text("some text\n" * 50)
    result = subprocess.run([sys.executable, "-m", "reformer_cli", *args], capture_output=True,
                            text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == error.exit_code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], lines
    assert result.stdout == ""
    debug = subprocess.run([sys.executable, "-m", "reformer_cli", "--debug", *args],
                           capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert "Traceback" in debug.stderr and error.__name__ in debug.stderr


def test_multiline_messages_are_folded_into_one_line():
    error = InputError("first line\nsecond line", "fix it\nnow")
    assert error.one_line() == "first line second line; fix it now"


def test_every_option_says_what_happens_when_it_is_left_out():
    """`reformer COMMAND --help` shows a default for every option that takes a value: its value,
    or, where that is None, what its absence means (`show_default` text)."""
    import typer.main

    from reformer_cli.cli import app

    silent = []
    for name, command in typer.main.get_command(app).commands.items():
        for param in command.params:
            takes_a_value = not (getattr(param, "is_flag", True) or param.multiple or param.required)
            if takes_a_value and param.default is None and not isinstance(param.show_default, str):
                silent.append(f"{name} {param.opts[0]}")
    assert silent == []


def test_train_device_help_names_cuda_n():
    result = run_cli("train", "--help")
    assert "auto|cpu|cuda|cuda:N|mps" in result.stdout


@pytest.mark.parametrize("command, usage", [
    ([], "Usage: reformer [OPTIONS] COMMAND [ARGS]..."),
    (["train"], "Usage: reformer train [OPTIONS] [PATH]..."),
    (["continue"], "Usage: reformer continue [OPTIONS] FILE"),
    (["eval"], "Usage: reformer eval [OPTIONS] FILE"),
    (["memprofile"], "Usage: reformer memprofile [OPTIONS]"),
])
def test_help_shows_plain_flags_and_usage_names(command, usage):
    """No type after a flag (`--version <bool>`) or an argument (`PATH <list[str]>`), and usage
    names as click writes them, not `{file}`."""
    result = run_cli(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert usage in result.stdout
    assert "<bool>" not in result.stdout and "<list[" not in result.stdout
    assert "{file}" not in result.stdout
