"""`reformer memprofile`: measured peak memory of each Reformer technique against a plain
Transformer of the same size, at the sequence length(s) asked for.

The table goes to stdout, progress to stderr. torch is imported only inside the command.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from reformer_cli.commands.messages import note
from reformer_cli.commands.output_file import check_output_path, write_text_file
from reformer_cli.config.checks import check_positive, check_range
from reformer_cli.config.device import DEVICE_NAMES, check_device_name
from reformer_cli.config.run import MIN_SEQ_LEN, DataConfig
from reformer_cli.errors import ConfigError, InputError, MissingDependency, ResourceError

SOURCE, RUN, OUTPUT = "Model", "Measurement", "Output"
# Seconds per row before a row is estimated instead of measured: long enough for the exact
# attention row at 64K on a 2-core CPU (README, memprofile).
DEFAULT_TIME_LIMIT = 360.0
# The model profiled without --config or --model: configs/default.yaml, whose SentencePiece
# vocabulary (data.vocab_size) sizes the embedding and the head, as in a run of `reformer train`.
DEFAULT_SOURCE = "the model `reformer train` builds by default"

# What memprofile measures on: the devices a peak memory is read from (the CPU's resident set,
# CUDA's caching allocator); --device mps is a device, but not one of these.
MEASURED_DEVICES = DEVICE_NAMES.replace("|mps", "")


def parse_lengths(seq_len: str | None, sweep: str | None, default: int | None) -> list[int] | None:
    """--seq-len N or --sweep A,B,C -> sorted distinct lengths, each at least MIN_SEQ_LEN;
    InputError otherwise. Neither given: [default], or None when there is no default yet."""
    if seq_len is not None and sweep is not None:
        raise InputError("--seq-len and --sweep were both given", "use one of them")
    if sweep is not None:
        items, flag = [item.strip() for item in sweep.split(",") if item.strip()], "--sweep"
        if not items:
            raise InputError("--sweep is empty", "give lengths like --sweep 4096,16384,65536")
    elif seq_len is None and default is None:
        return None
    else:
        items, flag = [str(default) if seq_len is None else seq_len.strip()], "--seq-len"
    lengths = []
    for item in items:
        try:
            value = int(item.replace("_", ""))
        except ValueError:
            raise InputError(f"{flag}={item!r} is not a whole number",
                             "give a positive length such as 4096") from None
        lengths.append(value)
    if min(lengths) < MIN_SEQ_LEN:
        if flag == "--sweep":
            raise ConfigError(f"--sweep={sweep.strip()} is out of range",
                              f"each length must be >= {MIN_SEQ_LEN}")
        check_range(flag, lengths[0], low=MIN_SEQ_LEN)
    return sorted(set(lengths))


def check_lengths(lengths: list[int], max_seq_len: int) -> None:
    too_long = [length for length in lengths if length > max_seq_len]
    if too_long:
        raise InputError(f"sequence length {too_long[0]} is longer than model.max_seq_len="
                         f"{max_seq_len}, the longest the positional encoding is validated for",
                         f"use at most {max_seq_len} or raise it with --set "
                         f"model.max_seq_len={too_long[0]}")


def load_model_config(config: str | None, model: str | None, settings: list[str],
                      seq_len: int | None):
    """RunConfig from --model (a checkpoint's config.yaml), --config, or the built-in defaults
    (configs/default.yaml), with --set overrides. data.seq_len is set to the shortest profiled
    length, so the config's own checks (max_seq_len, chunk_length) apply to the lengths asked
    for rather than to a training window that plays no part here. Without --model the
    vocabulary is the one `reformer train` gives such a config (`train_vocabulary`)."""
    from reformer_cli.config.load import load_run_config, parse_override

    if config is not None and model is not None:
        raise InputError("--config and --model were both given", "use one of them")
    if model is not None:
        from reformer_cli.checkpoint import CONFIG_FILE, load_config, resolve_model_dir

        folder = resolve_model_dir(model)
        run_config = load_config(folder)  # checks the format version, one clear line if bad
        if settings or seq_len is not None:
            run_config = load_run_config(folder / CONFIG_FILE, settings, {"data.seq_len": seq_len})
        return run_config
    run_config = load_run_config(config, settings, {"data.seq_len": seq_len})
    if not any(parse_override(setting)[0] == "model.vocab_size" for setting in settings):
        run_config.model.vocab_size = train_vocabulary(run_config.data)
    return run_config


def train_vocabulary(data) -> int:
    """The vocabulary `reformer train` gives a model of this data section: the SentencePiece
    size asked for (a corpus that cannot fill it gets fewer), or the byte tokenizer's 258.
    model.vocab_size of a config file plays no part: train replaces it by the tokenizer's."""
    if data.tokenizer == "byte":
        from reformer_cli.text.tokenizer import ByteTokenizer

        return ByteTokenizer.vocab_size
    return data.vocab_size


def header_for(request, device, source: str) -> dict:
    import torch

    config = request.config
    return {
        "device": (f"cpu ({torch.get_num_threads()} threads)" if device.type == "cpu"
                   else torch.cuda.get_device_name(device)),
        "torch": torch.__version__,
        "dtype": request.dtype, "mode": request.mode,
        "batch_size": request.batch_size, "config_source": source,
        "config": {key: getattr(config, key) for key in (
            "vocab_size", "d_model", "n_heads", "d_ff", "n_layers", "layer_types", "chunk_length",
            "n_hashes", "n_buckets", "causal", "reversible", "ff_chunk_size", "loss_chunk_size",
            "tie_embeddings")},
        "memory_budget_gib": round(request.memory_budget_bytes / 2**30, 2),
        "time_limit_s": request.time_limit_seconds,
        "method": ("peak RSS of a fresh process per row, minus its RSS after imports and a tiny "
                   "warm-up step (parameters, gradients, optimizer state included)"
                   if device.type == "cpu" else "CUDA caching allocator peak "
                   "(max_memory_allocated) minus the allocation before the model is built"),
        "step": ("train: forward + backward + AdamW step with its state already allocated"
                 if request.mode == "train" else "forward: the loss under torch.no_grad()"),
    }


def memprofile_command(
    seq_len: Optional[str] = typer.Option(None, "--seq-len", metavar="N", rich_help_panel=RUN,
                                          show_default="data.seq_len of the config",
                                          help="Sequence length to profile."),
    sweep: Optional[str] = typer.Option(None, "--sweep", metavar="L1,L2,...", rich_help_panel=RUN,
                                        show_default="the one length of --seq-len",
                                        help="Several lengths, e.g. 4096,16384,65536."),
    config: Optional[str] = typer.Option(None, "--config", "-c", metavar="FILE.yaml",
                                         rich_help_panel=SOURCE,
                                         show_default=f"{DEFAULT_SOURCE}, vocabulary "
                                                      f"{DataConfig.vocab_size:,}",
                                         help="YAML config file or preset name; the vocabulary "
                                              "is the one `reformer train` gives it."),
    model: Optional[str] = typer.Option(None, "--model", metavar="NAME_OR_DIR",
                                        rich_help_panel=SOURCE, show_default="that of --config",
                                        help="Take the architecture from a trained model."),
    settings: Optional[List[str]] = typer.Option(None, "--set", metavar="SECTION.KEY=VALUE",
                                                 rich_help_panel=SOURCE, show_default=False,
                                                 help="Override a config key (repeatable)."),
    batch_size: int = typer.Option(1, "--batch-size", metavar="B", rich_help_panel=RUN,
                                   help="Sequences per step."),
    mode: str = typer.Option("train", "--mode", metavar="train|forward", rich_help_panel=RUN,
                             help="train: forward+backward+AdamW step; forward: no-grad loss."),
    device: str = typer.Option("auto", "--device", metavar=MEASURED_DEVICES, rich_help_panel=RUN,
                               help="Where to measure (auto: cuda if present, else cpu)."),
    dtype: str = typer.Option("fp32", "--dtype", metavar="fp32|bf16|fp16", rich_help_panel=RUN,
                              help="Parameter and activation dtype (pure cast, no autocast)."),
    time_limit: float = typer.Option(DEFAULT_TIME_LIMIT, "--time-limit", metavar="SECONDS",
                                     rich_help_panel=RUN,
                                     help="Estimate (do not run) a row predicted to take longer; "
                                          "stop one that does."),
    memory_limit: Optional[float] = typer.Option(None, "--memory-limit", metavar="GIB",
                                                 rich_help_panel=RUN,
                                                 show_default="80% of available memory",
                                                 help="Estimate (do not run) a row predicted to "
                                                      "need more; stop one that does."),
    json_path: Optional[Path] = typer.Option(None, "--json", metavar="FILE",
                                             rich_help_panel=OUTPUT, show_default="not written",
                                             help="Write every row as JSON."),
    csv_path: Optional[Path] = typer.Option(None, "--csv", metavar="FILE",
                                            rich_help_panel=OUTPUT, show_default="not written",
                                            help="Write every row as CSV."),
    plot_path: Optional[Path] = typer.Option(None, "--plot", metavar="FILE.png",
                                             rich_help_panel=OUTPUT, show_default="not drawn",
                                             help="Peak memory against length (needs matplotlib)."),
) -> None:
    """Measure the peak memory of each Reformer technique against a plain Transformer."""
    from reformer_cli.memprofile.estimate import BYTES

    if mode not in ("train", "forward"):
        raise InputError(f"--mode {mode!r} is not a mode", "use train or forward")
    if dtype not in BYTES:
        raise InputError(f"--dtype {dtype!r} is not supported", "use fp32, bf16 or fp16")
    # checked here, not with typer's min=, so the error is our one line
    check_range("--batch-size", batch_size, low=1)
    check_positive("--time-limit", time_limit, "> 0 (seconds, e.g. 180)")
    check_device_name(device)
    if device.strip().lower() == "mps":  # before minutes of building, on any machine
        raise _unmeasured("mps")
    if plot_path is not None:
        _require_matplotlib()
    outputs = (("--json", json_path), ("--csv", csv_path), ("--plot", plot_path))
    for flag, path in outputs:  # a bad path fails before minutes of measuring
        if path is not None:
            check_output_path(path, flag=flag)
            if not path.absolute().parent.is_dir():
                raise InputError(f"cannot write {path}: its folder does not exist",
                                 "create the folder first, or choose another path")
    lengths = parse_lengths(seq_len, sweep, None)
    run_config = load_model_config(config, model, list(settings or []),
                                   None if lengths is None else lengths[0])
    lengths = lengths or parse_lengths(None, None, run_config.data.seq_len)
    check_lengths(lengths, run_config.model.max_seq_len)

    import torch

    from reformer_cli.config.device import resolve_device
    from reformer_cli.memprofile.measure import measure
    from reformer_cli.memprofile.profile import (
        ProfileRequest,
        effective_flops_per_second,
        memory_budget,
        run_profile,
    )

    target = resolve_device("cuda" if device == "auto" and torch.cuda.is_available() else
                            "cpu" if device == "auto" else device)
    if target.type not in ("cpu", "cuda"):
        raise _unmeasured(target.type)
    if target.type == "cpu" and dtype == "fp16":
        raise ConfigError("--dtype fp16 on the CPU is not supported", "use fp32 or bf16 on the CPU")
    request = ProfileRequest(config=run_config.model, seq_lens=lengths, batch_size=batch_size,
                             mode=mode, dtype=dtype, device=str(target),
                             memory_budget_bytes=memory_budget(target, memory_limit),
                             time_limit_seconds=time_limit,
                             flops_per_second=effective_flops_per_second(target))
    source = (f"--model {model}" if model else f"--config {config}" if config
              else DEFAULT_SOURCE) + (" + --set" if settings else "")
    header = header_for(request, target, source)
    rows = run_profile(request, measure, progress=_progress)
    _print_report(header, rows)
    _write_outputs(header, rows, json_path, csv_path, plot_path)


def _progress(message: str) -> None:
    note(f"memprofile: {message}")


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise MissingDependency("--plot needs matplotlib, which is not installed",
                            "pip install matplotlib (or pip install 'reformer-cli[plot]')") from None


def _print_report(header: dict, rows) -> None:
    from rich.table import Table

    from reformer_cli.commands.messages import table_console
    from reformer_cli.memprofile.report import TABLE_COLUMNS, fit_limits, model_errors, table_cells

    console = table_console()
    config = header["config"]
    console.print(f"[bold]reformer memprofile[/] — device {header['device']}, {header['dtype']}, "
                  f"torch {header['torch']}, {header['step']}, batch {header['batch_size']}")
    console.print(f"config ({header['config_source']}): d_model {config['d_model']}, "
                  f"{config['n_layers']} layers {config['layer_types']}, {config['n_heads']} heads, "
                  f"d_ff {config['d_ff']}, vocab {config['vocab_size']}, chunk "
                  f"{config['chunk_length']}, {config['n_hashes']} hash rounds, ff/loss chunks "
                  f"{config['ff_chunk_size']}/{config['loss_chunk_size']}")
    console.print(f"memory: {header['method']}; budget {header['memory_budget_gib']} GiB, "
                  f"time limit {header['time_limit_s']:.0f} s per row")
    for length in sorted({row.seq_len for row in rows}):
        table = Table(title=f"L = {length}", title_justify="left")
        for column in TABLE_COLUMNS:
            table.add_column(column, justify="left" if column in ("variant", "source") else "right")
        for cells in table_cells([row for row in rows if row.seq_len == length]):
            table.add_row(*cells)
        console.print(table)
    console.print("peak: measured; ~ = analytic estimate (row not run). vs 1 / vs 2: memory "
                  "change against row 1 / row 2. model: the analytic estimate (its error "
                  "against the measurement).")
    errors = model_errors(rows)
    if errors:
        worst = max(errors, key=lambda item: abs(item[2]))
        console.print(f"memory model vs measurement: {len(errors)} measured rows, largest error "
                      f"{worst[2] * 100:+.0f}% (row {worst[1]}, L={worst[0]})")
    if len({row.seq_len for row in rows}) > 1:
        limits = fit_limits(rows)
        console.print("stops being measured at: " + "; ".join(
            f"row {index}: {'never (all measured)' if limit is None else f'L={limit}'}"
            for index, limit in sorted(limits.items())))
    for row in rows:
        if row.status in ("error",):
            _progress(f"row {row.index} at L={row.seq_len} failed: {row.detail}")


def _write_outputs(header: dict, rows, json_path, csv_path, plot_path) -> None:
    from reformer_cli.memprofile.report import plot_series, to_csv, to_json

    try:
        if json_path is not None:
            write_text_file(json_path, json.dumps(to_json(header, rows), indent=2) + "\n",
                            flag="--json")
        if csv_path is not None:
            write_text_file(csv_path, to_csv(rows), flag="--csv")
        if plot_path is not None:
            _plot(plot_series(rows), header, plot_path)
    except OSError as error:
        raise InputError(f"cannot write {error.filename}: {error.strerror}",
                         "choose a writable path") from None


def _plot(series: dict, header: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5))
    for entry in series.values():
        line, = axes.plot(entry["lengths"], entry["peaks_gib"], marker="o", label=entry["label"])
        estimated = [i for i, flag in enumerate(entry["estimated"]) if flag]
        axes.scatter([entry["lengths"][i] for i in estimated],
                     [entry["peaks_gib"][i] for i in estimated],
                     facecolors="white", edgecolors=line.get_color(), zorder=3, s=60)
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xlabel("sequence length (tokens)")
    axes.set_ylabel("peak memory (GiB)")
    axes.set_title(f"reformer memprofile — {header['device']}, {header['dtype']}, "
                   f"{header['mode']} (hollow = estimated)")
    axes.legend(fontsize="small")
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def register(app: typer.Typer) -> None:
    app.command("memprofile")(memprofile_command)


def _unmeasured(device: str) -> ResourceError:
    return ResourceError(f"memprofile measures on cpu or cuda, not {device}", "use --device cpu")
