"""`reformer summarize`'s progress on stderr while the learned method reads a long document.

On a terminal: a transient rich bar per document, `summarize: book.txt: reading 48/150 windows`
with its ETA, gone when the document is read, so what stays on screen is what was there without
it. A document read in one batch shows nothing (it is over before a bar would help). Elsewhere
(pipes, logs): nothing at all; the command's notes say what ran. stdout is never touched.
"""

from __future__ import annotations

from typing import Callable

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn


class ReadingProgress:
    """Hands out one (done, total) callback per document; use as a context manager so a bar
    left by a failing document is always closed."""

    def __init__(self, console: Console | None = None, live: bool | None = None):
        self.console = console or Console(stderr=True)
        self.live = self.console.is_terminal if live is None else live
        self.progress: Progress | None = None

    def __enter__(self) -> "ReadingProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def for_document(self, label: str) -> Callable[[int, int], None] | None:
        """The callback for the document called `label`, or None where nothing is shown."""
        if not self.live:
            return None
        self.close()  # the previous document's bar, should it not have finished
        task = None

        def report(done: int, total: int) -> None:
            nonlocal task
            if task is None and done >= total:
                return  # read in one batch
            text = f"summarize: {label}: reading {done}/{total} windows"
            if task is None:
                self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                         TimeRemainingColumn(), console=self.console,
                                         transient=True)
                task = self.progress.add_task(text, total=total, completed=0)
                self.progress.start()
            # A batch takes seconds: draw each one as it comes, not at the next tick.
            self.progress.update(task, completed=done, description=text, refresh=True)
            if done >= total:
                self.close()

        return report
