"""Training progress on stderr, driven by the Trainer's events.

On a terminal: a live rich bar (step/total, loss, validation loss, tokens/s, elapsed, ETA) with
evaluation and checkpoint lines printed above it. Elsewhere (CI logs, pipes): one plain line per
logged step, so the log stays readable. stdout is never touched.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from reformer_cli.config.run import UNLIMITED_STEPS

ENCODE_LINE_SECONDS = 5.0  # without a terminal: one data-preparation line this often

if TYPE_CHECKING:  # the trainer imports torch; the display itself does not need it
    from reformer_cli.training.trainer import TrainEvent


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "--:--"
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"


def format_count(value: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.1f}{unit}"
    return f"{value:.0f}"


class ProgressDisplay:
    """Callable event listener; use as a context manager so the live bar is always closed."""

    def __init__(self, console: Console | None = None, live: bool | None = None):
        self.console = console or Console(stderr=True)
        self.live = self.console.is_terminal if live is None else live
        self.progress: Progress | None = None
        self.task = None
        self.total_steps = 0
        self.time_budget: float | None = None
        self.session_start_step = 0
        self.session_start_time = time.perf_counter()
        self.prepare_progress: Progress | None = None
        self.prepare_task = None
        self.prepare_printed = 0.0
        self.fields = {"steps": "0", "loss": "-", "val": "-", "speed": "-", "elapsed": "00:00",
                       "eta": "--:--"}

    def __enter__(self) -> "ProgressDisplay":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.prepare_progress is not None:
            self.prepare_progress.stop()
            self.prepare_progress = None
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def __call__(self, event: TrainEvent) -> None:
        handler = getattr(self, f"_on_{event.kind}", None)
        if handler is not None:
            handler(event)

    def print(self, message: str) -> None:
        (self.progress.console if self.progress is not None else self.console).print(
            message, highlight=False, soft_wrap=True)

    # -- events ------------------------------------------------------------------------------

    def _on_waiting(self, event) -> None:
        self.print(f"waiting for another process preparing the token shards in {event.values['folder']}")

    def _on_encode(self, event) -> None:
        """Tokenizing the corpus: MB/s, tokens and ETA."""
        values = event.values
        done, total, elapsed = values["bytes_done"], values["bytes_total"], values["elapsed"]
        speed = done / max(elapsed, 1e-9) / 1e6
        eta = (total - done) / (speed * 1e6) if speed > 0 else None
        text = (f"encode {done / 1e6:,.1f}/{total / 1e6:,.1f} MB  {speed:.1f} MB/s  "
                f"{format_count(values['tokens'])} tokens  {values['workers']} process(es)  "
                f"ETA {format_duration(eta)}")
        self._preparing("tokenize", done, total, elapsed, text)

    def _on_skipped(self, event) -> None:
        """A folder's files that are not read as text (shards/inputs.py counts them)."""
        values = event.values
        count, kinds = values["count"], values["kinds"]
        folders = [folder if folder.endswith("/") else folder + "/" for folder in values["folders"]]
        where = ", ".join(folders[:-1]) + " and " + folders[-1] if len(folders) > 1 else folders[0]
        files = "1 file" if count == 1 else f"{count:,} files"
        self.print(f"note: skipped {files} in {where} "
                   f"({', '.join(f'{n:,} {kind}' for kind, n in kinds.items())}); pass "
                   f"{'it' if count == 1 else 'them'} by name to see why")

    def _on_pairs(self, event) -> None:
        """Summarization pairs: the tokenizer being trained, then documents turned into examples
        (oracle labels, windows) per second and ETA; or the examples of an earlier start reused."""
        values = event.values
        if values["stage"] in ("reused", "kept"):
            done = "reused the examples prepared from" if values["stage"] == "reused" else \
                "examples of"
            where = "in" if values["stage"] == "reused" else "kept for the next start in"
            self.print(f"pairs: {done} {values['documents']:,} documents {where} {values['path']}")
            return
        if values["stage"] == "tokenizer":
            self.print(f"training a SentencePiece tokenizer ({values['vocab_size']:,} pieces) on "
                       f"{values['texts']:,} documents and summaries")
            return
        done, total, elapsed = values["done"], values["total"], values["elapsed"]
        rate = done / max(elapsed, 1e-9)
        eta = (total - done) / rate if rate > 0 else None
        text = f"pairs {done:,}/{total:,} documents  {rate:,.1f}/s  ETA {format_duration(eta)}"
        self._preparing("examples", done, total, elapsed, text)

    def _preparing(self, label: str, done: float, total: float, elapsed: float, text: str) -> None:
        """Data preparation: a bar on a terminal, else a line every few seconds and one at the
        end; work done in moments gets no line at all."""
        finished = done >= total
        if self.live:
            if self.prepare_progress is None:
                self.prepare_progress = Progress(TextColumn(f"[bold]{label}"), BarColumn(),
                                                TextColumn("{task.fields[text]}"),
                                                console=self.console, transient=True)
                self.prepare_progress.start()
                self.prepare_task = self.prepare_progress.add_task(label, total=total, text=text)
            self.prepare_progress.update(self.prepare_task, completed=done, text=text)
            if finished:
                self.prepare_progress.stop()
                self.prepare_progress = None
        due = elapsed - self.prepare_printed >= ENCODE_LINE_SECONDS
        if (due or (finished and self.prepare_printed > 0)) and (not self.live or finished):
            self.prepare_printed = elapsed
            self.print(text)
        if finished:
            self.prepare_printed = 0.0  # the next stage starts its own clock

    def _on_start(self, event: TrainEvent) -> None:
        values = event.values
        self.total_steps = values["total_steps"]
        self.time_budget = values.get("time_budget")
        self.session_start_step = values["start_step"]
        self.session_start_time = time.perf_counter()
        target = "budget" if self.total_steps >= UNLIMITED_STEPS else self.total_steps
        budget = f", time budget {format_duration(self.time_budget)}" if self.time_budget else ""
        where = f" → {values['run_dir']}" if values.get("run_dir") else ""
        if values.get("initialised_from"):
            self.print(f"starting from the weights of {values['initialised_from']}")
        if values.get("resumed_from"):
            self.print(f"resuming from {values['resumed_from']} at step {event.step}")
        self.print(f"training {format_count(values['parameters'])} parameters on {values['device']} "
                   f"({values['precision']}), {values['tokens_per_step']:,} tokens/step, "
                   f"steps {event.step}→{target}{budget}{where}")
        if self.live:
            self.progress = Progress(
                TextColumn("[bold]train"), BarColumn(),
                TextColumn("{task.fields[steps]} steps"),
                TextColumn("loss {task.fields[loss]}"), TextColumn("val {task.fields[val]}"),
                TextColumn("{task.fields[speed]} tok/s"),
                TextColumn("{task.fields[elapsed]} elapsed, ETA {task.fields[eta]}"),
                console=self.console, transient=False)
            self.progress.start()
            self.fields["steps"] = self._steps_text(event.step)
            total, completed = ((self.time_budget, 0.0) if self._by_time() else
                                (self.total_steps, event.step))
            self.task = self.progress.add_task("train", total=total, completed=completed,
                                               **self.fields)

    def _on_log(self, event: TrainEvent) -> None:
        values = event.values
        self.fields.update(steps=self._steps_text(event.step), loss=f"{values['loss']:.4f}",
                           speed=format_count(values["tokens_per_second"]),
                           elapsed=format_duration(values["elapsed"]),
                           eta=format_duration(self._eta(event.step, values["elapsed"])))
        if self.progress is not None:
            completed = values["elapsed"] if self._by_time() else event.step
            self.progress.update(self.task, completed=completed, **self.fields)
        else:
            self.print(f"step {self.fields['steps']}  loss {self.fields['loss']}  "
                       f"val {self.fields['val']}  lr {values['lr']:.2e}  "
                       f"{self.fields['speed']} tok/s  elapsed {self.fields['elapsed']}  "
                       f"ETA {self.fields['eta']}")

    def _on_eval(self, event: TrainEvent) -> None:
        values = event.values
        self.fields["val"] = f"{values['val_loss']:.4f}"
        if self.progress is not None:
            self.progress.update(self.task, **self.fields)
        self.print(f"eval at step {event.step}: {_scores(values, perplexity=True)}")

    def _on_checkpoint(self, event: TrainEvent) -> None:
        self.print(f"saved {event.values['path']}")

    def _on_stopping(self, event: TrainEvent) -> None:
        self.print(f"{event.values['reason']}: saving a checkpoint at step {event.step}")

    def _on_end(self, event: TrainEvent) -> None:
        self.close()
        values = event.values
        scores = f": {_scores(values)}" if "val_loss" in values else ""
        self.print(f"done ({values['reason']}) at step {event.step} after "
                   f"{format_duration(values['elapsed'])}{scores}"
                   + (f"; model in {values['path']}" if values.get("path") else ""))

    def _by_time(self) -> bool:
        """A time budget with practically unlimited steps: the bar follows the clock."""
        return bool(self.time_budget) and self.total_steps >= UNLIMITED_STEPS

    def _steps_text(self, step: int) -> str:
        if self.total_steps >= UNLIMITED_STEPS:
            return f"{step}"
        return f"{step}/{self.total_steps}"

    def _eta(self, step: int, elapsed: float) -> float | None:
        done = step - self.session_start_step
        if done <= 0:
            return None
        per_step = (time.perf_counter() - self.session_start_time) / done
        remaining = (self.total_steps - step) * per_step
        if self.time_budget:
            remaining = min(remaining, max(self.time_budget - elapsed, 0.0))
        return remaining


def _scores(values: dict, perplexity: bool = False) -> str:
    """An evaluation in words: a language model's (or a summarizer's, over its summaries) loss,
    perplexity and bits per character or byte; a sentence scorer's loss, how often it tells
    keep from skip, and how many of the oracle's picks it ranks highest (trainer.evaluate)."""
    loss = f"val loss {values['val_loss']:.4f}"
    if "val_accuracy" in values:
        ranked = (f", oracle picks in the top k {values['val_picks_in_top_k']:.1%} (chance "
                  f"{values['val_picks_in_top_k_chance']:.1%})" if "val_picks_in_top_k" in values
                  else "")
        return (f"{loss}, keep/skip accuracy {values['val_accuracy']:.1%}{_majority(values)}"
                f"{ranked} over {values['val_tokens']:,} sentences")
    shown = [loss] + ([f"perplexity {values['val_perplexity']:.2f}"] if perplexity else [])
    return ", ".join(shown + [_bits(values)])


def _majority(values: dict) -> str:
    """The keep/skip accuracy's baseline, as top-k has its chance: the rate of always giving the
    label most sentences have (" (always skip: 95.6%)")."""
    if "val_keep_share" not in values:  # metrics of a run before it was recorded
        return ""
    keep = values["val_keep_share"]
    return f" (always keep: {keep:.1%})" if keep > 0.5 else f" (always skip: {1 - keep:.1%})"


def _bits(values: dict) -> str:
    if "val_bits_per_byte" in values:
        return f"{values['val_bits_per_byte']:.3f} bits/byte"
    return f"{values.get('val_bits_per_char', float('nan')):.3f} bits/char"
