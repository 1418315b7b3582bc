"""Where a command's product goes when --output names a file.

It is written beside the file under a temporary name and renamed over it at the end, so a
failure never leaves half a file or destroys the one that was there; and it may never be one of
the command's own inputs, which the first write would empty.
"""

from __future__ import annotations

import os
import stat
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence, TextIO

from reformer_cli.errors import InputError

STDIN = "-"


def check_output_path(output: Path, inputs: Sequence[str] = (), flag: str = "--output") -> None:
    """A one-line error when `output` is a folder or the same file as one of `inputs`."""
    if output.is_dir():
        raise InputError(f"{flag} {output} is a folder", "give a file name")
    if not output.exists():
        return
    for name in inputs:
        if name != STDIN and Path(name).exists() and os.path.samefile(output, name):
            raise InputError(f"{flag} {output} is the input file {name}; writing it would "
                             "destroy the input", "write to another file")


def _is_stream(path: Path) -> bool:
    """A device, FIFO or socket (/dev/stdout, /dev/null, a named pipe): written in place, since
    a rename would put a regular file where it was."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


@contextmanager
def replacing_file(output: Path, inputs: Sequence[str] = (),
                   keep_on_interrupt: bool = False) -> Iterator[TextIO]:
    """A text file that replaces `output` when the block ends normally (or with Ctrl-C when
    `keep_on_interrupt`: text already produced is what the user asked for). An error inside the
    block leaves `output` as it was."""
    check_output_path(output, inputs)
    if _is_stream(output):  # stat follows links: /dev/stdout is one to a pipe or a terminal
        with _opened(output) as stream:
            yield stream
        return
    output = Path(os.path.realpath(output))  # through a symlink: replace its target, keep the link
    temp = output.with_name(f".{output.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        file = open(temp, "w", encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot write {output}: {error.strerror}",
                         "check the folder exists and is writable") from None
    commit = False
    try:
        with file:
            try:
                yield file
            except KeyboardInterrupt:
                commit = keep_on_interrupt
                raise
            commit = True
    finally:
        if commit:
            _replace(temp, output)
        else:
            temp.unlink(missing_ok=True)


def _opened(output: Path) -> TextIO:
    try:
        return open(output, "w", encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot write {output}: {error.strerror}",
                         "check it is writable") from None


def _replace(temp: Path, output: Path) -> None:
    try:
        if output.exists():  # the replacement keeps the permissions of the file it replaces
            os.chmod(temp, stat.S_IMODE(output.stat().st_mode))
        os.replace(temp, output)
    except OSError as error:
        temp.unlink(missing_ok=True)
        raise InputError(f"cannot write {output}: {error.strerror}",
                         "check the folder is writable") from None


def write_text_file(output: Path, text: str, inputs: Sequence[str] = (), flag: str = "--output") -> None:
    check_output_path(output, inputs, flag)
    with replacing_file(output, inputs) as file:
        file.write(text)
