"""Run configuration: the data and training sections, and the whole run (model + data + train).

Saved whole into every checkpoint. Loading them from YAML files and `--set` overrides lives in
`load.py`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from reformer_cli.config.checks import check_choice, check_positive, check_range, keyed_error
from reformer_cli.config.device import check_device_name
from reformer_cli.config.model import ModelConfig
from reformer_cli.errors import ConfigError, ReformerError
from reformer_cli.text.encodings import check_encoding

TOKENIZERS = ("sentencepiece", "byte")
TASKS = ("lm", "summarize", "extract")
PRECISIONS = ("auto", "fp32", "bf16")
UNLIMITED_STEPS = 10**9  # train.steps when only a time budget limits the run
MIN_SEQ_LEN = 2  # the fewest LSH buckets (2) must fit in a window: model.n_buckets <= data.seq_len
# The smallest vocabulary SentencePiece trains with our settings: byte fallback's 256 byte pieces,
# <unk>, </s> and <sep>, and the space marker (a required character). A corpus needs one more
# piece for each other character it holds (261 for "aaa", 270 for a list of numbers), and
# text/tokenizer.py says how many when data.vocab_size is fewer.
MIN_SENTENCEPIECE_VOCAB = 260


@dataclass
class DataConfig:
    """What text to read and how to turn it into token windows."""

    seq_len: int = 2048  # tokens per training window
    tokenizer: str = "sentencepiece"  # sentencepiece (trained on the corpus) | byte
    vocab_size: int = 4000  # SentencePiece vocabulary (lowered with a warning if the corpus is small)
    tokenizer_model: str | None = None  # reuse this tokenizer file/folder instead of training one
    val_fraction: float = 0.05  # tail of the corpus kept for validation
    val_path: str | None = None  # a separate validation file (then val_fraction is unused)
    encoding: str = "utf-8"  # text encoding of the input files
    task: str = "lm"  # lm | summarize | extract (the last two: JSONL {"document", "summary"} pairs)
    cache: str | None = None  # folder of the token shards or prepared pairs (None: <run folder>/data)
    workers: int = 0  # processes encoding the corpus or preparing pairs (0 = one per CPU core)
    # The training files (PATH...) made absolute, recorded by `reformer train` at every start so
    # that `--resume RUN` needs no PATH (training/run_inputs.py); a config file's value is replaced.
    inputs: list[str] | None = None

    def validate(self, prefix: str = "data") -> "DataConfig":
        check_range(f"{prefix}.seq_len", self.seq_len, low=MIN_SEQ_LEN)
        check_choice(f"{prefix}.tokenizer", self.tokenizer, TOKENIZERS)
        if self.tokenizer == "sentencepiece":
            check_range(f"{prefix}.vocab_size", self.vocab_size, low=MIN_SENTENCEPIECE_VOCAB,
                        high=1_000_000)
        check_range(f"{prefix}.val_fraction", self.val_fraction, low=0.0, high=0.5)
        try:
            check_encoding(self.encoding)
        except ReformerError as error:
            raise keyed_error(f"{prefix}.encoding", error) from None
        check_choice(f"{prefix}.task", self.task, TASKS)
        check_range(f"{prefix}.workers", self.workers, low=0)
        return self


@dataclass
class TrainConfig:
    """Optimisation, evaluation, checkpointing and device settings."""

    steps: int = 300  # optimizer steps
    time_budget: float | None = None  # stop after this many seconds (None = no limit)
    batch_size: int = 2  # windows per micro-batch
    grad_accum: int = 1  # micro-batches per optimizer step
    lr: float = 2e-3  # peak learning rate (AdamW)
    weight_decay: float = 0.01  # AdamW decoupled weight decay
    warmup_steps: int = 30  # linear warmup before the cosine decay
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio
    grad_clip: float = 1.0  # max global gradient norm (0 = off)
    eval_every: int = 50  # steps between validation runs (0 = only at the end)
    eval_batches: int = 4  # validation batches per evaluation
    log_every: int = 10  # steps between progress/metrics lines
    checkpoint_every: int = 100  # steps between checkpoints (0 = only at the end)
    keep_checkpoints: int = 3  # step checkpoints kept (final/ is always kept)
    seed: int = 0  # seeds the model init, the data order and dropout
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    precision: str = "auto"  # auto (bf16 on capable GPUs, else fp32) | fp32 | bf16
    compile: bool = False  # torch.compile the model (the reversible stack itself stays eager)
    deterministic: bool = False  # deterministic kernels (exact resume on the CPU)

    def validate(self, prefix: str = "train") -> "TrainConfig":
        check_range(f"{prefix}.steps", self.steps, low=1)
        if self.time_budget is not None:
            check_positive(f"{prefix}.time_budget", self.time_budget, "seconds > 0 (or null for no limit)")
        check_range(f"{prefix}.batch_size", self.batch_size, low=1)
        check_range(f"{prefix}.grad_accum", self.grad_accum, low=1)
        check_positive(f"{prefix}.lr", self.lr, "> 0 (typically 1e-4 to 3e-3)")
        check_range(f"{prefix}.lr", self.lr, high=10.0)
        check_range(f"{prefix}.weight_decay", self.weight_decay, low=0.0)
        check_range(f"{prefix}.warmup_steps", self.warmup_steps, low=0)
        check_range(f"{prefix}.min_lr_ratio", self.min_lr_ratio, low=0.0, high=1.0)
        check_range(f"{prefix}.grad_clip", self.grad_clip, low=0.0)
        check_range(f"{prefix}.eval_every", self.eval_every, low=0)
        check_range(f"{prefix}.eval_batches", self.eval_batches, low=1)
        check_range(f"{prefix}.log_every", self.log_every, low=1)
        check_range(f"{prefix}.checkpoint_every", self.checkpoint_every, low=0)
        check_range(f"{prefix}.keep_checkpoints", self.keep_checkpoints, low=1)
        check_range(f"{prefix}.seed", self.seed, low=0)
        try:
            check_device_name(self.device)
        except ReformerError as error:
            raise keyed_error(f"{prefix}.device", error) from None
        check_choice(f"{prefix}.precision", self.precision, PRECISIONS)
        if self.precision == "bf16" and self.device == "cpu":
            raise ConfigError(f"{prefix}.precision='bf16' with {prefix}.device='cpu'",
                              "CPU runs use fp32; set train.precision=auto or fp32")
        return self


@dataclass
class RunConfig:
    """The whole resolved configuration of a training run; saved into every checkpoint."""

    name: str = "default"  # run name: the run folder is models/<name>/
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        """Plain nested dict of YAML-safe values (str, int, float, bool, None, lists)."""
        return {"name": self.name, "model": self.model.to_dict(),
                "data": dataclasses.asdict(self.data), "train": dataclasses.asdict(self.train)}

    def validate(self) -> "RunConfig":
        if not _is_plain_folder_name(self.name):
            raise ConfigError(f"name={self.name!r} is not a usable run name",
                              "use one folder name (no slashes, not . or ..), e.g. my-run")
        self.model.validate("model")
        self.data.validate("data")
        self.train.validate("train")
        _check_cross_fields(self)
        return self


def _is_plain_folder_name(name) -> bool:
    """models/<name> must be a folder inside models/: "." and ".." would be models/ or its parent."""
    return (isinstance(name, str) and bool(name.strip()) and name not in (".", "..")
            and not any(c in name for c in "/\\\0"))


def _check_cross_fields(config: RunConfig) -> None:
    model, data = config.model, config.data
    if model.max_seq_len < data.seq_len:
        raise ConfigError(f"model.max_seq_len={model.max_seq_len} is shorter than "
                          f"data.seq_len={data.seq_len}",
                          f"raise model.max_seq_len to at least {data.seq_len} or lower data.seq_len")
    types_used = {model.layer_type(i) for i in range(model.n_layers)}
    if "lsh" in types_used:
        # LSH sorts a window into chunks of chunk_length; a chunk longer than the window makes the
        # hashing pointless (one chunk = full attention) and the bucket count degenerate.
        if model.chunk_length > data.seq_len:
            raise ConfigError(
                f"model.chunk_length={model.chunk_length} is longer than data.seq_len={data.seq_len} "
                f"with lsh layers", f"model.chunk_length must be in [1, {data.seq_len}]")
        if model.n_buckets and model.n_buckets > data.seq_len:
            raise ConfigError(
                f"model.n_buckets={model.n_buckets} is more than data.seq_len={data.seq_len} positions",
                f"model.n_buckets must be an even number in [2, {data.seq_len}] or 0 (auto)")
