"""The examples of the pair tasks (--task summarize, --task extract) for `reformer train`: read
the JSONL pairs, split off validation, get the tokenizer (given, named, or SentencePiece trained
on the pairs), then label and window every pair, or read all of that back from the data folder
where an earlier start kept it (data/pair_cache.py)."""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Callable

from reformer_cli.errors import InputError, ResourceError
from reformer_cli.training.prepared import PreparedData, data_fingerprint, eval_set_for


def prepare_pairs(paths, config, tokenizer, data_dir=None, on_event=None) -> PreparedData:
    """Pair examples, reused from `data_dir` (data/pair_cache.py) when they were prepared there
    from the same pairs, settings, tokenizer and code; prepared and kept there otherwise."""
    from reformer_cli.data.extraction import ExtractionExamples
    from reformer_cli.data.pair_cache import examples_file, examples_key, load_prepared
    from reformer_cli.data.split import split_validation_pairs
    from reformer_cli.data.summarization import SummarizationExamples
    from reformer_cli.shards.inputs import reading_encoding, reading_validation_file
    from reformer_cli.shards.prepare import DataEvent
    from reformer_cli.text.reading import read_summarization_pairs

    data, train = config.data, config.train
    if not paths:
        raise InputError("no input given", "pass a JSONL file of {document, summary} pairs")
    encoding = reading_encoding(data.encoding)  # "not valid UTF-8", as the text path says it
    pairs = [pair for path in paths for pair in read_summarization_pairs(path, encoding)]
    if data.val_path:
        with reading_validation_file():
            val_pairs = read_summarization_pairs(data.val_path, encoding)
        train_pairs = pairs
    else:
        train_pairs, val_pairs = split_validation_pairs(pairs, data.val_fraction)
    emit = on_event or (lambda event: None)
    tokenizer = _pair_tokenizer(config, tokenizer, train_pairs, data_dir, emit)
    examples = ExtractionExamples if data.task == "extract" else SummarizationExamples
    cache = None if data_dir is None else examples_file(data_dir, examples_key(
        data.task, data.seq_len, tokenizer.fingerprint(), train_pairs, val_pairs))
    reused = load_prepared(cache) if cache is not None else None
    if reused is not None:
        sampler, val_examples = (None if split is None else examples.from_arrays(
            split.inputs, split.targets, data.seq_len, train.seed, split.stats)
            for split in (reused.train, reused.val))
        emit(DataEvent("pairs", {"stage": "reused", "documents": len(pairs), "path": str(cache)}))
    else:
        sampler, val_examples = _build_pair_examples(examples, config, train_pairs, val_pairs,
                                                     tokenizer, emit)
        if cache is not None and _keep_pair_examples(cache, sampler, val_examples):
            emit(DataEvent("pairs", {"stage": "kept", "documents": len(pairs), "path": str(cache)}))
    eval_set = None
    if val_examples is not None:
        batches = val_examples.evaluation_batches(train.batch_size, train.eval_batches)
        eval_set = eval_set_for(batches, tokenizer, per_sentence=data.task == "extract")
    fingerprint = data_fingerprint(sampler.inputs.tobytes() + sampler.targets.tobytes())
    return PreparedData(tokenizer, sampler, eval_set, fingerprint, int(sampler.inputs.size))


def _known_tokenizer(config, tokenizer):
    """The tokenizer given (a resumed or --init-from run), named (data.tokenizer_model) or the
    byte one; None when a SentencePiece model is to be trained on the text."""
    from reformer_cli.text.tokenizer import ByteTokenizer, load_tokenizer

    if tokenizer is not None:
        return tokenizer
    if config.data.tokenizer_model:
        return load_tokenizer(config.data.tokenizer_model)
    return ByteTokenizer() if config.data.tokenizer == "byte" else None


def _pair_tokenizer(config, tokenizer, train_pairs, data_dir, emit):
    """The known tokenizer; else the SentencePiece model trained on these pairs before, kept in
    `data_dir` (what its training adjusted is said again); else one trained now and kept."""
    from reformer_cli.data.pair_cache import (
        TrainedTokenizer,
        load_tokenizer_record,
        save_tokenizer,
        tokenizer_file,
        tokenizer_key,
    )
    from reformer_cli.shards.prepare import DataEvent
    from reformer_cli.text.tokenizer import SentencePieceTokenizer, train_sentencepiece

    known = _known_tokenizer(config, tokenizer)
    if known is not None:
        return known
    data = config.data
    path = None if data_dir is None else \
        tokenizer_file(data_dir, tokenizer_key(data.vocab_size, config.train.seed, train_pairs))
    record = load_tokenizer_record(path) if path is not None else None
    if record is not None:
        for note in record.notes:
            warnings.warn(note, stacklevel=2)
        return SentencePieceTokenizer(record.model_proto, record.notes, record.character_coverage)
    texts = [text for pair in train_pairs for text in pair]
    emit(DataEvent("pairs", {"stage": "tokenizer", "texts": len(texts), "vocab_size": data.vocab_size}))
    trained = train_sentencepiece(texts, data.vocab_size, seed=config.train.seed)
    if path is not None:
        _keep(lambda: save_tokenizer(path, TrainedTokenizer(
            trained.model_proto, list(trained.notes), trained.character_coverage)))
    return trained


def _build_pair_examples(examples, config, train_pairs, val_pairs, tokenizer, emit):
    """(training examples, validation examples or None)."""
    from reformer_cli.shards.prepare import DataEvent

    data, train = config.data, config.train
    total, done, started = len(train_pairs) + len(val_pairs), [0], time.perf_counter()

    def one_more_document() -> None:  # labels and windows of the pairs take minutes for thousands
        done[0] += 1
        emit(DataEvent("pairs", {"stage": "examples", "done": done[0], "total": total,
                                 "elapsed": time.perf_counter() - started}))

    workers = data.workers or os.cpu_count() or 1
    sampler = examples(train_pairs, tokenizer, data.seq_len, seed=train.seed,
                       on_document=one_more_document, workers=workers)
    val_examples = None
    if val_pairs:
        val_examples = examples(val_pairs, tokenizer, data.seq_len, seed=train.seed,
                                on_document=one_more_document, workers=workers)
    return sampler, val_examples


def _keep_pair_examples(cache: Path, sampler, val_examples) -> bool:
    """Save the examples for the next start; True when they were saved."""
    from reformer_cli.data.pair_cache import PreparedPairs, PreparedSplit, save_prepared

    def split(examples):
        return None if examples is None else \
            PreparedSplit(examples.inputs, examples.targets, examples.stats())

    return _keep(lambda: save_prepared(cache, PreparedPairs(split(sampler), split(val_examples))))


def _keep(save: Callable[[], None]) -> bool:
    """save(); a disk that refuses costs the next start the preparation again, not this run,
    so it is a warning (and False)."""
    try:
        save()
    except ResourceError as error:
        warnings.warn(f"{error.message}; training goes on, and the next start prepares the pairs "
                      "again", stacklevel=3)
        return False
    return True
