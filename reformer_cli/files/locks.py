"""Exclusive advisory locks (flock) on lock files: one process at a time prepares a shard folder
or writes a run folder.

The OS drops a flock when its holder exits, however it exits (kill -9 too), so a lock never
outlives its process. Without fcntl (Windows, not a target) nothing is locked.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

try:
    import fcntl
except ImportError:  # no flock on this platform: run unlocked rather than not at all
    fcntl = None


@contextmanager
def exclusive_lock(lock_file: Path, on_busy: Callable[[], None]) -> Iterator[None]:
    """Hold an exclusive lock on `lock_file` (created if missing) for the body; the holder's pid
    is written in it. When another process holds it, on_busy() runs first: it raises to give
    up, or returns to wait for the holder."""
    if fcntl is None:
        yield
        return
    while True:
        with open(lock_file, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                on_busy()
                fcntl.flock(handle, fcntl.LOCK_EX)
            if not _still_named(handle, lock_file):
                continue  # the holder deleted the file as it finished: lock the one now there
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            yield  # closing the file releases the lock
            return


def lock_holder(lock_file: Path) -> int | None:
    """The pid written in a lock file by its holder, or None."""
    try:
        return int(lock_file.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


def _still_named(handle, lock_file: Path) -> bool:
    """Whether `lock_file` still names the file `handle` has open (and now locks)."""
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.stat(lock_file))
    except FileNotFoundError:
        return False
