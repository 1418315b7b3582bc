"""`reformer summarize`'s progress on stderr while the learned method reads a long document.

On a terminal: a transient rich bar per document, `summarize: book.txt: reading 48/150 windows`
(the file's name, not its path) with its ETA, gone when the document is read, so what stays on
screen is what was there without it. A document read in one batch shows nothing (it is over
before a bar would help). Elsewhere (pipes, logs): nothing at all; the command's notes say what
ran. stdout is never touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Column

ETA_CELLS = 7  # TimeRemainingColumn's "0:00:12"
MIN_BAR_CELLS = 10


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
        task, name = None, Path(label).name

        def report(done: int, total: int) -> None:
            nonlocal task
            if task is None and done >= total:
                return  # read in one batch
            text = f"summarize: {name}: reading {done}/{total} windows"
            if task is None:
                self.progress = self._bar()
                task = self.progress.add_task(text, total=total, completed=0)
                self.progress.start()
            # A batch takes seconds: draw each one as it comes, not at the next tick.
            self.progress.update(task, completed=done, description=text, refresh=True)
            if done >= total:
                self.close()

        return report

    def _bar(self) -> Progress:
        """Text, ETA, bar: a long text is cut (…) before the ETA goes or the bar gets shorter
        than MIN_BAR_CELLS; the bar takes what room is left."""
        text_cells = max(self.console.width - ETA_CELLS - MIN_BAR_CELLS - 2, MIN_BAR_CELLS)
        text = Column(no_wrap=True, overflow="ellipsis", max_width=text_cells)
        return Progress(TextColumn("{task.description}", table_column=text), TimeRemainingColumn(),
                        BarColumn(bar_width=None, table_column=Column(min_width=MIN_BAR_CELLS)),
                        console=self.console, transient=True, expand=True)
