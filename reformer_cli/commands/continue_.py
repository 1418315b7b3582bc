"""`reformer continue`: continue a (long) document with a trained model, streaming the new text.

Only the generated text goes to stdout (or --output); load time, prompt length, tokens/s and
memory go to stderr. torch and the model code are imported inside the command, so
`reformer --help` stays fast.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import typer

from reformer_cli.commands.encoding_option import encoding_option
from reformer_cli.commands.messages import note
from reformer_cli.commands.output_file import STDOUT, check_output_path, replacing_file
from reformer_cli.config.device import DEVICE_NAMES
from reformer_cli.errors import InputError, ReformerError


def register(app: typer.Typer) -> None:
    app.command("continue")(continue_command)


class ContinuationInterrupted(ReformerError):
    """Ctrl-C while new text was being written: what was written is kept."""

    exit_code = 130


def continue_command(
    file: str = typer.Argument(..., metavar="FILE", show_default=False,
                               help="Text to continue (a file, or - for stdin)."),
    model: str = typer.Option(..., "--model", "-m", metavar="NAME_OR_DIR",
                              help="Run name under models/, a run folder or a checkpoint folder."),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", "-n", metavar="N",
                                       help="Tokens to generate per sample."),
    context: Optional[int] = typer.Option(None, "--context", metavar="N",
                                          show_default="the training length, data.seq_len",
                                          help="Read the prompt's last N tokens; the model reads "
                                               "past its training length (rotary positions), up "
                                               "to model.max_seq_len less --max-new-tokens."),
    temperature: float = typer.Option(0.8, "--temperature", "-t", metavar="T", help="0 = greedy."),
    top_k: int = typer.Option(0, "--top-k", metavar="K",
                              help="Keep the K most likely tokens (0 = off)."),
    top_p: float = typer.Option(0.95, "--top-p", metavar="P",
                                help="Nucleus sampling: keep the most likely tokens up to this "
                                     "probability mass (1 = off). Applied after temperature "
                                     "and top-k."),
    seed: Optional[int] = typer.Option(None, "--seed", metavar="N",
                                       show_default="sampling: a random seed, printed; greedy: "
                                                    "a fixed one",
                                       help="Seeds the sampling and the LSH hash rotations: "
                                            "same seed, same text."),
    num_samples: int = typer.Option(1, "--num-samples", metavar="N",
                                    help="Continuations of the same prompt."),
    stream: bool = typer.Option(True, "--stream/--no-stream",
                                help="Print text as it is produced (or each sample at its end)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", metavar="FILE",
                                          show_default="stdout",
                                          help="Write the text to this file instead of stdout (- is "
                                               "stdout)."),
    device: str = typer.Option("auto", "--device", metavar=DEVICE_NAMES,
                               help="Where the model runs (auto: cuda > mps > cpu)."),
    n_hashes: Optional[int] = typer.Option(None, "--n-hashes", metavar="N",
                                           show_default="as trained", help="LSH hash rounds."),
    encoding: Optional[str] = encoding_option(),
) -> None:
    """Continue a document: its last --context tokens are read once, each new token costs the
    same."""
    from reformer_cli.config.checks import check_range
    from reformer_cli.generation.generator import GenerationConfig
    from reformer_cli.generation.sampling import SamplingConfig
    from reformer_cli.text.encodings import check_encoding

    config = GenerationConfig(max_new_tokens, SamplingConfig(temperature, top_k, top_p)).validate()
    check_range("--num-samples", num_samples, low=1)
    for flag, value in (("--context", context), ("--n-hashes", n_hashes)):
        if value is not None:
            check_range(flag, value, low=1)
    check_encoding(encoding)  # before stdin is read or the model loaded
    if output is not None and str(output) == STDOUT:
        output = None
    text = read_prompt(file, encoding)
    if output is not None:
        check_output_path(output, [file])  # before the model loads
    run = start_continuation(text, model, config, seed, device, n_hashes, context)
    written = _Counter()
    try:
        if output is None:
            write_samples(run, num_samples, stream, sys.stdout, written)
        else:  # a Ctrl-C from here on keeps what was written (and before, the file as it was)
            with replacing_file(output, [file], keep_on_interrupt=True) as sink:
                try:
                    write_samples(run, num_samples, stream, sink, written)
                except KeyboardInterrupt:
                    if not written.tokens and written.samples <= 1:
                        raise _NothingWritten from None  # an error: the file stays as it was
                    raise
    except (KeyboardInterrupt, _NothingWritten) as interrupt:
        if isinstance(interrupt, _NothingWritten):
            raise ContinuationInterrupted("interrupted before any new token",
                                          f"{output} is as it was") from None
        where = f"is kept in {output}" if output is not None else "was printed"
        sample = f" (sample {written.samples} of {num_samples})" if num_samples > 1 else ""
        raise ContinuationInterrupted(f"interrupted after {written.tokens:,} new tokens{sample}",
                                      f"the text generated so far {where}") from None
    note(f"peak memory: {_peak_memory(run.device)}")


def read_prompt(file: str, encoding: str | None = None) -> str:
    """The prompt as `summarize` reads a document (by `encoding`, or when that is None UTF-8,
    or UTF-16/32 told by its bytes), its line ends made LF as in the training text."""
    from reformer_cli.text.reading import normalise_line_ends, read_document

    if file != "-" and Path(file).is_dir():
        raise InputError(f"{file} is a folder", "give one text file (or - for stdin)")
    return normalise_line_ends(read_document(file, encoding))  # empty / binary / undecodable -> InputError


@dataclass
class Continuation:
    """A prefilled prompt, ready to be continued."""

    generation: Any  # generation.generator.Generator
    prompt_ids: list[int]  # the part of the prompt that was read
    decode: Any  # the tokenizer's ids -> text
    sampler: Any  # torch.Generator of the sampling
    device: Any


def start_continuation(text, model_name, config, seed, device_name, n_hashes,
                       context) -> Continuation:
    """Load the model (after checking from its config that it is a language model and has room
    for the new tokens), read the prompt's last tokens (saying so when that is not all of it),
    seed and prefill."""
    import torch

    from reformer_cli.checkpoint import load_config, load_model, resolve_model_dir
    from reformer_cli.config.device import resolve_device
    from reformer_cli.generation.generator import Generator, continuation_seed, prompt_limit
    from reformer_cli.generation.model_kind import check_language_model

    model_dir = resolve_model_dir(model_name)
    run_config = load_config(model_dir)  # what the weights are, before they load
    check_language_model(run_config, model_dir, "continuing a text")
    max_seq_len = run_config.model.max_seq_len
    limit = prompt_limit(context or run_config.data.seq_len, max_seq_len, config.max_new_tokens)
    device = resolve_device(device_name)
    started = time.perf_counter()
    loaded = load_model(model_dir, device=device)
    lm, tokenizer = loaded.model, loaded.tokenizer
    if n_hashes is not None:
        lm.set_n_hashes(n_hashes)
    note(f"loaded {loaded.path} ({lm.num_parameters():,} parameters) on {device} "
         f"in {time.perf_counter() - started:.1f} s")

    prompt_ids = tokenizer.encode(text)
    if not prompt_ids:
        raise InputError("the prompt encodes to no tokens", "give a file with some text")
    kept = list(prompt_ids[-limit.tokens:])
    if len(kept) < len(prompt_ids):
        note(f"note: the prompt has {len(prompt_ids):,} tokens; keeping its last {len(kept):,}"
             f"{_why_kept(limit.bound, context, max_seq_len, config.max_new_tokens)}")
    seed, drawn = continuation_seed(config.sampling, seed)
    if drawn:
        note(f"seed {seed} (pass --seed {seed} to repeat)")
    torch.manual_seed(seed)  # LSH rotations drawn at prefill when the model has no hash_seed

    started = time.perf_counter()
    generation = Generator(lm, kept, config, eos_id=tokenizer.eos_id)
    prefill_s = time.perf_counter() - started
    note(f"prompt: {len(kept):,} tokens, prefilled in {prefill_s:.2f} s "
         f"({len(kept) / max(prefill_s, 1e-9):,.0f} tokens/s)")
    return Continuation(generation, kept, tokenizer.decode, torch.Generator().manual_seed(seed),
                        device)


def _why_kept(bound: str, context: int | None, max_seq_len: int, max_new_tokens: int) -> str:
    """The end of the note on a cut prompt: which limit applied, in numbers that add up."""
    from reformer_cli.generation.generator import BOUND_POSITIONS

    positions = f"model.max_seq_len={max_seq_len} less --max-new-tokens={max_new_tokens}"
    if bound == BOUND_POSITIONS:
        return f" ({positions})"
    if context is not None:
        return f" (--context {context:,})"
    return (f", the length the model was trained on (data.seq_len); --context N reads more, "
            f"up to {max_seq_len - max_new_tokens:,} ({positions})")


def write_samples(run: Continuation, num_samples: int, stream: bool, sink, written) -> None:
    """Each sample's text to `sink`, as it comes (`stream`) or at its end; `written` counts the
    samples begun and the current one's tokens. On Ctrl-C a held sample is written first."""
    from reformer_cli.generation.streaming import stream_text

    generation = run.generation
    for index in range(num_samples):
        if num_samples > 1:
            header = f"===== sample {index + 1} of {num_samples} =====\n"
            write(sink, ("\n\n" if index else "") + header)
        held, started, last = [], time.perf_counter(), ""
        ids = written.count(generation.sample(run.sampler, last=index == num_samples - 1))
        try:
            for piece in stream_text(ids, run.decode, run.prompt_ids):
                if stream:
                    write(sink, piece)
                    last = piece or last
                else:
                    held.append(piece)
        except KeyboardInterrupt:
            write(sink, "".join(held) + "\n")
            raise
        write(sink, "".join(held))
        last = "".join(held) or last
        if line_left_open(sink, last):
            note("")  # the stats line below starts a line of its own; the text stays as it is
        elapsed = time.perf_counter() - started
        note(f"sample {index + 1}: {written.tokens} tokens in {elapsed:.2f} s "
             f"({written.tokens / max(elapsed, 1e-9):.1f} tokens/s, "
             f"stopped: {generation.stop_reason or 'interrupted'})")
    write(sink, "\n")


class _NothingWritten(Exception):
    """Ctrl-C before the first new token with --output: nothing to keep, so the file is not
    replaced."""


class _Counter:
    """Counts the samples begun and the ids flowing through the current one."""

    def __init__(self):
        self.samples = 0
        self.tokens = 0

    def count(self, ids):
        """`ids`, counted as a new sample's."""
        self.samples, self.tokens = self.samples + 1, 0
        return self._counted(ids)

    def _counted(self, ids):
        for token_id in ids:
            self.tokens += 1
            yield token_id


def line_left_open(sink, text: str, stderr=None) -> bool:
    """Whether `text`, just written to `sink`, leaves the terminal's cursor mid-line where the
    next stderr line would be printed: `sink` and stderr are the same terminal and `text` does
    not end in a newline. Only then: piped or in a file, the text is kept byte for byte."""
    stderr = sys.stderr if stderr is None else stderr
    if not text or text.endswith("\n"):
        return False
    try:
        if not (sink.isatty() and stderr.isatty()):
            return False
        return os.path.samestat(os.fstat(sink.fileno()), os.fstat(stderr.fileno()))
    except (AttributeError, OSError, ValueError):  # not a real file
        return False


def write(sink, text: str) -> None:
    sink.write(text)
    sink.flush()


def _peak_memory(device) -> str:
    import resource

    import torch

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    text = f"{rss:,.0f} MiB resident"
    if device.type == "cuda":
        text += f", {torch.cuda.max_memory_allocated(device) / 2**20:,.0f} MiB on {device}"
    return text
