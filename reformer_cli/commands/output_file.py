"""Where a command's product goes when --output names a file.

It is written beside the file under a temporary name and renamed over it at the end, so a
failure never leaves half a file or destroys the one that was there; and it may never be one of
the command's own inputs, which the first write would empty. `-` is stdout; a stream (a path
into /dev or /proc such as /dev/stdout, a FIFO, a terminal) is written in place, never replaced.
"""

from __future__ import annotations

import os
import re
import stat
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence, TextIO

from reformer_cli.errors import InputError

STDIN = "-"
STDOUT = "-"
STREAM_FOLDERS = ("/dev", "/proc")
# /dev/stdout, /dev/fd/3, /proc/self/fd/1: a descriptor of this process, written as it is, at its
# own offset; opening the path would open its file anew, truncated ("> log" loses what is there).
OWN_DESCRIPTOR = re.compile(r"/dev/(?:(?P<name>stdout|stderr)|fd/(?P<fd>\d+))"
                            r"|/proc/(?:self|thread-self|%d)/fd/(?P<proc_fd>\d+)" % os.getpid())


def check_output_path(output: Path, inputs: Sequence[str] = (), flag: str = "--output") -> None:
    """A one-line error when `output` is a folder or the same file as one of `inputs`."""
    if str(output) == STDOUT:
        return
    if output.is_dir():
        raise InputError(f"{flag} {output} is a folder", "give a file name")
    if not output.exists():
        return
    for name in inputs:
        if name != STDIN and Path(name).exists() and os.path.samefile(output, name):
            raise InputError(f"{flag} {output} is the input file {name}; writing it would "
                             "destroy the input", "write to another file")


def stream_path(path: Path) -> str | None:
    """The path to write in place, or None for a file to replace: the first path into /dev or
    /proc on the way through `path`'s links (/dev/stdout of a `> log` is a link to log, whose
    replacement would lose what the shell wrote before and after), else `path` when it is a
    device, FIFO or socket (a rename would put a regular file where it was)."""
    hop = os.path.abspath(path)
    for _ in range(40):  # the kernel's own limit on links followed
        hop = os.path.join(os.path.realpath(os.path.dirname(hop)), os.path.basename(hop))
        if any(hop == folder or hop.startswith(folder + "/") for folder in STREAM_FOLDERS):
            return hop
        if not os.path.islink(hop):
            break
        hop = os.path.join(os.path.dirname(hop), os.readlink(hop))
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    return None if stat.S_ISREG(mode) or stat.S_ISDIR(mode) else str(path)


@contextmanager
def replacing_file(output: Path, inputs: Sequence[str] = (),
                   keep_on_interrupt: bool = False) -> Iterator[TextIO]:
    """A text file that replaces `output` when the block ends normally (or with Ctrl-C when
    `keep_on_interrupt`: text already produced is what the user asked for). An error inside the
    block leaves `output` as it was."""
    check_output_path(output, inputs)
    if str(output) == STDOUT:
        yield sys.stdout
        sys.stdout.flush()
        return
    stream = stream_path(output)
    if stream is not None:
        with _opened(stream) as sink:
            yield sink
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


def _opened(stream: str) -> TextIO:
    """`stream` open for writing: a descriptor of ours as itself (duplicated, so closing it
    leaves it open), any other path opened."""
    own = OWN_DESCRIPTOR.fullmatch(stream)
    try:
        if own is None:
            return open(stream, "w", encoding="utf-8")
        name = own.group("name")
        descriptor = {"stdout": 1, "stderr": 2}[name] if name else int(own.group("fd") or
                                                                        own.group("proc_fd"))
        for standard in (sys.stdout, sys.stderr):  # what they hold goes first
            standard.flush()
        return os.fdopen(os.dup(descriptor), "w", encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot write {stream}: {error.strerror}",
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
