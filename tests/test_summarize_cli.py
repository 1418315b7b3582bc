"""`reformer summarize` end to end in a subprocess: formats, files, stdin, bad input, no torch."""

import json
import os
import subprocess
import sys
from pathlib import Path
from pydoc_data.topics import topics

import pytest

from reformer_cli.text.words import count_words

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(PYTHON) if PYTHON.exists() else sys.executable
DOCUMENT = "\n\n".join(topics[key] for key in sorted(topics)[:30])


def reformer(*args, stdin=None, cwd=None):
    return subprocess.run([PYTHON, "-m", "reformer_cli", "summarize", *map(str, args)],
                          input=stdin, capture_output=True, cwd=cwd or ROOT, timeout=120)


@pytest.fixture()
def document(tmp_path):
    path = tmp_path / "doc.txt"
    path.write_text(DOCUMENT, encoding="utf-8")
    return path


def assert_one_line_error(result):
    assert result.returncode != 0
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert b"Traceback" not in result.stderr
    assert result.stdout == b""


def test_text_output_one_sentence_per_line_in_document_order(document):
    result = reformer(document, "--sentences", 4)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert len(lines) == 4
    positions = [" ".join(DOCUMENT.split()).find(line) for line in lines]
    assert all(p >= 0 for p in positions) and positions == sorted(positions)
    assert "learned method (model " in result.stderr.decode()  # English: the shipped scorer


def test_json_fields_and_word_budget(document):
    result = reformer(document, "--max-words", 40, "--format", "json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["method"] == "learned" and record["language"] == "en"
    assert record["model"].endswith("summarizer-en") and record["device"] == "cpu"
    assert record["summary_words"] <= 40
    assert sum(count_words(s["text"]) for s in record["sentences"]) == record["summary_words"]
    for sentence in record["sentences"]:
        assert {"text", "index", "position", "start", "end", "score", "rank", "truncated"} <= set(sentence)
        assert 0 <= sentence["start"] < sentence["end"] <= len(DOCUMENT)
        assert 0.0 <= sentence["position"] < 1.0


def test_several_files_and_stdin_each_get_a_headed_summary(document, tmp_path):
    chinese = tmp_path / "zh.txt"
    chinese.write_text("劉備與關羽結義。曹操大怒，起兵追之。孫權按兵不動。" * 20, encoding="utf-8")
    result = reformer(document, chinese, "-", "--max-words", 20, stdin="Short note. It works.".encode())
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert out.count("==> ") == 3
    assert f"==> {document} <==" in out and f"==> {chinese} <==" in out and "==> <stdin> <==" in out
    for block in out.strip().split("\n\n"):
        assert count_words("\n".join(block.splitlines()[1:])) <= 20
    # English documents get the shipped scorer; Chinese has none, so the model-free method
    assert "learned method (model " in result.stderr.decode()
    assert "; extractive method" in result.stderr.decode()


def test_output_file(document, tmp_path):
    target = tmp_path / "summary.txt"
    result = reformer(document, "--method", "extractive", "--sentences", 2, "--output", target)
    assert result.returncode == 0 and result.stdout == b""
    assert len(target.read_text(encoding="utf-8").splitlines()) == 2


def test_output_never_overwrites_an_input_and_a_failed_run_keeps_the_old_file(document, tmp_path):
    result = reformer(document, "--method", "extractive", "--output", document)
    assert_one_line_error(result)
    assert "is the input file" in result.stderr.decode()
    assert document.read_text(encoding="utf-8") == DOCUMENT

    target = tmp_path / "summary.txt"
    target.write_text("yesterday's summary\n", encoding="utf-8")
    target.chmod(0o640)
    result = reformer(tmp_path / "absent.txt", "--output", target)  # several: test_summarize_batch
    assert_one_line_error(result)
    assert target.read_text(encoding="utf-8") == "yesterday's summary\n"
    result = reformer(document, "--method", "extractive", "--sentences", 1, "--output", target)
    assert result.returncode == 0, result.stderr
    assert len(target.read_text(encoding="utf-8").splitlines()) == 1
    assert target.stat().st_mode & 0o777 == 0o640  # the replacement keeps the file's permissions
    assert sorted(p.name for p in tmp_path.iterdir()) == ["doc.txt", "summary.txt"]


def test_output_through_a_symlink_or_into_a_fifo_keeps_the_link_and_the_fifo(document, tmp_path):
    import os
    import stat
    import threading

    (tmp_path / "kept").mkdir()
    real = tmp_path / "kept" / "real.txt"
    real.write_text("old\n", encoding="utf-8")
    link = tmp_path / "latest.txt"
    link.symlink_to(real)
    result = reformer(document, "--method", "extractive", "--sentences", 1, "-o", link)
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and len(real.read_text(encoding="utf-8").splitlines()) == 1

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text(encoding="utf-8")))
    reader.start()
    result = reformer(document, "--method", "extractive", "--sentences", 1, "--output", fifo)
    reader.join(timeout=60)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # written into, not replaced by a regular file
    assert received == [real.read_text(encoding="utf-8")]


def test_long_line_without_boundaries_gives_a_summary(tmp_path):
    path = tmp_path / "line.txt"
    words = ["river", "stone", "engine", "signal", "harbor", "lantern", "copper"]
    path.write_text(" ".join(words[(i * 7919) % 7] + str(i % 50) for i in range(8000))[:50000])
    result = reformer(path, "--max-words", 50)
    assert result.returncode == 0, result.stderr
    assert 0 < count_words(result.stdout.decode()) <= 50


@pytest.mark.parametrize("content, args, fragment", [
    (b"", [], "is empty"),
    (b"  \n\t\n ", [], "only whitespace"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", [], "is a PNG image, not plain text"),
    (b"caf\xc3\xa9 ok, then bad \xff here.", [], "offset 19"),
    ("。。。！".encode(), [], "no words"),
    (b"Some text. More text.", ["--max-words", "0"], "--max-words=0 is out of range"),
    (b"Some text. More text.", ["--max-words", "-4"], "--max-words=-4 is out of range"),
    (b"Some text. More text.", ["--sentences", "0"], "--sentences=0 is out of range"),
    (b"Some text. More text.", ["--sentences", "2", "--ratio", "0.5"], "conflicting"),
    (b"Some text. More text.", ["--method", "abstractive"], "--task summarize"),
    (b"Some text. More text.", ["--method", "magic"], "unknown method"),
    ("劉備與關羽結義。曹操大怒。".encode(), ["--method", "learned"], "no sentence scorer ships for zh"),
    (b"Some text. More text.", ["--model", "no-such-model"], "no model"),
])
def test_bad_input_is_one_line_and_non_zero(tmp_path, content, args, fragment):
    path = tmp_path / "input.txt"
    path.write_bytes(content)
    result = reformer(path, *args)
    assert_one_line_error(result)
    assert fragment in result.stderr.decode()


def test_one_word_document_is_its_own_summary(tmp_path):
    path = tmp_path / "word.txt"
    path.write_text("hello\n")
    result = reformer(path)
    assert result.returncode == 0 and result.stdout == b"hello\n"


def test_missing_file_is_one_line(tmp_path):
    result = reformer(tmp_path / "absent.txt")
    assert_one_line_error(result)
    assert result.returncode == 2
    assert result.stderr.decode() == f"error: no such file: {tmp_path / 'absent.txt'}; check the path\n"


@pytest.mark.parametrize("args, line", [
    (["--sentences", "0"], "--sentences=0 is out of range; it must be >= 1"),
    (["--max-words", "-4"], "--max-words=-4 is out of range; it must be >= 1"),
    (["--ratio", "0"], "--ratio=0 is out of range; it must be > 0 and <= 1"),
    (["--ratio", "1.5"], "--ratio=1.5 is out of range; it must be <= 1"),
])
def test_a_bad_budget_says_its_range_as_every_flag_does(document, args, line):
    """The words of `reformer train --steps 0` and `continue --top-p 2` (config/checks.py)."""
    result = reformer(document, "--method", "extractive", *args)
    assert_one_line_error(result)
    assert result.returncode == 2
    assert result.stderr.decode() == f"error: {line}\n"


def test_a_pdf_hint_names_the_file_and_its_text_sibling(tmp_path):
    head = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj"
    for name, command in (("Annual report.pdf", "pdftotext -layout 'Annual report.pdf' 'Annual report.txt'"),
                          ("scan.txt", "pdftotext -layout scan.txt scan.txt.txt")):  # never itself
        (tmp_path / name).write_bytes(head)
        result = reformer(name, cwd=tmp_path)
        assert_one_line_error(result)
        assert result.stderr.decode() == (f"error: {name} is a PDF, not plain text; convert it to "
                                          f"text first, e.g. `{command}`\n")
    result = reformer("-", stdin=head)
    assert result.stderr.decode().endswith("e.g. `pdftotext -layout FILE FILE.txt`\n")


def test_help_names_each_value_readably_and_m_is_model(document):
    """Every option's value has a name or its choices, read from the code (not typer's <str>,
    <int>, <float>); -m is --model, as for `continue` and `eval`."""
    from reformer_cli.commands.summarize import FORMATS
    from reformer_cli.summarize.methods import METHODS
    from reformer_cli.summarize.summary import LANGUAGES

    result = subprocess.run([PYTHON, "-m", "reformer_cli", "summarize", "--help"], capture_output=True,
                            text=True, cwd=ROOT, timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    options = result.stdout.split("Options")[1]
    for placeholder in ("<str>", "<int>", "<float>", "<path>"):
        assert placeholder not in options, options
    for flag, name in (("--model", "NAME_OR_DIR"), ("--method", "|".join(METHODS)),
                       ("--language", "|".join(LANGUAGES)), ("--format", "|".join(FORMATS)),
                       ("--device", "auto|cpu|cuda|cuda:N|mps"), ("--sentences", "N"),
                       ("--max-words", "N"), ("--ratio", "FRACTION"), ("--output", "FILE")):
        row = [line for line in options.splitlines() if f" {flag} " in line][0]
        assert f" {name} " in row, row
    assert "abstractive" in METHODS and "other" in LANGUAGES and "json" in FORMATS
    assert [line for line in options.splitlines() if " --model " in line][0].split()[1:3] == [
        "--model", "-m"]
    shipped = reformer(document, "-m", "no-such-model")  # -m is --model: the model is looked for
    assert_one_line_error(shipped)
    assert "no model" in shipped.stderr.decode()


@pytest.fixture(scope="module")
def models_root(tmp_path_factory):
    """models/lm and models/summ: tiny checkpoints (random weights, byte tokenizer) of a
    language model and of a model trained with --task summarize."""
    from tiny_models import save_tiny_model

    root = tmp_path_factory.mktemp("work")
    for name, task in (("lm", "lm"), ("summ", "summarize")):
        save_tiny_model(root, name, task=task, seq_len=256)
    return root


def test_auto_runs_what_the_model_was_trained_for_and_refuses_a_language_model(models_root,
                                                                              document):
    result = reformer(document, "--model", "lm", "--sentences", 1, cwd=models_root)
    assert_one_line_error(result)  # a named model is meant to be used, not silently skipped
    assert "trained with --task lm" in result.stderr.decode()
    # auto runs either kind of summarizer, so the line names both, each with its method
    assert ("a summarizer is a model trained with `reformer train pairs.jsonl --task summarize` "
            "(abstractive) or `--task extract` (learned sentence scorer)") in result.stderr.decode()
    result = reformer(document, "--model", "lm", "--method", "extractive", "--sentences", 1,
                      cwd=models_root)
    assert result.returncode == 0, result.stderr
    assert "extractive method (the model is not used)" in result.stderr.decode()
    assert len(result.stdout.decode().splitlines()) == 1

    result = reformer(document, "--model", "summ", "--max-new-tokens", 6, "--format", "json",
                      cwd=models_root)
    assert result.returncode == 0, result.stderr
    assert "abstractive method" in result.stderr.decode()
    record = json.loads(result.stdout)
    assert record["method"] == "abstractive"
    generation = record["generation"]
    assert generation["model"].endswith("summ/final") and generation["generated_tokens"] <= 6


def test_abstractive_method_needs_a_summarization_model(models_root, document):
    result = reformer(document, "--model", "lm", "--method", "abstractive", cwd=models_root)
    assert_one_line_error(result)
    assert "--task summarize" in result.stderr.decode() and "--task lm" in result.stderr.decode()


@pytest.mark.parametrize("language, args", [("en", ["--method", "extractive"]), ("zh", [])])
def test_extractive_path_does_not_import_torch(document, tmp_path, language, args):
    if language == "zh":  # no model ships for Chinese: the default is the model-free method
        document = tmp_path / "zh.txt"
        document.write_text("劉備與關羽結義。曹操大怒，起兵追之。孫權按兵不動。" * 5, encoding="utf-8")
    code = ("import sys\nfrom reformer_cli.cli import main\n"
            f"try:\n    main(['summarize', {str(document)!r}, '--sentences', '2', *{args!r}])\n"
            "except SystemExit:\n    pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)\n")
    result = subprocess.run([PYTHON, "-c", code], capture_output=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr.decode().strip().endswith("NO-TORCH"), result.stderr
    assert len(result.stdout.decode().splitlines()) == 2


def test_device_cpu_runs_the_model_there(models_root, document):
    result = reformer(document, "--model", "summ", "--device", "cpu", "--max-new-tokens", 4,
                      "--format", "json", cwd=models_root)
    assert result.returncode == 0, result.stderr
    generation = json.loads(result.stdout)["generation"]
    assert generation["device"] == "cpu" and generation["model"].endswith("summ/final")


def test_device_cuda_without_cuda_is_the_same_line_as_continue(models_root, document):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here: the error case cannot happen")
    result = reformer(document, "--model", "summ", "--device", "cuda", cwd=models_root)
    assert_one_line_error(result)
    assert "CUDA is not available" in result.stderr.decode()
    continued = subprocess.run([PYTHON, "-m", "reformer_cli", "continue", str(document), "--model",
                                "lm", "--device", "cuda"], capture_output=True, cwd=models_root,
                               timeout=60)
    assert continued.returncode == result.returncode
    assert continued.stderr.decode().strip().splitlines() == result.stderr.decode().strip().splitlines()
    extractive = reformer(document, "--method", "extractive", "--device", "cuda", "--sentences", 1)
    assert extractive.returncode == 0, extractive.stderr


# --- --encoding, and UTF-16 without a byte-order mark ------------------------------------------

FRENCH = ("Le café de la gare était fermé ce matin. Les élèves sont partis à midi sans déjeuner. "
          "Ça arrive souvent en été, dit le maître. Personne ne savait pourquoi le propriétaire "
          "était absent. Il reviendra demain matin, à l'aube, avec du pain frais.\n")


def test_a_latin1_document_needs_its_encoding_named(tmp_path):
    twin, latin = tmp_path / "utf8.txt", tmp_path / "latin.txt"
    twin.write_text(FRENCH, encoding="utf-8")
    latin.write_bytes(FRENCH.encode("latin-1"))
    result = reformer(latin, "--method", "extractive", "--sentences", 2)
    assert_one_line_error(result)
    assert (f"error: {latin} is not valid UTF-8: byte 0xe9 at offset 6 cannot be decoded; pass "
            "--encoding (e.g. latin-1, cp1252, gb18030), or convert it") in result.stderr.decode()
    named = reformer(latin, "--method", "extractive", "--sentences", 2, "--encoding", "latin-1")
    assert named.returncode == 0, named.stderr
    expected = reformer(twin, "--method", "extractive", "--sentences", 2)
    assert named.stdout == expected.stdout and len(named.stdout.decode().splitlines()) == 2
    wrong = reformer(twin, "--method", "extractive", "--encoding", "ascii")  # named: used exactly
    assert_one_line_error(wrong)
    assert "is not valid ascii: byte 0xc3 at offset 6" in wrong.stderr.decode()


def test_an_unknown_encoding_fails_before_the_model_or_stdin(tmp_path):
    path = tmp_path / "doc.txt"
    path.write_text(FRENCH, encoding="utf-8")
    for args in ([path, "--model", "no-such-model"], ["-", "--method", "extractive"]):
        result = reformer(*args, "--encoding", "klingon", stdin=b"")  # empty stdin: unread
        assert_one_line_error(result)
        assert result.stderr.decode().strip() == ("error: unknown encoding 'klingon'; use e.g. "
                                                  "utf-8, latin-1, gb18030")


@pytest.mark.parametrize("encoding", ["unicode_escape", "raw_unicode_escape", "idna", "punycode"])
def test_a_codec_that_is_not_a_file_encoding_is_an_unknown_encoding(document, encoding):
    result = reformer(document, "--method", "extractive", "--encoding", encoding)
    assert result.returncode == 2 and result.stdout == b"" and b"Traceback" not in result.stderr
    assert result.stderr.decode().strip().splitlines() == [
        f"error: unknown encoding '{encoding}'; use e.g. utf-8, latin-1, gb18030"]


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_cjk_utf16_without_a_byte_order_mark_summarizes_as_its_utf8_twin(tmp_path, encoding):
    text = "劉備與關羽結義，誓同生死。曹操大怒，起兵追之。孫權按兵不動。諸葛亮曰：「此乃天意也。」\n" * 6
    twin, wide = tmp_path / "utf8.txt", tmp_path / "wide.txt"
    twin.write_text(text, encoding="utf-8")
    wide.write_bytes(text.encode(encoding))  # no mark, and not every other byte NUL
    result = reformer(wide, "--sentences", 2, "--format", "json")
    assert result.returncode == 0, result.stderr
    expected = reformer(twin, "--sentences", 2, "--format", "json")
    summary, reference = json.loads(result.stdout), json.loads(expected.stdout)
    assert summary["sentences"] == reference["sentences"] and len(summary["sentences"]) == 2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_bytes_are_still_refused(tmp_path, seed):
    import random

    path = tmp_path / "noise.bin"
    path.write_bytes(random.Random(seed).randbytes(6000))
    result = reformer(path, "--method", "extractive")
    assert_one_line_error(result)
    assert "looks binary" in result.stderr.decode() or "not valid UTF-8" in result.stderr.decode()


ENGLISH = ("The council met on Tuesday to discuss the budget. Several members asked for more money "
           "for the schools. The mayor said the roads came first this year. A vote is planned for "
           "next month, after the hearings. Nobody expected the meeting to end so late.\n")


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_utf16_or_32_named_without_its_byte_order_reads_the_order_the_bytes_tell(tmp_path, codec):
    for text in (ENGLISH, "劉備與關羽結義，誓同生死。曹操大怒，起兵追之。孫權按兵不動。\n" * 6):
        twin, wide = tmp_path / "utf8.txt", tmp_path / "wide.txt"
        twin.write_text(text, encoding="utf-8")
        wide.write_bytes(text.encode(codec))  # no byte-order mark
        family = codec[:6]  # utf-16 or utf-32: Python would read either as little-endian
        result = reformer(wide, "--method", "extractive", "--sentences", 2, "--encoding", family)
        assert result.returncode == 0, result.stderr
        assert result.stdout == reformer(twin, "--method", "extractive", "--sentences", 2).stdout


@pytest.mark.parametrize("head, what", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a PNG image"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "a JPEG image"),
    (b"GIF89a\x10\x00\x10\x00", "a GIF image"),
    (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "a WebP image"),
    (b"SQLite format 3\x00\x10\x00", "an SQLite database")])
def test_images_and_databases_are_named_whatever_the_encoding(tmp_path, head, what):
    path = tmp_path / "file.bin"
    path.write_bytes(head + bytes(range(256)) * 4)
    result = reformer(path, "--method", "extractive", "--encoding", "utf-16le")
    assert_one_line_error(result)
    assert result.stderr.decode().startswith(f"error: {path} is {what}, not plain text; ")


def test_a_decode_error_says_when_the_bytes_are_utf8_or_short_utf16(tmp_path):
    path = tmp_path / "doc.txt"
    path.write_text(FRENCH, encoding="utf-8")
    result = reformer(path, "--method", "extractive", "--encoding", "ascii")
    assert_one_line_error(result)
    assert result.stderr.decode().strip() == (
        f"error: {path} is not valid ascii: byte 0xc3 at offset 6 cannot be decoded; it is valid "
        "UTF-8: leave out --encoding")
    for codec in ("utf-16le", "utf-16be"):
        short = tmp_path / f"{codec}.txt"
        short.write_bytes("今天天气很好。我们去公园散步吧。".encode(codec))  # 16 characters: too few to tell
        result = reformer(short, "--method", "extractive")
        assert_one_line_error(result)
        assert result.stderr.decode().strip().endswith(
            f"cannot be decoded; it reads as {codec.upper()} text (too short to tell for sure): "
            f"pass --encoding {codec}, or another (e.g. latin-1, cp1252, gb18030)")


def test_latin1_warns_when_the_bytes_are_cp1252_or_utf8(tmp_path):
    cp1252, utf8, latin = tmp_path / "cp1252.txt", tmp_path / "utf8.txt", tmp_path / "latin.txt"
    quoted = FRENCH.replace("dit le maître", "“dit le maître” – ")
    cp1252.write_bytes(quoted.encode("cp1252"))
    utf8.write_text(FRENCH, encoding="utf-8")
    latin.write_bytes(FRENCH.encode("latin-1"))
    for path, encoding, expected in (
            (cp1252, "latin-1", f"warning: {cp1252} decodes as latin-1 but holds C1 control "
                                "characters; it is probably cp1252: pass --encoding cp1252"),
            (utf8, "iso-8859-1", f"warning: {utf8} is valid UTF-8; --encoding iso-8859-1 may "
                                 "garble it")):
        result = reformer(path, "--method", "extractive", "--encoding", encoding)
        assert result.returncode == 0, result.stderr
        assert expected in result.stderr.decode().splitlines()
    result = reformer(latin, "--method", "extractive", "--encoding", "latin-1")
    assert result.returncode == 0 and b"warning" not in result.stderr


def test_a_word_budget_is_not_filled_with_numbered_headings(tmp_path):
    from test_summarize import CONTRACT, CONTRACT_HEADINGS

    path = tmp_path / "contract.txt"
    path.write_text(CONTRACT, encoding="utf-8")
    for budget in (3, 20, 40):  # the shipped scorer, as a user runs it
        result = reformer(path, "--max-words", budget)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.decode().splitlines()
        assert lines and not set(lines) & CONTRACT_HEADINGS, (budget, lines)
        assert count_words(result.stdout.decode()) <= budget
