"""The training loop: AdamW, warmup + cosine schedule, accumulation, evaluation, checkpoints.

The Trainer never prints. It reports through `on_event(TrainEvent)` callbacks (the CLI's progress
display and the metrics.jsonl writer listen) and writes checkpoints into the run folder.

Everything data parallelism changes (torchrun) lives in `runtime.Runtime`.

Exact resume: the saved state holds the model, the optimizer, the step (the schedule is a pure
function of it), every RNG (python, numpy, torch CPU and CUDA) and the sampler position, and
evaluation runs inside `torch.random.fork_rng` with a fixed seed, so evaluating or checkpointing
never shifts the random stream the training steps draw from (dropout, LSH rotations).
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from reformer_cli import checkpoint as ckpt
from reformer_cli.core.head_loss import IGNORE_INDEX, chunked_cross_entropy
from reformer_cli.core.rng import seeded
from reformer_cli.errors import InputError, ReformerError, ResourceError
from reformer_cli.training.run_inputs import text_differs
from reformer_cli.training.runtime import (
    Runtime,
    autocast_context,
    capture_rng_state,
    precision_in_use,
    restore_rng_state,
    seed_everything,
)
from reformer_cli.training.sentence_choices import SentenceChoices

__all__ = ["EvalSet", "MetricsLog", "Runtime", "SentenceChoices", "TrainEvent", "Trainer",
           "TrainingInterrupted", "build_optimizer", "evaluate", "learning_rate", "seed_everything"]

LN2 = math.log(2.0)
REPEAT_SIGNAL_GRACE = 1.0  # seconds: a second Ctrl-C sooner than this is not "abort now"


class TrainingInterrupted(ReformerError):
    """Ctrl-C (or SIGTERM) during training: a checkpoint was saved, the run can be resumed."""

    exit_code = 130


@dataclass
class TrainEvent:
    """What the trainer reports. kind: start | log | eval | checkpoint | stopping | end."""

    kind: str
    step: int
    total_steps: int
    values: dict = field(default_factory=dict)


@dataclass
class EvalSet:
    """Fixed validation batches and the size of the text they score (for bits per character)."""

    batches: list  # [(ids (B, L), targets (B, L) IGNORE_INDEX = not scored)]
    characters: int  # characters (bytes for the byte tokenizer) of the scored text; labels
    unit: str = "char"  # "char" | "byte" | "sentence" (extraction: one label per sentence)


def learning_rate(step: int, train, elapsed: float = 0.0) -> float:
    """LR for optimizer step `step` (0-based): linear warmup, then cosine down to lr*min_lr_ratio.

    With a time budget the cosine follows whichever is further along, steps or time, so a
    budget-limited run still ends at the low learning rate.
    """
    if step < train.warmup_steps:
        return train.lr * (step + 1) / train.warmup_steps
    progress = (step - train.warmup_steps) / max(1, train.steps - train.warmup_steps)
    if train.time_budget:
        progress = max(progress, elapsed / train.time_budget)
    progress = min(max(progress, 0.0), 1.0)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return train.lr * (train.min_lr_ratio + (1.0 - train.min_lr_ratio) * cosine)


def build_optimizer(model: nn.Module, train) -> torch.optim.AdamW:
    """AdamW; no weight decay on embeddings, norms and biases (anything not a weight matrix)."""
    embedding_weights = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    decay, no_decay = [], []
    for parameter in model.parameters():
        if not parameter.requires_grad:
            continue
        if parameter.dim() < 2 or id(parameter) in embedding_weights:
            no_decay.append(parameter)
        else:
            decay.append(parameter)
    groups = [{"params": decay, "weight_decay": train.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=train.lr, betas=(0.9, 0.95), eps=1e-8)


@torch.no_grad()
def evaluate(model: nn.Module, eval_set: EvalSet, device: torch.device, *, seed: int = 0,
             precision: str = "fp32", labels: tuple[int, int] | None = None) -> dict:
    """Validation loss, perplexity and bits per character (or byte) over the fixed batches; for
    a sentence scorer (`labels`: its keep and skip ids) the loss and `SentenceChoices` instead,
    as a perplexity over two labels means nothing.

    Runs in a forked RNG seeded with `seed`: LSH rotations are the same for every evaluation of
    the same weights, and the caller's random stream is untouched.
    """
    was_training = model.training
    model.eval()
    total_nats, total_tokens = 0.0, 0
    choices = SentenceChoices(*labels) if labels is not None else None
    with seeded(seed, device):
        for ids, targets in eval_set.batches:
            count = int((targets != IGNORE_INDEX).sum())
            if count == 0:
                continue
            ids, targets = ids.to(device), targets.to(device)
            with autocast_context(device, precision):
                if choices is None:
                    loss = model(ids, targets)
                else:  # model(ids, targets), from the hidden states the choices read too
                    hidden = model.hidden_states(ids)  # (B, L, d_model)
                    loss = chunked_cross_entropy(hidden, model.head_weight, targets,
                                                 model.config.loss_chunk_size)
                    choices.add(hidden, model.head_weight, targets)
            total_nats += float(loss) * count
            total_tokens += count
    model.train(was_training)
    if total_tokens == 0:
        raise InputError("the validation set has no tokens to score", "give more validation text")
    loss = total_nats / total_tokens
    if choices is not None:
        return {"val_loss": loss, **choices.scores(), "val_tokens": total_tokens}
    key = f"val_bits_per_{eval_set.unit}"
    return {"val_loss": loss, "val_perplexity": math.exp(min(loss, 700.0)),
            key: total_nats / (LN2 * max(eval_set.characters, 1)), "val_tokens": total_tokens}


class MetricsLog:
    """metrics.jsonl (main process only): as an event listener it appends every logged number;
    `branch` marks a resume from an older step. Every record starts with kind, step and time."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def __call__(self, event: TrainEvent) -> None:
        if event.kind in ("start", "log", "eval", "checkpoint", "end"):
            self._append(event.kind, event.step,
                         {k: v for k, v in event.values.items() if _is_plain(v)})

    def branch(self, step: int, set_aside: str) -> None:
        """The records above this one, past `step`, belong to the abandoned branch, whose
        checkpoints were moved to the run folder's `set_aside` folder (checkpoint/branches.py)."""
        self._append("branch", step, {"from_step": step, "set_aside": set_aside})

    def _append(self, kind: str, step: int, values: dict) -> None:
        record = {"kind": kind, "step": step,
                  "time": datetime.now(timezone.utc).isoformat(timespec="seconds"), **values}
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")


def _is_plain(value) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


class Trainer:
    """Trains `model` on batches from `sampler`; checkpoints into `run_dir` (None = no files)."""

    def __init__(self, config, model: nn.Module, tokenizer, sampler, eval_set: EvalSet | None,
                 run_dir: str | Path | None = None, *, runtime: Runtime | None = None,
                 on_event: Callable[[TrainEvent], None] | None = None, data_fingerprint: str = ""):
        self.config, self.train_config = config, config.train
        self.runtime = runtime or Runtime()
        self.device = self.runtime.device
        self.model = model.to(self.device)  # the plain module: its state dict is what we save
        self.tokenizer, self.sampler, self.eval_set = tokenizer, sampler, eval_set
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.listeners = [on_event] if on_event else []
        self.data_fingerprint = data_fingerprint
        self.optimizer = build_optimizer(self.model, self.train_config)
        self.forward_model = self.runtime.wrap_model(self.model)
        if self.train_config.compile:
            self.forward_model = torch.compile(self.forward_model)
        self.precision = precision_in_use(self.device, self.train_config.precision)
        self.step = 0
        self.tokens_seen = 0
        self.elapsed_before = 0.0  # seconds trained by earlier sessions of this run
        self.last_eval: dict = {}
        self.last_eval_step: int | None = None  # the step last_eval scored (None: not known)
        self.resumed_from: Path | None = None
        self.initialised_from: Path | None = None  # a new run started from these weights
        self._stop_signal: str | None = None
        self._session_start = time.perf_counter()

    # -- events ------------------------------------------------------------------------------

    def add_listener(self, listener: Callable[[TrainEvent], None]) -> None:
        self.listeners.append(listener)

    def emit(self, kind: str, **values) -> None:
        if not self.runtime.is_main:
            return
        event = TrainEvent(kind, self.step, self.train_config.steps, values)
        for listener in self.listeners:
            listener(event)

    def request_stop(self, reason: str = "interrupted") -> None:
        """Finish the current step, save a checkpoint, then raise TrainingInterrupted."""
        self._stop_signal = reason

    # -- state -------------------------------------------------------------------------------

    @property
    def elapsed(self) -> float:
        return self.elapsed_before + (time.perf_counter() - self._session_start)

    def state_dict(self) -> dict:
        return {"step": self.step, "tokens_seen": self.tokens_seen, "elapsed": self.elapsed,
                "optimizer": self.optimizer.state_dict(),
                "rng": capture_rng_state(self.device), "sampler": self.sampler.state_dict(),
                "data_fingerprint": self.data_fingerprint, "last_eval": dict(self.last_eval),
                "last_eval_step": self.last_eval_step}

    def load_state_dict(self, state: dict) -> None:
        saved = state.get("data_fingerprint", "")
        if saved and self.data_fingerprint and saved != self.data_fingerprint:
            raise text_differs(None)
        self.optimizer.load_state_dict(state["optimizer"])
        self.sampler.load_state_dict(state["sampler"])
        restore_rng_state(state["rng"], self.device)
        self.step = int(state["step"])
        self.tokens_seen = int(state.get("tokens_seen", 0))
        self.elapsed_before = float(state.get("elapsed", 0.0))
        self.last_eval = dict(state.get("last_eval", {}))
        self.last_eval_step = state.get("last_eval_step")  # absent from older checkpoints

    def resume_from(self, path: str | Path) -> Path:
        """Restore weights and training state from a checkpoint folder (verified first)."""
        path = Path(path)
        ckpt.verify_checkpoint(path)
        ckpt.load_model_state(self.model, path)
        self.load_state_dict(ckpt.read_training_state(path))
        self.resumed_from = path
        return path

    def save(self, final: bool = False) -> Path | None:
        if self.run_dir is None:
            return None
        if not self.runtime.is_main:
            self.runtime.barrier()  # wait while rank 0 writes
            return None
        try:
            return self._save_on_main(final)
        finally:
            self.runtime.barrier()

    def _save_on_main(self, final: bool) -> Path:
        name = ckpt.FINAL_NAME if final else ckpt.step_dir_name(self.step)
        path = ckpt.save_checkpoint(self.run_dir / name, config=self.config, model=self.model,
                                    tokenizer=self.tokenizer, step=self.step,
                                    training_state=self.state_dict())
        if not final:
            ckpt.prune_step_checkpoints(self.run_dir, self.train_config.keep_checkpoints)
        self.emit("checkpoint", path=str(path), final=final)
        return path

    # -- loop --------------------------------------------------------------------------------

    def fit(self) -> dict:
        """Train until train.steps or the time budget; evaluate and save final/. Returns the last
        evaluation (and `path` of the final checkpoint)."""
        train = self.train_config
        if self.run_dir is not None and self.runtime.is_main:
            ckpt.remove_stale_temporaries(self.run_dir)
        self._session_start = time.perf_counter()
        reason = "steps"
        tokens_per_step = (train.batch_size * train.grad_accum * self.config.data.seq_len
                           * self.runtime.world_size)
        self.emit("start", start_step=self.step, total_steps=train.steps, time_budget=train.time_budget,
                  parameters=_count_parameters(self.model), tokens_per_step=tokens_per_step,
                  world_size=self.runtime.world_size,
                  effective_batch=train.batch_size * train.grad_accum * self.runtime.world_size,
                  device=str(self.device), precision=self.precision,
                  run_dir=str(self.run_dir) if self.run_dir else None,
                  resumed_from=str(self.resumed_from) if self.resumed_from else None,
                  initialised_from=str(self.initialised_from) if self.initialised_from else None)
        window_loss, window_steps, window_start = 0.0, 0, time.perf_counter()
        self.runtime.seed_rank_rng(train.seed, self.step)  # dropout differs per rank (rank 0: as-is)
        with self._deterministic(), self._stop_on_signals():
            while self.step < train.steps:
                # Ranks decide alike (else one would wait forever in the next all-reduce).
                if train.time_budget and self.runtime.any_rank(self.elapsed >= train.time_budget):
                    reason = "time budget"
                    break
                loss, grad_norm = self._train_step()
                self.step += 1
                self.tokens_seen += tokens_per_step
                window_loss, window_steps = window_loss + loss, window_steps + 1
                if self.step % train.log_every == 0 or self.step == train.steps:
                    seconds = max(time.perf_counter() - window_start, 1e-9)
                    self.emit("log", loss=self.runtime.mean(window_loss / window_steps),
                              lr=self.optimizer.param_groups[0]["lr"], grad_norm=grad_norm,
                              tokens_per_second=tokens_per_step * window_steps / seconds,
                              elapsed=self.elapsed, tokens_seen=self.tokens_seen)
                    window_loss, window_steps, window_start = 0.0, 0, time.perf_counter()
                if self.runtime.any_rank(self._stop_signal is not None):
                    self._stop_signal = self._stop_signal or "stopped by another process"
                    break
                if train.eval_every and self.step % train.eval_every == 0 and self.step < train.steps:
                    self.run_evaluation()
                if (train.checkpoint_every and self.step % train.checkpoint_every == 0
                        and self.step < train.steps):
                    self.save()
            if self._stop_signal:
                self.emit("stopping", reason=self._stop_signal)
                path = self.save()
                raise TrainingInterrupted(
                    f"{self._stop_signal} at step {self.step}"
                    + (f"; checkpoint saved to {path}" if path else ""),
                    "continue with --resume auto" if path else None)
            # Still guarded: a Ctrl-C from here on only lets the final evaluation and save finish.
            # A step is evaluated once: the time budget can stop the run just after eval_every
            # evaluated, and a resumed finished run has nothing left to train.
            if self.last_eval and self.last_eval_step == self.step:
                result = dict(self.last_eval)
            else:
                result = self.run_evaluation()
            path = self.save(final=True)
        self.emit("end", reason=reason, path=str(path) if path else None, elapsed=self.elapsed,
                  tokens_seen=self.tokens_seen, **result)
        return dict(result, path=path, reason=reason, step=self.step)

    def run_evaluation(self) -> dict:
        if self.eval_set is None:
            return {}
        labels = None
        if self.eval_set.unit == "sentence":  # a sentence scorer: its keep and skip ids
            from reformer_cli.data.extraction import label_ids

            labels = label_ids(self.tokenizer)
        result = evaluate(self.model, self.eval_set, self.device, seed=self.train_config.seed,
                          precision=self.train_config.precision, labels=labels)
        self.last_eval, self.last_eval_step = result, self.step
        self.emit("eval", **result)
        return result

    def _train_step(self) -> tuple[float, float]:
        train = self.train_config
        # With a time budget the schedule follows rank 0's clock, so every replica uses one lr.
        lr = learning_rate(self.step, train,
                           self.runtime.main_value(self.elapsed) if train.time_budget else self.elapsed)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.forward_model.train()
        total = torch.zeros((), device=self.device)
        for micro in range(train.grad_accum):
            ids, targets = self.runtime.next_batch(self.sampler, train.batch_size)
            ids, targets = ids.to(self.device, non_blocking=True), targets.to(self.device, non_blocking=True)
            last = micro == train.grad_accum - 1
            with self.runtime.gradient_sync(self.forward_model, last):
                with autocast_context(self.device, train.precision):
                    loss = self.forward_model(ids, targets)
                (loss / train.grad_accum).backward()
            total += loss.detach()
        mean_loss = float(total) / train.grad_accum
        if not math.isfinite(mean_loss):
            raise ResourceError(f"training diverged: the loss is {mean_loss} at step {self.step + 1}",
                                "lower the learning rate (--set train.lr=...) or raise warmup_steps")
        max_norm = train.grad_clip if train.grad_clip > 0 else float("inf")
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm))
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return mean_loss, grad_norm

    @contextlib.contextmanager
    def _deterministic(self):
        if not self.train_config.deterministic:
            yield
            return
        previous = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(previous)

    @contextlib.contextmanager
    def _stop_on_signals(self):
        """First Ctrl-C / SIGTERM: finish the step, save, stop. A second Ctrl-C aborts at once."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        first_signal_at = []

        def handler(signum, frame):
            # Under torchrun one Ctrl-C arrives twice (from the terminal and relayed by the
            # agent), so a repeat within REPEAT_SIGNAL_GRACE seconds is the same request.
            if (self._stop_signal and signum == signal.SIGINT and first_signal_at
                    and time.monotonic() - first_signal_at[0] > REPEAT_SIGNAL_GRACE):
                raise KeyboardInterrupt
            first_signal_at[:] = first_signal_at or [time.monotonic()]
            # Only set a flag: the loop saves after the step. (No output here: a signal handler
            # must not re-enter the progress display.)
            self._stop_signal = self._stop_signal or (
                "interrupted" if signum == signal.SIGINT else "terminated")

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)


def _count_parameters(model: nn.Module) -> int:
    counter = getattr(model, "num_parameters", None)
    return int(counter()) if callable(counter) else sum(p.numel() for p in model.parameters())
