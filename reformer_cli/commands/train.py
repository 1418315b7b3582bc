"""`reformer train PATH...`: parse the options, run the training, report on stderr.

Every option defaults to None so that only what the user typed overrides the YAML config
(precedence: built-in defaults < --config YAML < --set < these flags). torch is imported only
inside the command, so `reformer --help` stays fast.
"""

from __future__ import annotations

from typing import List, Optional

import typer

from reformer_cli.config.device import DEVICE_NAMES
from reformer_cli.config.run import UNLIMITED_STEPS, DataConfig, RunConfig, TrainConfig

INPUT, RUN, DATA, TRAIN = "Input", "Run folder and config", "Tokens and windows", "Training"


def _default(value) -> str:
    return str(value)


def train_command(
    context: typer.Context,
    paths: Optional[List[str]] = typer.Argument(None, metavar="PATH", show_default=False,
                                                help="Text files or folders to train on ('-' = "
                                                     "stdin); with --task summarize or extract, "
                                                     "JSONL files of {document, summary}. With "
                                                     "--resume: the run's own files if left out."),
    val: Optional[str] = typer.Option(None, "--val", rich_help_panel=INPUT, metavar="PATH",
                                      show_default="the tail of the training text",
                                      help="Separate validation text (else a tail of the corpus)."),
    encoding: Optional[str] = typer.Option(None, "--encoding", rich_help_panel=INPUT, metavar="ENC",
                                           show_default=_default(DataConfig.encoding),
                                           help="Text encoding of the input files."),
    task: Optional[str] = typer.Option(None, "--task", rich_help_panel=INPUT, metavar="lm|summarize|extract",
                                       show_default=_default(DataConfig.task),
                                       help="lm: language model; summarize: document → summary pairs; "
                                            "extract: pairs → a sentence scorer."),
    config: Optional[str] = typer.Option(None, "--config", "-c", rich_help_panel=RUN,
                                         metavar="FILE.yaml", show_default="built-in defaults",
                                         help="YAML config file or preset name (e.g. enwik8-64k)."),
    settings: Optional[List[str]] = typer.Option(None, "--set", rich_help_panel=RUN,
                                                 metavar="SECTION.KEY=VALUE", show_default=False,
                                                 help="Override one config key; repeatable "
                                                      "(e.g. --set train.lr=3e-4)."),
    name: Optional[str] = typer.Option(None, "--name", rich_help_panel=RUN, metavar="NAME",
                                       show_default=_default(RunConfig.name),
                                       help="Run name: the run is written to models/NAME/."),
    out: Optional[str] = typer.Option(None, "--out", rich_help_panel=RUN, metavar="DIR",
                                      show_default="models/NAME", help="Run folder to write."),
    resume: Optional[str] = typer.Option(None, "--resume", rich_help_panel=RUN, metavar="auto|PATH",
                                         show_default="start a new run",
                                         help="Continue from the newest checkpoint of the run folder "
                                              "(auto), of a run folder or from a checkpoint folder; "
                                              "PATH may then be left out (the run records its files)."),
    init_from: Optional[str] = typer.Option(None, "--init-from", rich_help_panel=RUN,
                                            metavar="MODEL", show_default="random weights",
                                            help="Start a new run from a trained model's weights and "
                                                 "tokenizer (e.g. a language model, to fine-tune with "
                                                 "--task summarize, or a longer --seq-len)."),
    data_cache: Optional[str] = typer.Option(None, "--data-cache", rich_help_panel=DATA, metavar="DIR",
                                             show_default="RUN/data",
                                             help="Folder of the token shards (or the prepared "
                                                  "pairs of --task summarize/extract): the corpus is "
                                                  "tokenized once and reused by every run that names it."),
    prepare_only: bool = typer.Option(False, "--prepare-only", rich_help_panel=DATA,
                                      help="Tokenize the corpus into the shard folder (or "
                                           "prepare the pairs there), then stop."),
    seq_len: Optional[int] = typer.Option(None, "--seq-len", metavar="N", rich_help_panel=DATA,
                                          show_default=_default(DataConfig.seq_len),
                                          help="Tokens per training window."),
    tokenizer: Optional[str] = typer.Option(None, "--tokenizer", rich_help_panel=DATA,
                                            metavar="sentencepiece|byte",
                                            show_default=_default(DataConfig.tokenizer),
                                            help="Train SentencePiece on the corpus, or use bytes."),
    vocab_size: Optional[int] = typer.Option(None, "--vocab-size", metavar="N", rich_help_panel=DATA,
                                             show_default=_default(DataConfig.vocab_size),
                                             help="SentencePiece vocabulary size."),
    tokenizer_model: Optional[str] = typer.Option(None, "--tokenizer-model", rich_help_panel=DATA,
                                                  metavar="FILE", show_default="train one",
                                                  help="Reuse a tokenizer file or checkpoint folder."),
    steps: Optional[int] = typer.Option(None, "--steps", metavar="N", rich_help_panel=TRAIN,
                                        show_default=_default(TrainConfig.steps),
                                        help="Optimizer steps."),
    time_budget: Optional[float] = typer.Option(None, "--time-budget", rich_help_panel=TRAIN,
                                                metavar="SECONDS", show_default="no limit",
                                                help="Stop after this many seconds (alone: no step "
                                                     "limit; with --steps: whichever comes first)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", metavar="N", rich_help_panel=TRAIN,
                                             show_default=_default(TrainConfig.batch_size),
                                             help="Windows per micro-batch."),
    device: Optional[str] = typer.Option(None, "--device", rich_help_panel=TRAIN,
                                         metavar=DEVICE_NAMES,
                                         show_default=_default(TrainConfig.device),
                                         help="Where to train (auto: cuda > mps > cpu)."),
    seed: Optional[int] = typer.Option(None, "--seed", metavar="N", rich_help_panel=TRAIN,
                                       show_default=_default(TrainConfig.seed),
                                       help="Seeds initialisation, data order and dropout."),
) -> None:
    """Train a Reformer language model on raw text; write a resumable checkpoint folder."""
    from reformer_cli.commands.progress import ProgressDisplay
    from reformer_cli.training.launch import launched_rank
    from reformer_cli.training.setup import TrainRequest, check_run_without_paths, run_training

    if time_budget is not None and steps is None:
        steps = UNLIMITED_STEPS
    flags = {"name": name, "data.seq_len": seq_len, "data.tokenizer": tokenizer,
             "data.vocab_size": vocab_size, "data.tokenizer_model": tokenizer_model,
             "data.val_path": val, "data.encoding": encoding, "data.task": task,
             "data.cache": data_cache,
             "train.steps": steps, "train.time_budget": time_budget,
             "train.batch_size": batch_size, "train.device": device, "train.seed": seed}
    request = TrainRequest(paths=list(paths or []), config_path=config, overrides=list(settings or []),
                           flags=flags, out=out, resume=resume, init_from=init_from,
                           prepare_only=prepare_only)
    if not paths and resume is None:  # only a resume finds its files in the run folder
        check_run_without_paths(request)  # one that holds a run: how to resume it
        context.fail("Missing argument 'PATH'.")  # else a usage error, as for a required argument
    # Under torchrun only rank 0 reports (the others would repeat every line).
    quiet = launched_rank() != 0
    from reformer_cli.training.data_parallel import leaving_in_order

    with leaving_in_order(), ProgressDisplay() as display:
        run_training(request, on_event=None if quiet else display,
                     notify=(lambda message: None) if quiet else display.print)


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
