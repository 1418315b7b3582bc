"""The `reformer` command: wires subcommands together and turns our errors into one line.

Each subcommand lives in `reformer_cli/commands/<name>.py` and exposes `register(app)`.
Command modules import torch lazily inside the command function, so `reformer --help`
and the extractive `summarize` start fast.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import warnings
from pathlib import Path

import typer
from typer.core import TyperGroup

from reformer_cli import __version__
from reformer_cli.commands import messages
from reformer_cli.errors import ReformerError

COMMAND_MODULES = ("train", "continue_", "summarize", "memprofile", "eval")


class ReaderGone(Exception):
    """What a command writes to (stdout, or an --output pipe) was closed by its reader: `| head`
    has what it wanted."""


class _Commands(TyperGroup):
    """The subcommands, a closed pipe (EPIPE) becoming ReaderGone before click sees it: click
    would exit 1, the code of a bug, and say nothing."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise ReaderGone from None


app = typer.Typer(
    name="reformer",
    cls=_Commands,
    help="Train, continue and summarize long documents with a Reformer; measure its memory.",
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
    add_completion=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"reformer {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                 help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    """Long-document language modelling with a Reformer."""
    if debug:
        os.environ["REFORMER_DEBUG"] = "1"


for _name in COMMAND_MODULES:
    importlib.import_module(f"reformer_cli.commands.{_name}").register(app)


def debug_enabled() -> bool:
    return os.environ.get("REFORMER_DEBUG") == "1" or "--debug" in sys.argv[1:]


PACKAGE_DIR = Path(__file__).resolve().parent
_python_warning_line = warnings.showwarning


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """A warnings.warn of our core code (which never prints) as one `warning:` line on stderr,
    as `train` shows those of its data preparation; others' warnings as Python shows them."""
    if issubclass(category, UserWarning) and Path(filename).resolve().is_relative_to(PACKAGE_DIR):
        messages.note(f"warning: {message}")
    else:
        _python_warning_line(message, category, filename, lineno, file, line)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script: our errors are one line, never a traceback. Bare
    `reformer` is `reformer --help` (the command list on stdout, exit 0), as in git and pip."""
    args = list(sys.argv[1:] if argv is None else argv) or ["--help"]
    warnings.showwarning = _warning_line
    try:
        code = app(args=args, standalone_mode=False, prog_name="reformer")
        # Without standalone mode Typer *returns* the exit code of an Exit it caught; Ctrl-C
        # inside a command becomes Exit(130) that way.
        if isinstance(code, int) and code:
            if code == 130:
                messages.error("interrupted")
            sys.exit(code)
    except ReformerError as problem:
        if debug_enabled():
            raise
        messages.error(problem.one_line())
        sys.exit(problem.exit_code)
    except KeyboardInterrupt:
        messages.error("interrupted")
        sys.exit(130)
    except ReaderGone:
        _stop_writing_stdout()
        sys.exit(0)  # as with one document that fits the pipe: no error, so `set -o pipefail` holds
    except typer.Exit as done:  # raised by --version and friends
        sys.exit(done.exit_code)
    except Exception as error:  # click's usage errors and anything unexpected
        # Typer may vendor its own copy of click, so recognise click's exceptions by shape.
        if callable(getattr(error, "show", None)) and isinstance(getattr(error, "exit_code", None), int):
            messages.error(_usage_line(error))
            sys.exit(error.exit_code)
        if type(error).__name__ == "Abort":
            messages.error("aborted")
            sys.exit(130)
        if debug_enabled():
            raise
        messages.error(f"{type(error).__name__}: {error} (run with --debug for the traceback)")
        sys.exit(1)


def _stop_writing_stdout() -> None:
    """Points stdout at /dev/null, so the text still buffered for the closed pipe is dropped
    at exit rather than failing there (Python's exit code 120, "Exception ignored")."""
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (a test's capture)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, descriptor)
    os.close(devnull)


def _usage_line(error) -> str:
    """A click usage error (an unknown option, a value that is not a number, a missing argument,
    `reformer train` with no files...) as our one line, naming the command's help. Click's
    sentences become one clause: "No such command 'trian'. Did you mean 'train'?" reads
    "no such command 'trian' (did you mean 'train'?)"."""
    context = getattr(error, "ctx", None)  # None for a few parser errors: the top-level help
    command = context.command_path if context is not None else "reformer"
    message = " ".join(error.format_message().split())
    suggestion = re.fullmatch(r"(.*?)\.? Did you mean (.+\?)", message)
    if suggestion:
        message = f"{suggestion.group(1)} (did you mean {suggestion.group(2)})"
    message = message.replace("(Possible options:", "(possible options:").rstrip(".")
    return f"{message[:1].lower()}{message[1:]}; see `{command} --help`"


def _plain_help_names() -> None:
    """Typer (0.2x) writes a flag's help row as `--debug <bool>`, an argument's as
    `PATH <list[str]>` and a required argument in the usage line as `{file}`: flags and
    arguments get no type shown (the name says it), and usage names read as click writes them
    (FILE, [PATH]...). Older Typers, without those methods, are left as they are."""
    from typer.core import TyperArgument, TyperOption

    if hasattr(TyperOption, "display_type_rich"):
        shown_type = TyperOption.display_type_rich

        def display_type_rich(self, ctx):
            return None if self.is_flag and self.metavar is None else shown_type(self, ctx)

        TyperOption.display_type_rich = display_type_rich
    if hasattr(TyperArgument, "display_type_rich"):
        TyperArgument.display_type_rich = lambda self, ctx: None
    if hasattr(TyperArgument, "_usage_display_name"):
        def usage_name(self) -> str:
            name = self.metavar or self.name.upper()
            return (name if self.required else f"[{name}]") + ("..." if self.nargs != 1 else "")

        TyperArgument._usage_display_name = usage_name


_plain_help_names()
