"""Corpus reading, validation split, window sampling with exact resume, summarization examples."""

import io
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from reformer_cli.data.split import split_validation, split_validation_pairs
from reformer_cli.data.summarization import SummarizationExamples
from reformer_cli.data.windows import WindowSampler, evaluation_batches
from reformer_cli.errors import InputError
from reformer_cli.text.encodings import check_encoding, unmarked_utf16
from reformer_cli.text.reading import (
    Document,
    decode_piece,
    read_document,
    read_documents,
    read_summarization_pairs,
    scan_input_files,
)
from reformer_cli.text.tokenizer import ByteTokenizer

SHARED_SUMMARIES = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "summarization"


# ---- reading -----------------------------------------------------------------------------------

def test_read_files_folders_sorted_and_normalised(tmp_path):
    (tmp_path / "b.txt").write_bytes("\ufeffsecond\r\nline\r".encode("utf-8"))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.md").write_text("inside 中文")
    (tmp_path / "sub" / "image.png").write_bytes(b"\x89PNG\x00\x00\x01")  # skipped: binary
    (tmp_path / "empty.txt").write_text("")  # skipped in a folder
    (tmp_path / ".hidden").write_text("secret")  # hidden files skipped
    documents = read_documents([tmp_path])
    assert [Path(d.name).name for d in documents] == ["b.txt", "a.md"]  # sorted by path
    assert documents[0].text == "second\nline\n"  # BOM dropped, line ends normalised
    single = read_documents([tmp_path / "sub" / "a.md", tmp_path / "b.txt"])
    assert [d.text for d in single] == ["inside 中文", "second\nline\n"]


def test_invalid_utf8_names_file_and_byte_offset(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("café au lait".encode("latin-1"))
    with pytest.raises(InputError) as caught:
        read_documents([path])
    message = caught.value.one_line()
    assert str(path) in message and "offset 3" in message and "0xe9" in message and "--encoding" in message
    assert read_documents([path], encoding="latin-1")[0].text == "café au lait"


@pytest.mark.parametrize("setup, expected", [
    (lambda p: (p / "x.bin").write_bytes(b"abc\x00def") and p / "x.bin", "looks binary"),
    (lambda p: (p / "e.txt").write_text(" \n ") and p / "e.txt", "is empty"),
    (lambda p: p / "missing.txt", "^no such file: .*missing.txt$"),
    (lambda p: ((p / "d").mkdir(), (p / "d" / "x.bin").write_bytes(b"\x00"))[0] or p / "d",
     "contains no text files"),
])
def test_bad_inputs_are_input_errors(tmp_path, setup, expected):
    with pytest.raises(InputError, match=expected):
        read_documents([setup(tmp_path)])
    with pytest.raises(InputError, match="no input"):
        read_documents([])


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_a_file_with_a_utf16_or_utf32_byte_order_mark_is_text(tmp_path, encoding):
    text = "Café crème, 東京 and plain words.\nA second line."
    path = tmp_path / "notepad.txt"
    path.write_bytes("\ufeff".encode(encoding) + text.encode(encoding))
    assert read_document(str(path)) == text  # summarize and continue decode it, mark dropped
    wide = encoding[:6].upper()
    for read in (lambda: read_documents([path]), lambda: scan_input_files([path])):
        with pytest.raises(InputError) as caught:  # training reads by --encoding: say which
            read()
        message = caught.value.one_line()
        assert f"is {wide} text" in message and f"--encoding {wide.lower()}" in message
    assert read_documents([path], encoding=wide.lower())[0].text == text


@pytest.mark.parametrize("head, named", [
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "is a PDF"),  # PDFs need not have a NUL early
    (b"PK\x03\x04\x14\x00\x06\x00word/document.xml", "zip archive"),
    (b"{\\rtf1\\ansi Some text", "RTF document"),
    (b"\x1f\x8b\x08\x00", "gzip-compressed"),
])
def test_a_known_non_text_format_is_named_with_its_fix(tmp_path, head, named):
    path = tmp_path / "report.bin"
    path.write_bytes(head)
    for read in (lambda: read_documents([path]), lambda: scan_input_files([path]),
                 lambda: read_document(str(path))):
        with pytest.raises(InputError, match=named) as caught:
            read()
        assert str(path) in caught.value.message and caught.value.hint
    (tmp_path / "folder").mkdir()
    path.rename(tmp_path / "folder" / "report.pdf")
    (tmp_path / "folder" / "notes.txt").write_text("plain notes")
    folder = tmp_path / "folder"  # inside a folder such a file is skipped, as binaries are
    assert [d.text for d in read_documents([folder])] == ["plain notes"]
    assert [Path(f.path).name for f in scan_input_files([folder])] == ["notes.txt"]


def test_stdin_dash(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("from stdin\r\n".encode())))
    assert read_documents(["-"]) == [Document("<stdin>", "from stdin\n")]


def test_utf16_files_are_not_called_binary(tmp_path):
    path = tmp_path / "u16.txt"
    path.write_bytes("wide text".encode("utf-16"))
    assert read_documents([path], encoding="utf-16")[0].text == "wide text"


# ---- validation split --------------------------------------------------------------------------

def test_validation_is_the_tail_cut_at_a_line_start():
    lines = [f"line number {i} with some words" for i in range(200)]
    documents = [Document("a", "\n".join(lines[:100])), Document("b", "\n".join(lines[100:]))]
    train, val = split_validation(documents, 0.1)
    whole = "\n".join(lines[:100]) + "\n\n" + "\n".join(lines[100:])
    assert train + val == whole
    assert 0.08 < len(val) / len(whole) < 0.12 and val.startswith("line number 1")
    assert split_validation(documents, 0.0) == (whole, "")
    train, val = split_validation(documents, 0.3, val_documents=[Document("v", "held out")])
    assert (train, val) == (whole, "held out")
    assert split_validation_pairs(list(range(20)), 0.1) == (list(range(18)), [18, 19])
    assert split_validation_pairs([1], 0.1) == ([1], [])


# ---- windows -----------------------------------------------------------------------------------

def test_windows_are_consecutive_tokens_with_shifted_targets():
    tokens = np.arange(5000, dtype=np.int32)  # token value = its position
    sampler = WindowSampler(tokens, seq_len=64, seed=3)
    ids, targets = sampler.next_batch(4)
    assert ids.shape == targets.shape == (4, 64) and ids.dtype == torch.long
    assert torch.equal(targets, ids + 1)
    assert torch.equal(ids - ids[:, :1], torch.arange(64).expand(4, 64))


def test_an_epoch_visits_disjoint_windows_with_a_new_phase_each_epoch():
    tokens = np.arange(10_000, dtype=np.int32)
    sampler = WindowSampler(tokens, seq_len=100, seed=0)
    phases, orders = set(), []
    for _ in range(4):
        count = sampler.windows_per_epoch
        starts = sampler.next_starts(count)
        assert len(set(starts.tolist())) == count  # each window once per epoch
        assert len({s % 100 for s in starts.tolist()}) == 1  # one phase within an epoch
        assert starts.max() + 101 <= len(tokens)
        phases.add(int(starts[0] % 100))
        orders.append(starts.tolist())
    assert len(phases) > 1 and orders[0] != sorted(orders[0])  # new phase; shuffled order
    again = WindowSampler(tokens, seq_len=100, seed=0)
    assert again.next_starts(len(orders[0])).tolist() == orders[0]  # deterministic from the seed
    assert WindowSampler(tokens, 100, seed=1).next_starts(10).tolist() != orders[0][:10]


def test_resume_replays_exactly_the_same_batches():
    tokens = np.random.default_rng(0).integers(0, 1000, size=3000).astype(np.int32)
    reference = WindowSampler(tokens, seq_len=128, seed=7)
    batches = [reference.next_batch(3) for _ in range(5)]  # 15 of the 22 windows of epoch 0
    first = WindowSampler(tokens, seq_len=128, seed=7)
    for _ in range(2):
        first.next_batch(3)
    state = json.loads(json.dumps(first.state_dict()))  # survives a JSON round trip
    resumed = WindowSampler(tokens, seq_len=128, seed=0)
    resumed.load_state_dict(state)
    for expected in batches[2:]:
        ids, targets = resumed.next_batch(3)
        assert torch.equal(ids, expected[0]) and torch.equal(targets, expected[1])


def test_resume_across_an_epoch_boundary():
    tokens = np.arange(700, dtype=np.int32)
    reference = WindowSampler(tokens, seq_len=64, seed=2)  # about 10 windows per epoch
    batches = [reference.next_batch(4) for _ in range(8)]
    assert reference.epoch >= 2
    resumed = WindowSampler(tokens, seq_len=64, seed=2)
    [resumed.next_batch(4) for _ in range(3)]
    state = resumed.state_dict()
    fresh = WindowSampler(tokens, seq_len=64, seed=2)
    fresh.load_state_dict(state)
    assert all(torch.equal(fresh.next_batch(4)[0], b[0]) for b in batches[3:])


def test_mismatched_state_and_too_short_corpus():
    sampler = WindowSampler(np.arange(1000, dtype=np.int32), 64)
    with pytest.raises(InputError, match="seq_len"):
        WindowSampler(np.arange(1000, dtype=np.int32), 32).load_state_dict(sampler.state_dict())
    with pytest.raises(InputError) as caught:
        WindowSampler(np.arange(300, dtype=np.int32), 4096)
    assert "300 tokens, fewer than one window of seq_len=4096" in caught.value.one_line()
    assert ("use a shorter --seq-len, at most 299, with a model.chunk_length no longer than it "
            "(e.g. --seq-len 256 --set model.chunk_length=64), or more text") in caught.value.one_line()
    with pytest.raises(InputError) as caught:
        WindowSampler(np.arange(2, dtype=np.int32), 8)  # no window length passes the config checks
    assert caught.value.one_line().endswith("; give more text (at least 3 tokens)")


def test_evaluation_batches_are_deterministic_and_spread():
    tokens = np.arange(10_001, dtype=np.int32)
    batches = evaluation_batches(tokens, seq_len=100, batch_size=2, max_batches=3)
    assert len(batches) == 3 and all(ids.shape == (2, 100) for ids, _ in batches)
    starts = [int(ids[i, 0]) for ids, _ in batches for i in range(2)]
    assert starts[0] == 0 and starts[-1] == 9900 and starts == sorted(set(starts))
    assert all(torch.equal(t, i + 1) for i, t in batches)
    short = evaluation_batches(np.arange(50, dtype=np.int32), seq_len=100, batch_size=2, max_batches=3)
    assert len(short) == 1 and short[0][0].shape == (1, 49)
    assert evaluation_batches(np.arange(1, dtype=np.int32), 100, 2, 3) == []


# ---- summarization -----------------------------------------------------------------------------

def write_jsonl(path: Path, records) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines))
    return path


def test_read_pairs_and_line_numbered_errors(tmp_path):
    good = write_jsonl(tmp_path / "p.jsonl", [{"document": "doc one", "summary": "s1", "id": 1}, "",
                                              {"document": "文档", "summary": "摘要"}])
    assert read_summarization_pairs(good) == [("doc one", "s1"), ("文档", "摘要")]
    bad_json = write_jsonl(tmp_path / "b.jsonl", [{"document": "d", "summary": "s"}, "{oops"])
    with pytest.raises(InputError, match="line 2 is not valid JSON"):
        read_summarization_pairs(bad_json)
    missing = write_jsonl(tmp_path / "m.jsonl", [{"document": "d", "summary": "s"}] * 2 + [{"text": "x"}])
    with pytest.raises(InputError, match=re.escape('line 3 lacks string fields "document" and '
                                                   '"summary" (or "reference")')):
        read_summarization_pairs(missing)
    with pytest.raises(InputError, match="no document/summary pairs"):
        read_summarization_pairs(write_jsonl(tmp_path / "e.jsonl", ["", ""]))
    with pytest.raises(InputError) as caught:
        read_summarization_pairs(tmp_path / "nope.jsonl")
    assert caught.value.one_line() == f"no such file: {tmp_path / 'nope.jsonl'}; check the path"
    with pytest.raises(InputError, match="is a directory"):  # there, but not a file
        read_summarization_pairs(tmp_path)


def test_a_missing_path_is_no_such_file_wherever_it_is_read(tmp_path):
    """errors.no_such_file's one wording, whether train, summarize or eval reads the path."""
    missing = tmp_path / "missing.txt"
    expected = f"no such file: {missing}; check the path"
    for read in (lambda: read_documents([missing]), lambda: scan_input_files([missing]),
                 lambda: read_document(str(missing)), lambda: read_summarization_pairs(missing)):
        with pytest.raises(InputError) as caught:
            read()
        assert caught.value.one_line() == expected


def test_summarization_example_layout():
    tok = ByteTokenizer()
    examples = SummarizationExamples([("abcdef", "xyz")], tok, seq_len=16, seed=0)
    ids, targets = examples.next_batch(1)
    sequence = list(b"abcdef") + [tok.sep_id] + list(b"xyz") + [tok.eos_id]
    assert ids[0].tolist() == sequence[:-1] + [tok.eos_id] * (16 - 10)  # padded with </s>
    expected = [-100] * 6 + list(b"xyz") + [tok.eos_id] + [-100] * 6  # only summary and </s>
    assert targets[0].tolist() == expected


def test_long_document_is_cut_and_summary_kept_whole():
    tok = ByteTokenizer()
    document, summary = "D" * 500, "the summary"
    examples = SummarizationExamples([(document, summary)], tok, seq_len=64)
    ids, targets = examples.next_batch(1)
    kept = targets[0][targets[0] != -100].tolist()
    assert kept == list(summary.encode()) + [tok.eos_id]  # whole summary, then </s>
    assert tok.sep_id in ids[0].tolist() and ids.shape == (1, 64)
    n_document = ids[0].tolist().index(tok.sep_id)
    assert n_document == 64 - len(summary) - 1 and set(ids[0, :n_document].tolist()) == {ord("D")}


def test_summary_too_long_is_truncated_with_a_warning():
    tok = ByteTokenizer()
    with pytest.warns(UserWarning, match="1 of 2 summaries were longer than"):
        examples = SummarizationExamples([("doc " * 50, "S" * 200), ("doc", "short")], tok, seq_len=64)
    ids, targets = examples.evaluation_batches(batch_size=2, max_batches=1)[0]
    first = targets[0][targets[0] != -100].tolist()
    assert set(first) == {ord("S")} and tok.eos_id not in first  # truncated: no end of text
    assert ids[0].tolist().index(tok.sep_id) >= 64 // 4  # a quarter of the window stays document


def test_summarization_resume_and_epochs():
    tok = ByteTokenizer()
    pairs = [(f"document {i} " * 3, f"summary {i}") for i in range(7)]
    reference = SummarizationExamples(pairs, tok, seq_len=48, seed=5)
    batches = [reference.next_batch(3) for _ in range(5)]  # 15 examples: crosses two epochs
    first_epoch = torch.cat([b[0] for b in batches])[:7]
    assert len({tuple(row.tolist()) for row in first_epoch}) == 7  # each example once per epoch
    partial = SummarizationExamples(pairs, tok, seq_len=48, seed=5)
    [partial.next_batch(3) for _ in range(2)]
    resumed = SummarizationExamples(pairs, tok, seq_len=48, seed=0)
    resumed.load_state_dict(json.loads(json.dumps(partial.state_dict())))
    for expected in batches[2:]:
        ids, targets = resumed.next_batch(3)
        assert torch.equal(ids, expected[0]) and torch.equal(targets, expected[1])


def test_shared_summarization_data_reads():
    path = SHARED_SUMMARIES / "zh_classics_huimu.dev.jsonl"
    if not path.is_file():
        pytest.skip("../shared/data (the shared summarization sets) is not present")
    pairs = read_summarization_pairs(path)
    assert len(pairs) > 10 and all(d and s for d, s in pairs)  # "reference" read as the summary


@pytest.mark.parametrize("encoding, wide", [("utf-16-le", "UTF-16LE"), ("utf-16-be", "UTF-16BE")])
def test_utf16_without_a_byte_order_mark_is_told_by_its_nul_bytes(tmp_path, encoding, wide):
    text = "Plain notes in UTF-16, as some Windows tools save them.\nA second line, café.\n"
    path = tmp_path / "notes.txt"
    path.write_bytes(text.encode(encoding))
    assert read_document(str(path)) == text
    with pytest.raises(InputError, match=f"is {wide} text .without a byte-order mark.") as caught:
        read_documents([path])
    assert f"--encoding {wide.lower()}" in caught.value.one_line()
    assert read_documents([path], encoding=wide.lower())[0].text == text
    binary = tmp_path / "image.bin"  # NULs, but not every other byte
    binary.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(InputError, match="looks binary"):
        read_document(str(binary))


# ---- encodings: --encoding, and UTF-16 that no byte-order mark announces --------------------------

CJK_LINES = ("劉備與關羽、張飛在桃園結義，誓同生死。\n"
             "曹操聞之大怒；孫權按兵不動！諸葛亮曰：「此乃天意也。」\n") * 3


@pytest.mark.parametrize("encoding, wide", [("utf-16-le", "UTF-16LE"), ("utf-16-be", "UTF-16BE")])
@pytest.mark.parametrize("text", [CJK_LINES, CJK_LINES.replace("\n", "")],
                         ids=["lines", "one-line"])  # one line: no NUL byte at all
def test_cjk_utf16_without_a_byte_order_mark_is_told_by_what_it_reads_as(tmp_path, encoding, wide,
                                                                         text):
    path = tmp_path / "notes.txt"
    path.write_bytes(text.encode(encoding))
    assert unmarked_utf16(path.read_bytes()) == wide  # every other byte NUL it is not
    assert read_document(str(path)) == text  # summarize, continue and eval: read as that
    reads = [lambda: read_documents([path]), lambda: decode_piece(path.read_bytes(), str(path), "utf-8", 0)]
    if "\n" in text:  # NUL bytes: refused already when the inputs are listed
        reads.append(lambda: scan_input_files([path]))
    for read in reads:
        with pytest.raises(InputError) as caught:  # training reads by --encoding: say which
            read()
        message = caught.value.one_line()
        assert f"is {wide} text (without a byte-order mark)" in message
        assert f"--encoding {wide.lower()}" in message
    assert read_documents([path], encoding=wide.lower())[0].text == text


@pytest.mark.parametrize("seed", range(8))
def test_random_bytes_are_not_taken_for_unmarked_utf16(tmp_path, seed):
    import random

    rng = random.Random(seed)
    path = tmp_path / "noise.bin"
    for size in (64, 256, 4096, 20000):
        data = rng.randbytes(size)
        assert unmarked_utf16(data) is None
        path.write_bytes(data)
        with pytest.raises(InputError, match="looks binary|is not valid UTF-8"):
            read_document(str(path))
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + rng.randbytes(1000)
    assert unmarked_utf16(png) is None and unmarked_utf16(bytes(range(256)) * 8) is None


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252", "gb18030", "shift_jis"])
def test_8bit_text_is_not_taken_for_unmarked_utf16(encoding):
    """Two bytes of 8-bit text read as UTF-16 are often a CJK ideograph ("Bush hid the facts"):
    what tells them apart is that such text has no NUL and no control byte."""
    latin = "Le café était fermé à midi; les élèves sont partis tôt.\nÇa arrive en été.\n" * 4
    # letters run together: each pair of them reads as an ideograph, the é with the letter after
    # it too, so only the missing control bytes tell this from Chinese
    run_together = "ilétaitunefoisunpetitchaperonrougequetoutlemondeaimait" * 4
    texts = [latin, run_together] if encoding in ("latin-1", "cp1252") else [CJK_LINES]
    for text in texts:
        data = text.encode(encoding, errors="replace")
        for even in (data[:len(data) // 2 * 2], data[1:len(data) // 2 * 2 + 1]):
            assert unmarked_utf16(even) is None


def test_an_explicit_encoding_is_used_exactly(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("café au lait\r\nsecond line".encode("latin-1"))
    with pytest.raises(InputError) as caught:
        read_document(str(path))
    message = caught.value.one_line()
    assert "is not valid UTF-8: byte 0xe9 at offset 3" in message
    assert "pass --encoding (e.g. latin-1, cp1252, gb18030), or convert it" in message
    assert read_document(str(path), "latin-1") == "café au lait\r\nsecond line"  # line ends kept
    with pytest.raises(InputError, match=r"is not valid ascii: byte 0xe9 at offset 3"):
        read_document(str(path), "ascii")
    marked = tmp_path / "marked.txt"  # that codec's byte-order mark is dropped, no other
    marked.write_bytes("\ufeffwide text".encode("utf-16-be"))
    assert read_document(str(marked), "utf-16-be") == "wide text"
    marked.write_bytes("\ufeffcafé".encode("utf-8"))
    assert read_document(str(marked), "utf-8") == "café"
    with pytest.warns(UserWarning, match="is valid UTF-8; --encoding latin-1 may garble it"):
        assert read_document(str(marked), "latin-1") == "ï»¿cafÃ©"


def test_an_unknown_encoding_is_one_error():
    check_encoding(None)
    check_encoding("latin-1")
    check_encoding("utf-16")
    # rot13 and base64 are codecs, but not of text; the escape and DNS codecs decode Python's
    # and DNS's notations, not a file's text (and "undefined" decodes nothing)
    for name in ("xyz", "rot13", "base64", "", "unicode_escape", "Raw-Unicode-Escape", "idna",
                 "punycode", "undefined"):
        with pytest.raises(InputError) as caught:
            check_encoding(name)
        assert caught.value.one_line() == f"unknown encoding {name!r}; use e.g. utf-8, latin-1, gb18030"


def test_utf16_named_without_its_byte_order_reads_big_endian_too(tmp_path):
    text = "Training text with no byte-order mark.\nA second line of it.\n" * 4
    for codec in ("utf-16-le", "utf-16-be"):
        (tmp_path / f"{codec}.txt").write_bytes(text.encode(codec))
        [document] = read_documents([tmp_path / f"{codec}.txt"], encoding="utf-16")
        assert document.text == text
        assert decode_piece(text.encode(codec), "piece", "utf-16", 2 * len(text)) == text


def test_images_in_a_folder_are_skipped_whatever_the_encoding(tmp_path):
    (tmp_path / "notes.txt").write_bytes("Plain notes.\n".encode("utf-16-le"))
    for name, head in (("photo.jpg", b"\xff\xd8\xff\xe0JFIF"), ("anim.gif", b"GIF87a\x01\x00"),
                       ("shot.webp", b"RIFF\x10\x00\x00\x00WEBPVP8 "), ("app.db", b"SQLite format 3\x00")):
        (tmp_path / name).write_bytes(head + b"\x01\x02\x03\x04" * 8)
    documents = read_documents([tmp_path], encoding="utf-16le")
    assert [Path(d.name).name for d in documents] == ["notes.txt"]
    assert [Path(f.path).name for f in scan_input_files([tmp_path], "utf-16le")] == ["notes.txt"]


def test_latin1_warns_of_cp1252_and_utf8_bytes(tmp_path):
    (tmp_path / "cp.txt").write_bytes("It’s “quoted”.\n".encode("cp1252"))
    (tmp_path / "u8.txt").write_text("Café au lait.\n", encoding="utf-8")
    with pytest.warns(UserWarning, match=r"cp\.txt decodes as latin-1 but holds C1 control "
                                         r"characters; it is probably cp1252: pass --encoding cp1252"):
        read_documents([tmp_path / "cp.txt"], encoding="latin-1")
    with pytest.warns(UserWarning, match=r"u8\.txt is valid UTF-8; --encoding latin-1 may garble it"):
        read_documents([tmp_path / "u8.txt"], encoding="latin-1")


def test_a_codec_that_fails_without_naming_a_byte_is_one_error():
    # --encoding refuses punycode (check_encoding); read with it all the same, its reason is said
    with pytest.raises(InputError, match="is not valid punycode"):
        decode_piece(b"no spaces allowed", "x", "punycode", 0)
