"""Everything `reformer train` does before and around the Trainer.

resolve the config (and the checkpoint to resume) → read and split the text → tokenizer →
token ids → sampler and validation batches → model → Trainer → run folder.

The run folder is locked before it is read (one process trains it at a time), and nothing but
shards is written in it until every input has been read and checked, so a bad file, a bad
config or a corpus shorter than one window leaves no half-made run folder behind (and a resume
given other text than its run's no shards of it).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from reformer_cli import checkpoint as ckpt
from reformer_cli.checkpoint.layout import SUPERSEDED_PATTERN
from reformer_cli.config.device import resolve_device
from reformer_cli.config.load import (
    FLAG_NAMES,
    config_file_model_keys,
    load_run_config,
    parse_override,
)
from reformer_cli.errors import ConfigError, InputError
from reformer_cli.shards.inputs import check_inputs_exist, warn_about_inputs
from reformer_cli.text.encodings import check_encoding
from reformer_cli.training.launch import launched_rank
from reformer_cli.training.pair_data import prepare_pairs
from reformer_cli.training.prepared import PreparedData, eval_set_for
from reformer_cli.training.run_inputs import (
    inputs_to_train_on,
    new_run_option,
    record_inputs,
    run_without_files,
    same_text_check,
)

if TYPE_CHECKING:  # the trainer imports torch, which is imported only once the inputs are good
    from reformer_cli.training.trainer import MetricsLog

# Settings a resumed run may not change: they define the model, the tokens or the windows.
FIXED_ON_RESUME = ("data.seq_len", "data.tokenizer", "data.vocab_size", "data.task")
# Model settings that define the weights: a run started --init-from a checkpoint keeps them.
# The others (chunk_length, n_hashes, dropout, reversible, max_seq_len, ...) may change, and so
# may `causal`: a language model's weights can start a bidirectional sentence scorer. They come
# from the YAML file where it sets them, else from the checkpoint.
DATA_FOLDER = "data"  # the run's token shards, unless data.cache names a shared folder
METRICS_FILE = "metrics.jsonl"  # every run of the folder appends its records (trainer.MetricsLog)
WEIGHT_SETTINGS = ("vocab_size", "d_model", "n_heads", "d_ff", "n_layers", "layer_types",
                   "tie_embeddings", "rotary_base")


@dataclass
class TrainRequest:
    paths: list[str]  # empty on a resume: the files the run recorded
    config_path: str | None = None
    overrides: list[str] = field(default_factory=list)  # --set section.key=value
    flags: dict = field(default_factory=dict)  # {"data.seq_len": 4096, ...}; None = not given
    out: str | None = None  # run folder (default models/<name>)
    resume: str | None = None  # "auto" or a checkpoint / run folder
    init_from: str | None = None  # start a new run from these weights (and their tokenizer)
    prepare_only: bool = False  # tokenize into the shard folder (pairs: prepare them), then stop


def resolve_run(request: TrainRequest, initial_weights: Path | None = None,
                claim: RunFolderClaim | None = None):
    """(config, run_dir, checkpoint to resume or None). `initial_weights`: the verified
    --init-from checkpoint, whose weight-shaping model settings the config takes. `claim` takes
    the run folder before its checkpoints are read: another run may be writing them."""
    if initial_weights is not None:
        config = _config_from_initial_weights(request, initial_weights)
    else:
        config = load_run_config(request.config_path, request.overrides, request.flags)
    check_encoding(config.data.encoding)  # a codec, but not of text (rot13, unicode_escape)
    named, named_run = _resume_source(request.resume)
    run_dir = _run_folder(request, config, named, named_run)
    if claim is not None:
        claim.take(run_dir)
    resume_from = named
    if request.resume == "auto":
        resume_from = ckpt.latest_checkpoint(run_dir)
    elif named_run is not None:  # read only now: until the lock, another run may be writing it
        resume_from = ckpt.resolve_model_dir(named_run)
    elif named is None and ckpt.list_checkpoints(run_dir):
        raise InputError(f"{run_dir} already holds a training run",
                         "continue it with --resume auto, or choose another --name or --out")
    if resume_from is not None:
        ckpt.verify_checkpoint(resume_from)
        saved = ckpt.load_config(resume_from)
        # The checkpoint's config replaces the YAML file; --set and flags still apply on top.
        saved_settings = [f"{key}={json.dumps(value)}" for key, value in _flatten(saved.to_dict())]
        config = load_run_config(None, saved_settings + request.overrides, request.flags)
        if saved.data.tokenizer == "byte":  # ignores the vocabulary size asked for, as in a new run
            config.data.vocab_size = saved.data.vocab_size
        _check_unchanged(saved, config, request.out)
    return config, run_dir, resume_from


def check_run_without_paths(request: TrainRequest) -> None:
    """For a new run given no PATH (a usage error): an InputError instead when its run folder
    already holds a run, which the command most likely meant to resume."""
    config = load_run_config(request.config_path, request.overrides, request.flags)
    run_dir = _run_folder(request, config, None, None)
    if ckpt.list_checkpoints(run_dir):
        raise run_without_files(run_dir)


def _resume_source(resume: str | None) -> tuple[Path | None, Path | None]:
    """(checkpoint, run folder) named by --resume, at most one of them: a run folder (or a run
    name) names no checkpoint yet, as its latest is found once the folder is locked. An archived
    branch (superseded-*/) is no run folder: nothing trains into it, so it resolves at once."""
    if resume in (None, "auto"):
        return None, None
    run_folder = ckpt.named_run_folder(resume)
    if run_folder is not None and not SUPERSEDED_PATTERN.match(run_folder.name):
        return None, run_folder
    return ckpt.resolve_model_dir(resume), None


def _run_folder(request: TrainRequest, config, named_checkpoint: Path | None,
                named_run: Path | None) -> Path:
    """--out, else the run folder named by --resume or holding the checkpoint it names, else
    models/NAME."""
    inside_run = named_checkpoint is not None and (
        named_checkpoint.name == ckpt.FINAL_NAME or ckpt.STEP_PATTERN.match(named_checkpoint.name))
    archive = ckpt.archived_branch(named_checkpoint) if inside_run else None
    if archive is not None and not request.out:
        raise InputError(f"{named_checkpoint} is in an archived branch ({archive})",
                         "resume it into a new run folder with --out DIR")
    run_dir = (Path(request.out) if request.out else named_run if named_run is not None
               else named_checkpoint.parent if inside_run else Path(ckpt.MODELS_DIR) / config.name)
    if run_dir.exists() and not run_dir.is_dir():
        raise InputError(f"{'--out ' + request.out if request.out else run_dir} is a file, not a "
                         "folder", "give a folder for the run (it is created if missing)")
    return run_dir


class RunFolderClaim:
    """This process's hold on the run folder. The writer (rank 0 under torchrun) locks it from
    before its checkpoints are read to the end of the run; --prepare-only does not, as it writes
    only shards, which lock themselves. A folder this claim found missing is removed again if
    the run fails before it starts: bad input leaves no half-made run behind."""

    def __init__(self, writer: bool, locks: bool):
        self.writer, self.locks = writer, locks
        self.run_dir: Path | None = None
        self.created = False
        self._held = contextlib.ExitStack()

    def take(self, run_dir: Path) -> None:
        if not self.writer:
            return
        existed = run_dir.exists()
        if self.locks:
            self._held.enter_context(ckpt.run_folder_lock(run_dir))
        self.run_dir, self.created = run_dir, not existed  # only once locked: never another's

    def started(self) -> None:
        """The run folder now holds this run: a failure from here on keeps it."""
        self.created = False

    def __enter__(self) -> RunFolderClaim:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        with self._held:  # released after the removal below
            if kind is not None and self.created:
                shutil.rmtree(self.run_dir, ignore_errors=True)


def resolve_initial_weights(request: TrainRequest) -> Path | None:
    """The checkpoint folder named by --init-from (verified), or None."""
    if not request.init_from:
        return None
    if request.resume:
        raise InputError("--init-from and --resume cannot be combined",
                         "--resume continues a run; --init-from starts a new run from its weights")
    source = ckpt.resolve_model_dir(request.init_from)
    ckpt.verify_checkpoint(source)
    return source


def _config_from_initial_weights(request: TrainRequest, source: Path):
    """The new run's config. The settings that shape the weights come from the source checkpoint
    (a YAML file's are overruled; --set or a flag that changes one is refused, naming the key);
    the other model settings from the YAML file where it sets them (configs/extract.yaml's
    `causal: false` turns a language model into a bidirectional scorer), else from the source."""
    saved = ckpt.load_config(source)
    from_file = config_file_model_keys(request.config_path)
    saved_model = [f"model.{key}={json.dumps(value)}" for key, value in saved.model.__dict__.items()
                   if key in WEIGHT_SETTINGS or key not in from_file]
    config = load_run_config(request.config_path, saved_model + request.overrides, request.flags)
    for key in WEIGHT_SETTINGS:
        old, new = getattr(saved.model, key), getattr(config.model, key)
        if old != new:
            raise ConfigError(f"model.{key} cannot change with --init-from (the weights in "
                              f"{source} have {old!r}, the command asks for {new!r})",
                              "drop that setting, or train a new model without --init-from")
    if _asked_for(request, "data.tokenizer_model") is not None:
        raise ConfigError("--tokenizer-model cannot be combined with --init-from",
                          "drop --tokenizer-model: the weights come with their own tokenizer")
    _check_tokenizer_flags(request, saved.data.tokenizer, saved.model.vocab_size,
                           f"the weights in {source}")
    for key, value in (("tokenizer_model", str(source)), ("tokenizer", saved.data.tokenizer),
                       ("vocab_size", saved.data.vocab_size)):
        setattr(config.data, key, value)  # the weights only make sense with their tokenizer
    return config


def _asked_for(request: TrainRequest, key: str):
    """The value the command line asks for `key` (a flag, else the last --set of it), or None:
    a preset's value is not a request the user made."""
    if request.flags.get(key) is not None:
        return request.flags[key]
    asked = None
    for setting in request.overrides:
        name, value = parse_override(setting)
        if name == key:
            asked = value
    return asked


def _check_tokenizer_flags(request: TrainRequest, kind: str, vocab_size: int, owner: str) -> None:
    """A tokenizer that comes with weights or with --tokenizer-model overrules the tokenizer
    flags; one that asks for another kind or size is an error, not silently dropped."""
    for key, actual in (("data.tokenizer", kind), ("data.vocab_size", vocab_size)):
        asked = _asked_for(request, key)
        if key == "data.vocab_size" and kind == "byte":
            continue  # the byte tokenizer ignores the vocabulary size in any run
        if asked is not None and asked != actual:
            raise ConfigError(f"{FLAG_NAMES[key]} {asked} conflicts with the tokenizer of "
                              f"{owner} ({actual})",
                              f"drop {FLAG_NAMES[key]}: that tokenizer is used as it is")


def _flatten(values: dict, prefix: str = ""):
    for key, value in values.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _check_unchanged(saved, config, out: str | None) -> None:
    old, new = dict(_flatten(saved.to_dict())), dict(_flatten(config.to_dict()))
    fixed = [k for k in old if k.startswith("model.")] + list(FIXED_ON_RESUME)
    for key in fixed:
        if old.get(key) != new.get(key):
            raise ConfigError(f"{key} cannot change when resuming (the checkpoint has "
                              f"{old.get(key)!r}, the command asks for {new.get(key)!r})",
                              f"drop that setting, or start a new run with {new_run_option(out)}")


def prepare_data(paths: list[str], config, tokenizer=None, data_dir: str | Path | None = None,
                 on_event: Callable | None = None, notify: Callable[[str], None] | None = None,
                 check_fingerprint: Callable[[str], None] | None = None) -> PreparedData:
    """Read, split, tokenize and window the text. `tokenizer` given = reuse it (resume). Language
    models read token shards kept in `data_dir` (None: a temporary folder); the pair tasks keep
    their prepared examples there (None: nothing kept). What deserves a warning (a lowered
    vocabulary, truncated summaries) is in `warnings` and goes to `notify`, also when an error
    ends the preparation: a lowered vocabulary set the token count of "fewer than one window".
    `check_fingerprint` (a resume's) gets the fingerprint of the training data: what it raises
    leaves `data_dir` without what this call added to it."""
    data = config.data
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            check_inputs_exist(paths, data.val_path)
            warn_about_inputs(paths, data)
            if data.task in ("summarize", "extract"):
                prepared = _prepare_pair_examples(paths, config, tokenizer, data_dir, on_event,
                                                  check_fingerprint)
            else:
                prepared = _prepare_language_model(paths, config, tokenizer, data_dir, on_event,
                                                   check_fingerprint)
        finally:
            said = [str(warning.message) for warning in caught]
            if notify is not None:
                for message in said:
                    notify(f"warning: {message}")
    prepared.warnings = said
    return prepared


def _prepare_pair_examples(paths, config, tokenizer, data_dir, on_event,
                           check_fingerprint) -> PreparedData:
    """prepare_pairs, which keeps new examples in `data_dir` before their fingerprint is known:
    a fingerprint refused removes the files it added there."""
    before = _pair_files(data_dir)
    prepared = prepare_pairs(paths, config, tokenizer, data_dir, on_event)
    try:
        if check_fingerprint is not None:
            check_fingerprint(prepared.fingerprint)
    except BaseException:
        for path in _pair_files(data_dir) - before:
            path.unlink(missing_ok=True)
        raise
    return prepared


def _pair_files(folder: str | Path | None) -> set[Path]:
    """The prepared-pair files (examples, tokenizers) in `folder`."""
    from reformer_cli.data.pair_cache import KINDS

    if folder is None or not Path(folder).is_dir():
        return set()
    return {path for path in Path(folder).iterdir()
            if any(kind.fullmatch(path.name) for kind in KINDS)}


def _prepare_language_model(paths, config, tokenizer, data_dir, on_event,
                            check_fingerprint) -> PreparedData:
    from reformer_cli.data.windows import WindowSampler, evaluation_batches
    from reformer_cli.shards.prepare import ShardOptions, prepare_shards
    from reformer_cli.text.tokenizer import load_tokenizer

    data, train = config.data, config.train
    temporary = None
    if data_dir is None:
        temporary = tempfile.TemporaryDirectory(prefix="reformer-shards-")
        data_dir = temporary.name
    if tokenizer is None and data.tokenizer_model:
        tokenizer = load_tokenizer(data.tokenizer_model)
    shards = prepare_shards(paths, data, train.seed, data_dir, tokenizer, on_event,
                            ShardOptions(workers=data.workers), check_fingerprint)
    sampler = WindowSampler(shards.train, data.seq_len, seed=train.seed)
    eval_set = None
    if shards.val is not None:
        batches = evaluation_batches(shards.val, data.seq_len, train.batch_size, train.eval_batches)
        eval_set = eval_set_for(batches, shards.tokenizer) if batches else None
    return PreparedData(shards.tokenizer, sampler, eval_set, shards.fingerprint, len(shards.train),
                        shards=shards, keep_alive=temporary)


def _prepare_once(request, config, tokenizer, data_dir: Path, launched, on_event, notify,
                  check_fingerprint) -> PreparedData:
    """prepare_data for this process. Under torchrun rank 0 prepares first and the others then
    find its shards or prepared pairs (the lock in shards/prepare.py also serialises runs sharing
    a shard folder)."""
    def prepare(reports: bool) -> PreparedData:
        return prepare_data(request.paths, config, tokenizer, data_dir, on_event if reports else None,
                            notify if reports else None, check_fingerprint)

    if launched is None:
        return prepare(reports=True)
    prepared = []
    launched.share_from_main(lambda: prepared.append(  # the others wait for rank 0 here
        prepare(reports=True)) or b"ready")
    return prepared[0] if prepared else prepare(reports=False)


def _describe_shards(prepared: PreparedData) -> str:
    shards = prepared.shards
    validation = f", {len(shards.val):,} for validation" if shards.val is not None else ""
    work = (f"encoded {shards.encoded} shard(s), reused {shards.reused}" if shards.encoded
            else f"reused all {shards.reused} shard(s)")
    return f"tokens: {prepared.train_tokens:,} for training{validation} in {shards.folder} ({work})"


def run_training(request: TrainRequest, on_event: Callable | None,
                 notify: Callable[[str], None]) -> dict:
    """The whole `reformer train`: returns the final evaluation (and `path`). `on_event` receives
    the trainer's events, `notify` the warnings and notes meant for the user."""
    initial_weights = resolve_initial_weights(request)  # checksummed once, here
    with RunFolderClaim(writer=launched_rank() == 0, locks=not request.prepare_only) as claim:
        config, run_dir, resume_from = resolve_run(request, initial_weights, claim)
        paths = inputs_to_train_on(request.paths, config, request.resume, resume_from, run_dir,
                                   notify)
        return _train(replace(request, paths=paths), config, run_dir, resume_from,
                      initial_weights, claim, on_event, notify)


def _train(request, config, run_dir: Path, resume_from: Path | None, initial_weights: Path | None,
           claim: RunFolderClaim, on_event, notify) -> dict:
    from reformer_cli.text.tokenizer import load_tokenizer
    from reformer_cli.training import data_parallel

    saved_step = ckpt.checkpoint_step(resume_from) if resume_from is not None else None
    if saved_step is not None and saved_step >= config.train.steps and not request.prepare_only:
        # Nothing to train: the run folder stays exactly as it is (no data, evaluation, final/).
        notify(f"{resume_from} is already at step {saved_step} of {config.train.steps}; "
               "raise --steps to train further")
        return {"path": str(resume_from), "step": saved_step}
    launched = data_parallel.start(config.train.device)  # torchrun: join the group (None otherwise)
    if launched is not None:  # every rank must see the same run folder (a shared disk)
        launched.check_same(int(resume_from is not None), "whether there is a checkpoint to resume")
    if config.train.device not in ("auto", "cpu") and not request.prepare_only:
        resolve_device(config.train.device)  # an unavailable GPU fails before the slow steps
    if config.train.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS
    tokenizer_source = resume_from or initial_weights
    saved_tokenizer = load_tokenizer(tokenizer_source) if tokenizer_source is not None else None
    if tokenizer_source is None and config.data.tokenizer_model:
        named = load_tokenizer(config.data.tokenizer_model)  # checked before any slow work
        _check_tokenizer_flags(request, named.kind, named.vocab_size,
                               f"--tokenizer-model {config.data.tokenizer_model}")
    data_dir = Path(config.data.cache) if config.data.cache else run_dir / DATA_FOLDER
    prepared = _prepare_once(request, config, saved_tokenizer, data_dir, launched, on_event, notify,
                             same_text_check(resume_from, request.out))
    if launched is not None:  # 24 bits of the hash: check_same compares float32 values exactly
        launched.check_same(int(prepared.fingerprint[:6], 16), "the training data (its fingerprint)")
    if prepared.shards is not None:
        notify(_describe_shards(prepared))
    if request.prepare_only:
        return {"path": str(data_dir), "train_tokens": prepared.train_tokens}
    # torch is imported only now: bad configs and inputs are reported without waiting for it.
    from reformer_cli.core.model import ReformerLM
    from reformer_cli.training.trainer import MetricsLog, Runtime, Trainer, seed_everything

    runtime = launched or Runtime(resolve_device(config.train.device))
    record_inputs(config, request.paths)  # saved with the run: `--resume RUN` then needs no PATH
    if resume_from is None:  # the config records the tokenizer actually used (also a reused one)
        # The real size: a reused or lowered SentencePiece vocabulary's, or the byte tokenizer's.
        config.model.vocab_size = config.data.vocab_size = prepared.tokenizer.vocab_size
        config.data.tokenizer = prepared.tokenizer.kind
        config.validate()
    elif prepared.tokenizer.vocab_size > config.model.vocab_size:
        raise InputError(f"the tokenizer of {resume_from} does not fit its model")
    if prepared.eval_set is None:
        notify("warning: no validation text (data.val_fraction is 0 or the tail is empty); "
               "losses are training losses only")
    seed_everything(config.train.seed)
    model = ReformerLM(config.model)
    trainer = Trainer(config, model, prepared.tokenizer, prepared.sampler, prepared.eval_set, run_dir,
                      runtime=runtime, on_event=on_event, data_fingerprint=prepared.fingerprint)
    if initial_weights is not None:
        ckpt.load_model_state(model, initial_weights)
        trainer.initialised_from = initial_weights
    if resume_from is not None:
        trainer.resume_from(resume_from)
    runtime.check_same(trainer.step, "the step to resume from")
    if runtime.world_size > 1:
        train = config.train
        notify(f"data parallel: {runtime.world_size} processes, effective batch "
               f"{train.batch_size} × {train.grad_accum} × {runtime.world_size} = "
               f"{train.batch_size * train.grad_accum * runtime.world_size} windows per step")
    if not runtime.is_main:
        return trainer.fit()  # rank 0 alone writes the run folder, metrics and checkpoints
    # All inputs are good: only now does the run folder (made by the claim) take this run.
    metrics = MetricsLog(run_dir / METRICS_FILE)
    if resume_from is not None:
        _set_aside_abandoned_branch(run_dir, trainer.step, metrics, notify)
    ckpt.write_run_config(run_dir, config)
    claim.started()
    trainer.add_listener(metrics)
    return trainer.fit()


def _set_aside_abandoned_branch(run_dir: Path, step: int, metrics: MetricsLog, notify) -> None:
    """A resume from an older step abandons the run folder's later checkpoints: keep them aside."""
    moved = ckpt.set_aside_later_checkpoints(run_dir, step)
    if moved is not None:
        metrics.branch(step, moved.folder.name)
        count = f"{len(moved.names)} checkpoint{'s' if len(moved.names) > 1 else ''}"
        notify(f"moved {count} after step {step} ({', '.join(moved.names)}) to {moved.folder}; "
               f"`--resume auto` continues from step {step}; a \"branch\" record in "
               f"{METRICS_FILE} ends the abandoned branch's records")
