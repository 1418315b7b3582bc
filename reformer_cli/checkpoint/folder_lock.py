"""The lock that makes a process the only writer of a run folder (files/locks.py)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from reformer_cli.checkpoint.layout import RUN_LOCK_FILE
from reformer_cli.errors import InputError, ResourceError
from reformer_cli.files.locks import exclusive_lock, lock_holder


@contextmanager
def run_folder_lock(run_dir: Path) -> Iterator[None]:
    """Make this process the only one writing `run_dir` (created if missing) for the body. A
    second process fails at once: two runs writing one folder would prune each other's
    checkpoints and mix their metrics."""
    lock_file = run_dir / RUN_LOCK_FILE

    def busy() -> None:
        pid = lock_holder(lock_file)
        holder = f" (pid {pid})" if pid is not None else ""
        raise ResourceError(f"{run_dir} is being trained by another process{holder}",
                            "wait for it to finish, or choose another --out")

    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"cannot create the run folder {run_dir}: {error.strerror}",
                         "check the folder's permissions, or choose another --out") from None
    with exclusive_lock(lock_file, busy):
        try:
            yield
        finally:  # deleted while still held (exclusive_lock copes): a finished run leaves no trace
            lock_file.unlink(missing_ok=True)
