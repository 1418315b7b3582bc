"""Prepared pair examples are kept in the data folder and reused by the next start only when
nothing they depend on changed: the pairs, seq_len, the task, the tokenizer and the code. What
comes back equals what a fresh preparation builds, down to the dtypes the run's data fingerprint
hashes; the warnings of the first start are said again; a damaged file or a refusing disk costs
a preparation, never the run."""

import gc
import json
import shutil
import warnings
from pathlib import Path
from pydoc_data.topics import topics

import numpy as np
import pytest
from cli_runs import run_cli

from reformer_cli.config.load import load_run_config
from reformer_cli.data import pair_cache
from reformer_cli.training.setup import prepare_data

KEYS = [key for key in sorted(topics) if len(topics[key]) > 800][:30]


def write_pairs(path, summary_chars=200, edit=None):
    records = [{"document": topics[key], "summary": topics[key][:summary_chars]} for key in KEYS]
    if edit is not None:
        records[edit]["summary"] += " One more sentence."
    path.write_text("\n".join(json.dumps(record) for record in records), encoding="utf-8")
    return path


def settings(task="extract", *extra):
    return load_run_config(None, [f"data.task={task}", "data.tokenizer=byte", "data.seq_len=512",
                                  "data.val_fraction=0.1", *extra])


def prepare(pairs, config, data_dir):
    events = []
    prepared = prepare_data([str(pairs)], config, data_dir=data_dir, on_event=events.append)
    return prepared, [event.values["stage"] for event in events]


def examples_files(folder):
    return [path for path in folder.glob("pairs-*.npz") if not path.name.startswith("pairs-tokenizer-")]


def same_examples(first, second):
    for a, b in ((first.sampler.inputs, second.sampler.inputs),
                 (first.sampler.targets, second.sampler.targets)):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert first.fingerprint == second.fingerprint
    assert first.sampler.stats() == second.sampler.stats()
    assert first.eval_set.characters == second.eval_set.characters
    assert first.eval_set.unit == second.eval_set.unit
    for (ids_a, targets_a), (ids_b, targets_b) in zip(first.eval_set.batches, second.eval_set.batches):
        assert ids_a.equal(ids_b) and targets_a.equal(targets_b)


@pytest.mark.parametrize("task", ["extract", "summarize"])
def test_the_next_start_reuses_exactly_what_the_first_prepared(tmp_path, task):
    pairs = write_pairs(tmp_path / "pairs.jsonl")
    first, first_stages = prepare(pairs, settings(task), tmp_path / "data")
    assert "examples" in first_stages and first_stages[-1] == "kept"
    assert len(examples_files(tmp_path / "data")) == 1
    second, second_stages = prepare(pairs, settings(task), tmp_path / "data")
    assert second_stages == ["reused"]
    same_examples(first, second)
    fresh, _ = prepare(pairs, settings(task), None)  # no folder: nothing kept, nothing reused
    same_examples(first, fresh)
    assert first.sampler.stats()  # the counts travel with the arrays
    if task == "extract":
        assert second.sampler.n_kept == first.sampler.n_kept > 0


@pytest.mark.parametrize("change", ["pairs", "seq_len", "task", "vocabulary", "code"])
def test_a_change_to_anything_the_examples_depend_on_prepares_them_again(tmp_path, monkeypatch,
                                                                         change):
    pairs = write_pairs(tmp_path / "pairs.jsonl")
    prepare(pairs, settings(), tmp_path / "data")
    config = settings()
    if change == "pairs":
        write_pairs(pairs, edit=3)
    elif change == "seq_len":
        config = settings("extract", "data.seq_len=640")
    elif change == "task":
        config = settings("summarize")
    elif change == "vocabulary":
        config = settings("extract", "data.tokenizer=sentencepiece", "data.vocab_size=600")
    else:  # a new version of the package: one byte of one module differs
        copy = tmp_path / "package"
        shutil.copytree(pair_cache.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
        module = copy / "data" / "extraction.py"
        module.write_text(module.read_text() + "\n# changed\n")
        monkeypatch.setattr(pair_cache, "PACKAGE_DIR", copy)
        pair_cache.package_source_hash.cache_clear()
    try:
        _, stages = prepare(pairs, config, tmp_path / "data")
    finally:
        pair_cache.package_source_hash.cache_clear()
    assert "reused" not in stages and "examples" in stages
    assert len(examples_files(tmp_path / "data")) == 2


def test_the_package_hash_sees_every_module_and_only_the_modules(tmp_path, monkeypatch):
    copy = tmp_path / "package"
    shutil.copytree(pair_cache.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    hashes = []
    for edit in (None, "notes.txt", "summarize/terms.py"):
        if edit:
            (copy / edit).write_text((copy / edit).read_text() + "\n" if (copy / edit).exists() else "x")
        monkeypatch.setattr(pair_cache, "PACKAGE_DIR", copy)
        pair_cache.package_source_hash.cache_clear()
        hashes.append(pair_cache.package_source_hash())
    pair_cache.package_source_hash.cache_clear()
    monkeypatch.undo()
    assert hashes[0] == pair_cache.package_source_hash()  # the copy hashes as the original
    assert hashes[1] == hashes[0] and hashes[2] != hashes[0]


def test_a_trained_tokenizer_and_its_warning_come_back_with_the_examples(tmp_path):
    pairs = write_pairs(tmp_path / "pairs.jsonl")
    config = settings("extract", "data.tokenizer=sentencepiece", "data.vocab_size=30000")
    first, first_stages = prepare(pairs, config, tmp_path / "data")
    assert first_stages[0] == "tokenizer"  # trained once ...
    lowered = [w for w in first.warnings if "too small for a 30000-token vocabulary" in w]
    assert lowered  # the corpus cannot fill 30,000 pieces
    second, second_stages = prepare(pairs, config, tmp_path / "data")
    assert second_stages == ["reused"]  # ... and not again
    assert second.tokenizer.fingerprint() == first.tokenizer.fingerprint()
    assert second.tokenizer.describe() == first.tokenizer.describe()
    assert [w for w in second.warnings if w in lowered] == lowered
    same_examples(first, second)
    # A resumed run brings the tokenizer from its checkpoint: the same examples by its fingerprint.
    events = []
    resumed = prepare_data([str(pairs)], config, tokenizer=first.tokenizer,
                           data_dir=tmp_path / "data", on_event=events.append)
    assert [event.values["stage"] for event in events] == ["reused"]
    same_examples(first, resumed)
    assert len(list((tmp_path / "data").glob("pairs-tokenizer-*.npz"))) == 1


def test_the_truncation_warning_is_said_at_every_start(tmp_path):
    pairs = write_pairs(tmp_path / "pairs.jsonl", summary_chars=700)  # longer than 3/4 of 512
    config = settings("summarize")
    runs = [prepare(pairs, config, tmp_path / "data") for _ in range(2)]
    assert runs[1][1] == ["reused"]
    said = [[w for w in prepared.warnings if "were truncated" in w] for prepared, _ in runs]
    assert said[0] and said[0] == said[1]


def test_a_damaged_file_is_prepared_again_and_replaced(tmp_path):
    pairs = write_pairs(tmp_path / "pairs.jsonl")
    first, _ = prepare(pairs, settings(), tmp_path / "data")
    [kept] = examples_files(tmp_path / "data")
    whole = kept.read_bytes()
    kept.write_bytes(whole[: len(whole) // 2])  # a copy cut short
    second, stages = prepare(pairs, settings(), tmp_path / "data")
    assert "examples" in stages and stages[-1] == "kept"
    same_examples(first, second)
    assert kept.read_bytes() == whole
    _, stages = prepare(pairs, settings(), tmp_path / "data")
    assert stages == ["reused"]


def test_a_file_cut_short_is_a_miss_that_leaves_no_file_open(tmp_path):
    pairs = write_pairs(tmp_path / "pairs.jsonl")
    prepare(pairs, settings(), tmp_path / "data")
    [kept] = examples_files(tmp_path / "data")
    kept.write_bytes(kept.read_bytes()[:100])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert pair_cache.load_prepared(kept) is None
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


def test_a_folder_that_cannot_be_written_is_a_warning_and_the_data_is_still_prepared(tmp_path):
    pairs = write_pairs(tmp_path / "pairs.jsonl")
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # prepare_data records warnings; none may escape
        prepared, stages = prepare(pairs, settings(), blocked / "data")
    assert "kept" not in stages
    [warning] = [w for w in prepared.warnings if "prepared pairs" in w]
    assert "cannot write prepared pairs" in warning and "the next start prepares the pairs again" in warning
    fresh, _ = prepare(pairs, settings(), None)
    same_examples(prepared, fresh)


def test_loading_reads_arrays_only(tmp_path):
    """An archive holding a pickled object is not loaded (allow_pickle=False): a miss. So is a
    file of another format version, and one that is not there."""
    path = tmp_path / "pairs-x.npz"

    def meta(version):
        return np.frombuffer(json.dumps({"format": version, "val": None, "train": {
            "stats": {}, "inputs_dtype": "<i4", "targets_dtype": "<i4"}}).encode(), np.uint8)

    arrays = {"train_inputs": np.zeros((1, 4), np.int32), "train_targets": np.zeros((1, 4), np.int32)}
    np.savez(path, meta=meta(pair_cache.CACHE_FORMAT), **arrays)
    assert pair_cache.load_prepared(path).train.inputs.shape == (1, 4)  # the layout is right ...
    np.savez(path, meta=meta(pair_cache.CACHE_FORMAT + 1), **arrays)
    assert pair_cache.load_prepared(path) is None  # ... a newer format is not read ...
    np.savez(path, meta=meta(pair_cache.CACHE_FORMAT), **dict(
        arrays, train_inputs=np.array([Path("x")], dtype=object)))
    assert pair_cache.load_prepared(path) is None  # ... nor a pickled object
    assert pair_cache.load_prepared(tmp_path / "absent.npz") is None


def test_a_folder_keeps_only_the_most_recently_used_files_of_each_kind(tmp_path):
    """Every upgrade of the tool changes every key, so old files would pile up: writing one
    deletes those of its kind beyond the KEEP_FILES most recently written or read back, and
    nothing of another kind or name."""
    import os
    import time

    tiny = pair_cache.PreparedPairs(pair_cache.PreparedSplit(
        np.zeros((1, 4), np.int32), np.zeros((1, 4), np.int32), {"documents": 1}), None)
    keys = [f"{index:032x}" for index in range(7)]
    paths = [pair_cache.examples_file(tmp_path, key) for key in keys]
    tokenizer = pair_cache.tokenizer_file(tmp_path, keys[0])
    pair_cache.save_tokenizer(tokenizer, pair_cache.TrainedTokenizer(b"proto"))
    strangers = [tmp_path / "notes.txt", tmp_path / "pairs-notes.npz", tmp_path / "shard-0.bin"]
    for stranger in strangers:
        stranger.write_text("not ours")
    past = time.time() - 1000
    for index, path in enumerate(paths[:6]):
        pair_cache.save_prepared(path, tiny)
        os.utime(path, (past + index, past + index))  # written in this order, a second apart
    keep = pair_cache.KEEP_FILES

    def kept():
        return sorted(path for path in examples_files(tmp_path) if path not in strangers)

    assert kept() == paths[6 - keep:6]
    assert pair_cache.load_prepared(paths[6 - keep]) is not None  # read back: now the newest
    pair_cache.save_prepared(paths[6], tiny)
    assert kept() == sorted([paths[6 - keep], *paths[8 - keep:7]])
    assert tokenizer.is_file() and all(stranger.is_file() for stranger in strangers)


def test_examples_a_resume_refuses_are_not_kept(tmp_path):
    pairs = write_pairs(tmp_path / "pairs.jsonl")
    first, _ = prepare(pairs, settings(), tmp_path / "data")
    kept = sorted((tmp_path / "data").iterdir())
    other = write_pairs(tmp_path / "other.jsonl", summary_chars=150)

    def refuse(fingerprint):
        assert fingerprint != first.fingerprint
        raise ValueError("not the run's text")

    with pytest.raises(ValueError, match="not the run's text"):
        prepare_data([str(other)], settings(), tokenizer=first.tokenizer, data_dir=tmp_path / "data",
                     check_fingerprint=refuse)
    assert sorted((tmp_path / "data").iterdir()) == kept
    accepted = prepare_data([str(other)], settings(), tokenizer=first.tokenizer,
                            data_dir=tmp_path / "data", check_fingerprint=lambda fingerprint: None)
    assert len(examples_files(tmp_path / "data")) == 2 and accepted.fingerprint != first.fingerprint


def test_a_pairs_file_not_in_its_encoding_says_utf8_as_text_does(tmp_path, capsys):
    """`train pairs.jsonl --task summarize` names the encoding as users write it, as the text path
    does (shards.inputs.reading_encoding), for the pairs and for --val."""
    good = write_pairs(tmp_path / "good.jsonl")
    bad = tmp_path / "latin.jsonl"
    bad.write_bytes('{"document": "café au lait", "summary": "café"}\n'.encode("latin-1"))
    why = ("is not valid UTF-8: byte 0xe9 at offset 17 cannot be decoded; pass --encoding (e.g. "
           "latin-1, cp1252, gb18030), or convert it, e.g. `iconv -f latin1 -t utf-8`")
    for args, line in (([bad], f"error: {bad} {why}"), ([good, "--val", bad], f"error: --val: {bad} {why}")):
        code, _, err = run_cli(capsys, "train", *args, "--task", "summarize", "--tokenizer", "byte",
                               "--out", tmp_path / "run", "--set", "train.device=cpu")
        assert code == 2 and err.splitlines() == [line]
