"""`reformer continue`: continue a (long) document with a trained model, streaming the new text.

Only the generated text goes to stdout (or --output); load time, prompt length, tokens/s and
memory go to stderr. torch and the model code are imported inside the command, so
`reformer --help` stays fast.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Optional

import typer

from reformer_cli.commands.encoding_option import encoding_option
from reformer_cli.commands.messages import note
from reformer_cli.commands.output_file import replacing_file
from reformer_cli.errors import InputError


def register(app: typer.Typer) -> None:
    app.command("continue")(continue_command)


def continue_command(
    file: str = typer.Argument(..., help="Text to continue (a file, or - for stdin)."),
    model: str = typer.Option(..., "--model", "-m",
                              help="Run name under models/, a run folder or a checkpoint folder."),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", "-n",
                                       help="Tokens to generate per sample."),
    temperature: float = typer.Option(0.8, "--temperature", "-t", help="0 = greedy."),
    top_k: int = typer.Option(0, "--top-k", help="Keep the k most likely tokens (0 = off)."),
    top_p: float = typer.Option(0.95, "--top-p",
                                help="Nucleus sampling: keep the most likely tokens up to this "
                                     "probability mass (1 = off). Applied after temperature "
                                     "and top-k."),
    seed: Optional[int] = typer.Option(None, "--seed",
                                       show_default="sampling: a random seed, printed; greedy: "
                                                    "a fixed one",
                                       help="Seeds the sampling and the LSH hash rotations: "
                                            "same seed, same text."),
    num_samples: int = typer.Option(1, "--num-samples", help="Continuations of the same prompt."),
    stream: bool = typer.Option(True, "--stream/--no-stream",
                                help="Print text as it is produced (or each sample at its end)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", show_default="stdout",
                                          help="Write the text to this file instead of stdout."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps."),
    n_hashes: Optional[int] = typer.Option(None, "--n-hashes", show_default="as trained",
                                           help="LSH hash rounds."),
    encoding: Optional[str] = encoding_option(),
) -> None:
    """Continue a document: the whole text is context, each new token costs the same."""
    from reformer_cli.config.checks import check_range
    from reformer_cli.generation.generator import GenerationConfig
    from reformer_cli.generation.sampling import SamplingConfig
    from reformer_cli.text.encodings import check_encoding

    config = GenerationConfig(max_new_tokens, SamplingConfig(temperature, top_k, top_p)).validate()
    check_range("--num-samples", num_samples, low=1)
    if n_hashes is not None:
        check_range("--n-hashes", n_hashes, low=1)
    check_encoding(encoding)  # before stdin is read or the model loaded
    text = read_prompt(file, encoding)
    if output is None:
        run_continue(text, model, config, seed, num_samples, stream, sys.stdout, device, n_hashes)
        return
    with replacing_file(output, [file], keep_on_interrupt=True) as sink:
        run_continue(text, model, config, seed, num_samples, stream, sink, device, n_hashes)


def read_prompt(file: str, encoding: str | None = None) -> str:
    """The prompt as `summarize` reads a document (by `encoding`, or when that is None UTF-8,
    or UTF-16/32 told by its bytes), its line ends made LF as in the training text."""
    from reformer_cli.text.reading import normalise_line_ends, read_document

    if file != "-" and Path(file).is_dir():
        raise InputError(f"{file} is a folder", "give one text file (or - for stdin)")
    return normalise_line_ends(read_document(file, encoding))  # empty / binary / undecodable -> InputError


def run_continue(text, model_name, config, seed, num_samples, stream, sink, device_name,
                 n_hashes) -> None:
    import torch

    from reformer_cli.checkpoint import load_model
    from reformer_cli.config.device import resolve_device
    from reformer_cli.generation.generator import Generator, continuation_seed, fit_prompt
    from reformer_cli.generation.streaming import stream_text

    device = resolve_device(device_name)
    started = time.perf_counter()
    loaded = load_model(model_name, device=device)
    lm, tokenizer = loaded.model, loaded.tokenizer
    if n_hashes is not None:
        lm.set_n_hashes(n_hashes)
    note(f"loaded {loaded.path} ({lm.num_parameters():,} parameters) on {device} "
         f"in {time.perf_counter() - started:.1f} s")

    prompt_ids = tokenizer.encode(text)
    if not prompt_ids:
        raise InputError("the prompt encodes to no tokens", "give a file with some text")
    max_seq_len = lm.config.max_seq_len
    kept = fit_prompt(prompt_ids, max_seq_len, config.max_new_tokens)
    if len(kept) < len(prompt_ids):
        note(f"note: the prompt has {len(prompt_ids):,} tokens; keeping its last {len(kept):,} "
             f"(model.max_seq_len={max_seq_len:,}, --max-new-tokens={config.max_new_tokens})")
    seed, drawn = continuation_seed(config.sampling, seed)
    if drawn:
        note(f"seed {seed} (pass --seed {seed} to repeat)")
    torch.manual_seed(seed)  # LSH rotations drawn at prefill when the model has no hash_seed
    generator = torch.Generator().manual_seed(seed)

    started = time.perf_counter()
    generation = Generator(lm, kept, config, eos_id=tokenizer.eos_id)
    prefill_s = time.perf_counter() - started
    note(f"prompt: {len(kept):,} tokens, prefilled in {prefill_s:.2f} s "
         f"({len(kept) / max(prefill_s, 1e-9):,.0f} tokens/s)")

    for index in range(num_samples):
        if num_samples > 1:
            header = f"===== sample {index + 1} of {num_samples} =====\n"
            write(sink, ("\n\n" if index else "") + header)
        counter, held, started = _Counter(), [], time.perf_counter()
        ids = counter.count(generation.sample(generator, last=index == num_samples - 1))
        try:
            for piece in stream_text(ids, tokenizer.decode, kept):
                if stream:
                    write(sink, piece)
                else:
                    held.append(piece)
        except KeyboardInterrupt:
            write(sink, "".join(held) + "\n")
            note(f"interrupted after {counter.tokens} tokens; the text printed is kept")
            raise  # the CLI entry point turns it into exit code 130
        write(sink, "".join(held))
        elapsed = time.perf_counter() - started
        note(f"sample {index + 1}: {counter.tokens} tokens in {elapsed:.2f} s "
             f"({counter.tokens / max(elapsed, 1e-9):.1f} tokens/s, "
             f"stopped: {generation.stop_reason or 'interrupted'})")
    write(sink, "\n")
    note(f"peak memory: {_peak_memory(device)}")


class _Counter:
    """Counts the ids flowing through a generator."""

    def __init__(self):
        self.tokens = 0

    def count(self, ids):
        for token_id in ids:
            self.tokens += 1
            yield token_id


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
