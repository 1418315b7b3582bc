"""The tool's own exceptions. Each carries an exit code and a hint that says how to fix it.

The CLI turns any of these into one line on stderr (no traceback unless --debug). Exit codes
(README, "Exit codes"): 1 an internal error or a missing optional dependency, 2 bad input (a
usage error, a config value, an input file), 3 a model or checkpoint not found or unreadable,
4 a resource (no such device, a run folder another process trains, a full disk), 130
interrupted (training saves a checkpoint first).
"""


class ReformerError(Exception):
    """Base class: a problem the user can fix. `hint` says how."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = self.message.rstrip(". ")
        if self.hint:
            text += f"; {self.hint.rstrip('.')}"
        return " ".join(text.split())  # never more than one line


class MissingDependency(ReformerError):
    """An optional package a feature needs is not installed; the hint says what to install."""

    exit_code = 1


class ConfigError(ReformerError):
    """A config key that is unknown, of the wrong type or out of range."""

    exit_code = 2


class InputError(ReformerError):
    """Unreadable, empty or malformed input text or arguments."""

    exit_code = 2


class CheckpointError(ReformerError):
    """A checkpoint that is missing, corrupt, truncated or from an incompatible version."""

    exit_code = 3


class ResourceError(ReformerError):
    """Not enough memory, an unavailable device, or a time limit hit."""

    exit_code = 4


def no_such_file(name: str) -> InputError:
    """The one wording of an input path that is not there, in every command."""
    return InputError(f"no such file: {name}", "check the path")
