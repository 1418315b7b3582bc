"""Token shards: round trip, the small-corpus split, reuse and invalidation, atomic writes under
kill -9, one process preparing while another waits, flat memory, and bad input."""

import errno
import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from unreadable_file import HAS_UNREADABLE, NO_UNREADABLE, UNREADABLE

from reformer_cli.config.run import DataConfig
from reformer_cli.data.split import split_validation
from reformer_cli.errors import ConfigError, InputError, ResourceError
from reformer_cli.shards import format as fmt
from reformer_cli.shards.pieces import plan_pieces
from reformer_cli.shards.prepare import ShardOptions, prepare_shards
from reformer_cli.text.reading import DOCUMENT_SEPARATOR, read_documents, scan_input_files
from reformer_cli.text.tokenizer import ByteTokenizer

WORKER = Path(__file__).resolve().parent / "shards_worker.py"
ENV = dict(os.environ, OMP_NUM_THREADS="1")
WORDS = ("the whale ship sea captain long voyage white deep water rope mast harbour night storm "
         "café naïve 中文 émigré").split()


def write_corpus(folder: Path, names, lines: int = 300, seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for name in names:
        text = "\n".join(" ".join(rng.choice(WORDS, size=rng.integers(3, 15))) for _ in range(lines))
        (folder / name).write_text(text + "\n", encoding="utf-8")
        paths.append(folder / name)
    return paths


def large(**changes) -> ShardOptions:
    """The streamed layout on a tiny corpus: many small pieces, in this process."""
    return ShardOptions(**dict(dict(workers=1, small_corpus_bytes=0, piece_bytes=2048), **changes))


def data_config(**changes) -> DataConfig:
    config = DataConfig(tokenizer="byte", val_fraction=0.1)
    for key, value in changes.items():
        setattr(config, key, value)
    return config


def all_tokens(shards) -> np.ndarray:
    val = shards.val.to_array() if shards.val is not None else np.zeros(0, dtype=np.int64)
    return np.concatenate([shards.train.to_array(), val])


def streamed_text(paths) -> str:
    """What the streamed layout encodes: every file followed by the document separator."""
    return "".join(document.text + DOCUMENT_SEPARATOR for document in read_documents(paths))


# ---- round trip ---------------------------------------------------------------------------------

@pytest.mark.parametrize("tokenizer", ["byte", "sentencepiece"])
def test_shards_decode_to_the_corpus_and_hold_its_encoding(tmp_path, tokenizer):
    paths = write_corpus(tmp_path / "corpus", ["a.txt", "b.txt"], lines=400)
    data = data_config(tokenizer=tokenizer, vocab_size=320)
    shards = prepare_shards([str(tmp_path / "corpus")], data, 0, tmp_path / "shards", options=large())
    text = streamed_text(paths)
    tokens = all_tokens(shards)
    assert shards.encoded > 4  # many pieces, cut at line ends
    assert np.array_equal(tokens, shards.tokenizer.encode_to_array(text))  # pieces == whole text
    assert shards.tokenizer.decode(tokens.tolist()) == text
    assert len(shards.val) == math.ceil(len(tokens) * 0.1)  # validation: the last tenth
    dtype = json.loads((shards.folder / fmt.INDEX_FILE).read_text())["dtype"]
    assert dtype == "uint16"


def test_parallel_encoding_equals_one_process(tmp_path):
    write_corpus(tmp_path / "corpus", ["a.txt", "b.txt", "c.txt"])
    one = prepare_shards([str(tmp_path / "corpus")], data_config(), 0, tmp_path / "one", options=large())
    two = prepare_shards([str(tmp_path / "corpus")], data_config(), 0, tmp_path / "two",
                         options=large(workers=2, pool_min_bytes=0))
    assert np.array_equal(all_tokens(one), all_tokens(two)) and one.fingerprint == two.fingerprint


def test_pieces_cut_after_line_ends_or_between_characters(tmp_path):
    path = tmp_path / "long.txt"
    path.write_bytes(("é中" * 40_000 + "\nshort line\n" + "x" * 5000).encode())
    source = scan_input_files([path])[0]
    pieces = plan_pieces(source, piece_bytes=4096)
    data = path.read_bytes()
    assert [p.start for p in pieces[1:]] == [p.end for p in pieces[:-1]] and pieces[-1].end == len(data)
    assert "".join(data[p.start:p.end].decode() for p in pieces) == data.decode()  # no split character


def test_a_small_corpus_keeps_the_split_and_fingerprint_of_reading_it_whole(tmp_path):
    paths = write_corpus(tmp_path / "corpus", ["a.txt", "b.txt"], lines=200)
    shards = prepare_shards([str(p) for p in paths], data_config(val_fraction=0.05), 0, tmp_path / "s")
    train_text, val_text = split_validation(read_documents(paths), 0.05)
    tokenizer = ByteTokenizer()
    assert np.array_equal(shards.train.to_array(), tokenizer.encode_to_array(train_text))
    assert np.array_equal(shards.val.to_array(), tokenizer.encode_to_array(val_text))
    # the fingerprint checkpoints written before shards recorded: sha256 of the int32 ids
    expected = hashlib.sha256(tokenizer.encode_to_array(train_text).tobytes()).hexdigest()[:32]
    assert shards.fingerprint == expected


# ---- reuse and invalidation ---------------------------------------------------------------------

def test_a_refused_fingerprint_removes_the_entry_it_made_and_only_that(tmp_path):
    corpus = tmp_path / "corpus"
    write_corpus(corpus, ["a.txt"])
    (other,) = write_corpus(tmp_path / "other", ["b.txt"], seed=3)
    folder = tmp_path / "shards"
    first = prepare_shards([str(corpus)], data_config(), 0, folder)
    before = sorted(folder.rglob("*"))

    def refuse(fingerprint):
        raise InputError("not the run's text")

    for paths in ([str(other)], [str(corpus)]):  # a new entry, then the existing one
        with pytest.raises(InputError, match="not the run's text"):
            prepare_shards(paths, data_config(), 0, folder, first.tokenizer, check_fingerprint=refuse)
        assert sorted(folder.rglob("*")) == before


def test_unchanged_files_are_reused_and_only_changed_or_added_ones_encoded(tmp_path):
    corpus = tmp_path / "corpus"
    a, b, c = write_corpus(corpus, ["a.txt", "b.txt", "c.txt"])
    folder = tmp_path / "shards"
    first = prepare_shards([str(corpus)], data_config(), 0, folder, options=large())
    again = prepare_shards([str(corpus)], data_config(), 0, folder, options=large())
    assert again.encoded == 0 and again.reused == first.encoded and again.fingerprint == first.fingerprint

    b.write_text(b.read_text().replace("whale", "WHALE"))  # changed, same size
    os.utime(a, ns=(time.time_ns(), time.time_ns() + 10**9))  # touched only: checksums match
    c.unlink()  # removed
    (d,) = write_corpus(corpus, ["d.txt"], seed=5)  # added
    changed = prepare_shards([str(corpus)], data_config(), 0, folder, options=large())
    expected = sum(len(plan_pieces(s, 2048)) for s in scan_input_files([b, d]))
    assert changed.encoded == expected
    fresh = prepare_shards([str(corpus)], data_config(), 0, tmp_path / "fresh", options=large())
    assert np.array_equal(all_tokens(changed), all_tokens(fresh)) and changed.fingerprint == fresh.fingerprint
    assert changed.folder == first.folder  # an edited corpus updates its entry
    index = json.loads((changed.folder / fmt.INDEX_FILE).read_text())
    listed = {span["file"] for span in index["train"] + index["val"]}
    assert {p.name for p in changed.folder.iterdir() if p.suffix == ".u16"} == listed  # stale shards gone


def test_another_tokenizer_encodes_its_own_entry_and_both_are_kept(tmp_path):
    write_corpus(tmp_path / "corpus", ["a.txt"], lines=400)
    folder = tmp_path / "shards"
    byte = prepare_shards([str(tmp_path / "corpus")], data_config(), 0, folder, options=large())
    sentencepiece = data_config(tokenizer="sentencepiece", vocab_size=320)
    pieces = prepare_shards([str(tmp_path / "corpus")], sentencepiece, 0, folder, options=large())
    assert pieces.encoded == byte.encoded and pieces.fingerprint != byte.fingerprint
    assert pieces.tokenizer.kind == "sentencepiece" and pieces.folder != byte.folder
    byte_again = prepare_shards([str(tmp_path / "corpus")], data_config(), 0, folder, options=large())
    assert byte_again.encoded == 0 and byte_again.fingerprint == byte.fingerprint


@pytest.mark.parametrize("small_corpus_bytes", [0, 1 << 20])  # streamed and whole layouts
def test_a_shared_folder_keeps_every_corpus_and_never_mixes_them(tmp_path, small_corpus_bytes):
    (long,) = write_corpus(tmp_path / "long", ["corpus.txt"], lines=400, seed=1)
    (short,) = write_corpus(tmp_path / "short", ["doc.txt"], lines=150, seed=2)
    folder, options = tmp_path / "shards", large(small_corpus_bytes=small_corpus_bytes)
    sentencepiece = data_config(tokenizer="sentencepiece", vocab_size=320)
    first = prepare_shards([str(long)], sentencepiece, 0, folder, options=options)
    other = prepare_shards([str(short)], sentencepiece, 0, folder, options=options)
    again = prepare_shards([str(long)], sentencepiece, 0, folder, options=options)
    assert again.encoded == 0 and again.reused == first.encoded and again.folder == first.folder
    assert np.array_equal(all_tokens(again), all_tokens(first))
    alone = prepare_shards([str(short)], sentencepiece, 0, tmp_path / "alone", options=options)
    assert np.array_equal(all_tokens(other), all_tokens(alone))
    # a resume passes the tokenizer itself: it finds the entry that tokenizer encoded
    resumed = prepare_shards([str(long)], sentencepiece, 0, folder, tokenizer=first.tokenizer,
                             options=options)
    assert resumed.encoded == 0 and resumed.folder == first.folder


def test_the_single_index_of_an_older_version_is_removed_and_nothing_else(tmp_path):
    (corpus,) = write_corpus(tmp_path, ["corpus.txt"])
    folder = tmp_path / "shards"
    old = prepare_shards([str(corpus)], data_config(), 0, folder, options=large())
    for path in old.folder.iterdir():  # the layout before entries: index and shards at the top
        path.rename(folder / path.name)
    old.folder.rmdir()
    (folder / "notes.txt").write_text("mine")
    later = prepare_shards([str(corpus)], data_config(), 0, folder, options=large())
    assert later.encoded == old.encoded and later.fingerprint == old.fingerprint
    assert sorted(p.name for p in folder.iterdir()) == sorted([fmt.LOCK_FILE, "notes.txt", later.folder.name])


# ---- atomic writes, concurrent processes, memory -----------------------------------------------

def worker(mode, folder, corpus, marker=None, **kwargs):
    command = [sys.executable, str(WORKER), mode, str(folder), str(corpus)]
    command += [str(marker)] if marker else []
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
                            **kwargs)


def wait_for(path: Path, process, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the worker never started writing"
        time.sleep(0.05)


def summary(process) -> dict:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return json.loads(out)


def test_a_run_killed_mid_write_leaves_nothing_a_later_run_trusts(tmp_path):
    (corpus,) = write_corpus(tmp_path, ["corpus.txt"], lines=2000)
    folder, marker = tmp_path / "shards", tmp_path / "marker"
    process = worker("hang", folder, corpus, marker)
    wait_for(marker, process)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert any(p.name.endswith(fmt.TMP_SUFFIX) for p in folder.glob("*/*"))  # the half shard
    assert not list(folder.glob(f"*/{fmt.INDEX_FILE}"))
    later = summary(worker("prepare", folder, corpus))
    assert later["encoded"] > 0 and later["reused"] == 0
    assert not any(p.name.endswith(fmt.TMP_SUFFIX) for p in folder.glob("*/*"))
    reference = ByteTokenizer().encode_to_array(streamed_text([corpus]))
    shards = prepare_shards([str(corpus)], DataConfig(tokenizer="byte", val_fraction=0.1), 0, folder,
                            options=ShardOptions(workers=1, small_corpus_bytes=0, piece_bytes=1 << 14))
    assert shards.encoded == 0 and np.array_equal(all_tokens(shards), reference)


def test_one_process_prepares_while_another_waits_then_maps_its_shards(tmp_path):
    (corpus,) = write_corpus(tmp_path, ["corpus.txt"], lines=1500)
    folder, marker = tmp_path / "shards", tmp_path / "marker"
    first = worker("slow", folder, corpus, marker)
    wait_for(marker, first)  # the first holds the folder's lock: it is writing
    second = worker("prepare", folder, corpus)
    one, two = summary(first), summary(second)
    assert one["encoded"] > 1 and not one["waited"]
    assert two["waited"] and two["encoded"] == 0 and two["reused"] == one["encoded"]
    assert one["fingerprint"] == two["fingerprint"] and one["tokens"] == two["tokens"]


@pytest.mark.slow
def test_peak_memory_of_sampling_does_not_grow_with_the_corpus(tmp_path):
    rss = {}
    for lines in (20_000, 200_000):  # about 1.3 MB and 13 MB of text: 2.6 and 26 MB of shards
        (corpus,) = write_corpus(tmp_path / str(lines), ["corpus.txt"], lines=lines)
        folder = tmp_path / f"shards-{lines}"
        assert summary(worker("prepare", folder, corpus))["encoded"] > 0  # encoding: another process
        result = summary(worker("sample", folder, corpus))
        assert result["encoded"] == 0
        rss[lines] = result["peak_rss_kib"] / 1024
    # Tokens held in memory would add 10 x (text + int32 ids) here; mapped shards add only the
    # pages the windows touch.
    assert rss[200_000] - rss[20_000] < 12, rss


# ---- bad input ----------------------------------------------------------------------------------

def test_a_full_disk_is_one_error_and_leaves_no_shard_or_index(tmp_path):
    write_corpus(tmp_path / "corpus", ["a.txt", "b.txt"])
    folder = tmp_path / "shards"
    writes = []

    def fills_up(file, data):
        writes.append(len(data))
        if len(writes) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        file.write(data)

    with pytest.raises(ResourceError) as caught:
        prepare_shards([str(tmp_path / "corpus")], data_config(), 0, folder, options=large(write=fills_up))
    assert "is full" in caught.value.one_line() and "--data-cache" in caught.value.one_line()
    assert not list(folder.glob(f"*/{fmt.INDEX_FILE}"))
    assert not any(p.name.endswith(fmt.TMP_SUFFIX) for p in folder.glob("*/*"))
    later = prepare_shards([str(tmp_path / "corpus")], data_config(), 0, folder, options=large())
    assert later.reused == 0  # the two complete shards were not trusted without an index


def test_a_failed_first_preparation_leaves_no_entry_and_others_stay(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(chr(code) for code in range(0x4E00, 0x4E00 + 400)) * 3, encoding="utf-8")
    folder = tmp_path / "shards"
    kept = prepare_shards([str(corpus)], data_config(), 0, folder).folder
    before = sorted(p.name for p in kept.iterdir())
    too_small = data_config(tokenizer="sentencepiece", vocab_size=300)
    with pytest.raises(ConfigError, match="too small"):
        prepare_shards([str(corpus)], too_small, 0, folder)
    assert [p for p in folder.iterdir() if p.is_dir()] == [kept]
    assert sorted(p.name for p in kept.iterdir()) == before


def test_a_cache_of_another_version_is_re_encoded_and_a_foreign_folder_refused(tmp_path):
    write_corpus(tmp_path / "corpus", ["a.txt"])
    folder = tmp_path / "shards"
    entry = prepare_shards([str(tmp_path / "corpus")], data_config(), 0, folder, options=large()).folder
    index = json.loads((entry / fmt.INDEX_FILE).read_text())
    (entry / fmt.INDEX_FILE).write_text(json.dumps(dict(index, format_version=99)))
    with pytest.warns(UserWarning, match="format version 99.*re-encoding"):
        again = prepare_shards([str(tmp_path / "corpus")], data_config(), 0, folder, options=large())
    assert again.reused == 0 and again.encoded > 0
    (entry / fmt.INDEX_FILE).write_text(json.dumps({"something": "else"}))
    with pytest.raises(InputError, match="not a token-shard index"):
        prepare_shards([str(tmp_path / "corpus")], data_config(), 0, folder, options=large())


def test_binary_files_in_folders_are_skipped_and_bad_files_named(tmp_path):
    (a,) = write_corpus(tmp_path / "corpus", ["a.txt"])
    (tmp_path / "corpus" / "image.png").write_bytes(b"\x89PNG\x00\x00" * 100)
    shards = prepare_shards([str(tmp_path / "corpus")], data_config(), 0, tmp_path / "s", options=large())
    assert np.array_equal(all_tokens(shards), ByteTokenizer().encode_to_array(streamed_text([a])))
    with pytest.raises(InputError, match="looks binary"):
        prepare_shards([str(tmp_path / "corpus" / "image.png")], data_config(), 0, tmp_path / "s2")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine line\n" * 1000 + b"caf\xe9\n")
    with pytest.raises(InputError, match=r"bad.txt is not valid UTF-8: byte 0xe9 at offset 10003"):
        prepare_shards([str(bad)], data_config(), 0, tmp_path / "s3", options=large())
    assert not list((tmp_path / "s3").glob(f"*/{fmt.INDEX_FILE}"))


@pytest.mark.skipif(not HAS_UNREADABLE, reason=NO_UNREADABLE)
def test_a_file_that_fails_to_read_is_named_whoever_runs_the_tests(tmp_path):
    with pytest.raises(InputError, match=f"cannot read {UNREADABLE}: Input/output error"):
        prepare_shards([UNREADABLE], data_config(), 0, tmp_path / "s")
    assert not list((tmp_path / "s").glob(f"*/{fmt.INDEX_FILE}"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_an_unreadable_file_is_named(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text("text\n")
    path.chmod(0)
    with pytest.raises(InputError, match="cannot read .*secret.txt"):
        prepare_shards([str(path)], data_config(), 0, tmp_path / "s")
