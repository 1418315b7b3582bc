"""`reformer summarize` over several documents and folders, end to end in a subprocess: a document
that fails is its own error line at its turn while the others are summarized (exit 2 at the end),
as grep, wc and head do; a folder is its text files, skipped as `train` skips them."""

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(PYTHON) if PYTHON.exists() else sys.executable
ENGLISH = ("The committee met on Monday to discuss the budget for next year. Members agreed that "
           "spending on roads should rise. The chair said a final vote would take place in March.\n")
CHINESE = "今天天气很好。我们去公园散步。公园里有很多人在跑步。\n"
TABLE = "name,age,city\nalice,30,paris\nbob,25,london\ncarol,41,rome\ndave,33,oslo\n"
NO_PROSE = ("the document holds no prose sentences to summarize (it reads as a table or data); "
            "give a document with sentences in it")
EXTRACTIVE = ("--method", "extractive", "--sentences", "1")  # no torch: these tests stay quick


def reformer(*args, merged=False):
    """The finished `reformer summarize ARGS`; `merged`: stderr into stdout, in the order written."""
    return subprocess.run([PYTHON, "-m", "reformer_cli", "summarize", *map(str, args)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT if merged else subprocess.PIPE,
                          cwd=ROOT, timeout=120)


@pytest.fixture()
def inputs(tmp_path):
    """one.txt (English), data.csv (a table: no prose), zh.txt (Chinese), and absent.txt's path."""
    paths = {name: tmp_path / name for name in ("one.txt", "data.csv", "zh.txt", "absent.txt")}
    paths["one.txt"].write_text(ENGLISH, encoding="utf-8")
    paths["data.csv"].write_text(TABLE, encoding="utf-8")
    paths["zh.txt"].write_text(CHINESE, encoding="utf-8")
    return paths


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.decode().splitlines() if line.startswith("error: ")]


def test_bad_documents_are_error_lines_at_their_turn_and_the_good_ones_are_summarized(inputs):
    one, table, chinese, absent = inputs.values()
    result = reformer(one, table, chinese, absent, *EXTRACTIVE, merged=True)
    assert result.returncode == 2
    assert result.stdout.decode().splitlines() == [
        f"==> {one} <==",
        "The committee met on Monday to discuss the budget for next year.",
        f"error: {table}: {NO_PROSE}",  # its turn: after one.txt's summary, before zh.txt's
        "",
        f"==> {chinese} <==",
        "公园里有很多人在跑步。",
        f"error: no such file: {absent}; check the path",
        "summarize: extractive method"]


def test_stdout_holds_what_listing_only_the_good_documents_gives(inputs):
    one, table, chinese, absent = inputs.values()
    mixed = reformer(table, one, absent, chinese, *EXTRACTIVE)
    good = reformer(one, chinese, *EXTRACTIVE)
    assert mixed.returncode == 2 and good.returncode == 0, good.stderr
    assert mixed.stdout == good.stdout
    assert error_lines(mixed) == [f"error: {table}: {NO_PROSE}",
                                  f"error: no such file: {absent}; check the path"]
    assert b"Traceback" not in mixed.stderr


def test_json_lists_every_document_in_order_a_failed_one_with_its_error(inputs):
    one, table, chinese, absent = inputs.values()
    result = reformer(one, table, chinese, absent, *EXTRACTIVE, "--format", "json")
    assert result.returncode == 2
    records = json.loads(result.stdout)
    assert [record["file"] for record in records] == [str(one), str(table), str(chinese), str(absent)]
    assert records[1] == {"file": str(table), "error": f"{table}: {NO_PROSE}"}
    assert records[3] == {"file": str(absent), "error": f"no such file: {absent}; check the path"}
    good = json.loads(reformer(one, chinese, *EXTRACTIVE, "--format", "json").stdout)
    assert [records[0], records[2]] == good
    assert error_lines(result) == ["error: " + records[1]["error"], "error: " + records[3]["error"]]


def test_every_document_failing_still_reports_each_and_prints_no_summary(inputs):
    _, table, _, absent = inputs.values()
    result = reformer(table, absent, *EXTRACTIVE)
    assert result.returncode == 2 and result.stdout == b""
    assert result.stderr.decode().splitlines() == [f"error: {table}: {NO_PROSE}",
                                                   f"error: no such file: {absent}; check the path"]


@pytest.mark.parametrize("output_format", ["text", "json"])
def test_output_file_gets_what_succeeded_and_is_left_alone_when_nothing_did(inputs, tmp_path,
                                                                           output_format):
    one, table, chinese, absent = inputs.values()
    target = tmp_path / "summary.out"
    target.write_text("yesterday's summary\n", encoding="utf-8")
    args = (*EXTRACTIVE, "--format", output_format)
    result = reformer(one, table, chinese, absent, *args, "--output", target)
    assert result.returncode == 2 and result.stdout == b""
    assert len(error_lines(result)) == 2
    shown = reformer(one, table, chinese, absent, *args)  # what stdout would have held
    assert target.read_bytes() == shown.stdout
    target.write_text("yesterday's summary\n", encoding="utf-8")
    result = reformer(table, absent, *args, "--output", target)
    assert result.returncode == 2 and len(error_lines(result)) == 2
    assert target.read_text(encoding="utf-8") == "yesterday's summary\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "data.csv", "one.txt", "summary.out", "zh.txt"]  # no temporary file left behind


@pytest.mark.parametrize("args, message", [
    (["--sentences", "0"], "error: --sentences=0 is out of range; it must be >= 1"),
    (["--encoding", "klingon"], "error: unknown encoding 'klingon'; use e.g. utf-8, latin-1, gb18030"),
    (["--model", "no-such-model"], "error: no model found at"),
    (["--format", "yaml"], "error: unknown format 'yaml'; use one of text, json"),
])
def test_what_holds_for_every_document_still_fails_at_once(inputs, args, message):
    one, _, chinese, absent = inputs.values()
    result = reformer(one, absent, chinese, *args)
    assert result.returncode != 0 and result.stdout == b""
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), lines


def test_a_model_that_cannot_be_loaded_fails_before_any_document(inputs, tmp_path):
    from tiny_models import save_tiny_model

    folder = save_tiny_model(tmp_path / "work", "scorer", task="extract")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    one, _, chinese, absent = inputs.values()
    result = reformer(chinese, one, absent, "--model", folder, "--sentences", 1)
    assert result.returncode == 3 and result.stdout == b""
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: checkpoint {folder} is truncated"), lines


def test_an_output_that_is_a_folder_fails_before_any_document(inputs, tmp_path):
    one, _, chinese, _ = inputs.values()
    result = reformer(one, chinese, *EXTRACTIVE, "--output", tmp_path)
    assert result.returncode == 2 and result.stdout == b""
    assert result.stderr.decode().splitlines() == [f"error: --output {tmp_path} is a folder; give a "
                                                   "file name"]


def test_one_document_fails_as_it_always_did(inputs):
    _, table, _, _ = inputs.values()
    result = reformer(table, *EXTRACTIVE, "--format", "json")
    assert result.returncode == 2 and result.stdout == b""  # no list, no entry: one error line
    assert result.stderr.decode().splitlines() == [f"error: {table}: {NO_PROSE}"]


# --- folders ------------------------------------------------------------------------------------

@pytest.fixture()
def folder(tmp_path):
    """docs/: three documents (one in a subfolder, one UTF-16 with a byte-order mark) beside what
    a folder's listing skips: hidden files and folders, binary files, archives, PDFs, empty files."""
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / ".cache").mkdir()
    (docs / "b.txt").write_text(ENGLISH, encoding="utf-8")
    (docs / "sub" / "a.txt").write_text(CHINESE, encoding="utf-8")
    (docs / "wide.txt").write_bytes(ENGLISH.encode("utf-16"))
    (docs / ".notes.txt").write_text(ENGLISH, encoding="utf-8")
    (docs / ".cache" / "c.txt").write_text(ENGLISH, encoding="utf-8")
    (docs / "image.bin").write_bytes(b"\x00\x01\x02binary")
    (docs / "old.txt.gz").write_bytes(gzip.compress(ENGLISH.encode()))
    (docs / "report.pdf").write_bytes(b"%PDF-1.4\n...")
    (docs / "empty.txt").write_text("  \n", encoding="utf-8")
    return docs


def test_a_folder_is_its_text_files_in_sorted_order(folder):
    listed = [folder / "b.txt", folder / "sub" / "a.txt", folder / "wide.txt"]
    result = reformer(folder, *EXTRACTIVE)
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stdout.decode().splitlines() if line.startswith("==> ")] == [
        f"==> {path} <==" for path in listed]
    assert result.stdout == reformer(*listed, *EXTRACTIVE).stdout
    as_json = json.loads(reformer(folder, *EXTRACTIVE, "--format", "json").stdout)
    assert [record["file"] for record in as_json] == [str(path) for path in listed]


def test_a_folder_of_one_document_is_still_a_list_of_documents(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "only.txt").write_text(ENGLISH, encoding="utf-8")
    result = reformer(tmp_path / "docs", *EXTRACTIVE, "--format", "json")
    assert result.returncode == 0, result.stderr
    assert [record["file"] for record in json.loads(result.stdout)] == [
        str(tmp_path / "docs" / "only.txt")]


def test_a_folder_without_text_files_is_one_error_line(tmp_path, inputs):
    empty = tmp_path / "nothing"
    (empty / ".git").mkdir(parents=True)
    (empty / ".git" / "HEAD").write_text("ref: refs/heads/main\n", encoding="utf-8")
    (empty / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    line = (f"error: the folder {empty} contains no text files; give a folder with non-empty text "
            "files, or the files themselves")
    alone = reformer(empty, *EXTRACTIVE)
    assert alone.returncode == 2 and alone.stdout == b""
    assert alone.stderr.decode().splitlines() == [line]
    one = inputs["one.txt"]
    among = reformer(empty, one, *EXTRACTIVE)
    assert among.returncode == 2 and error_lines(among) == [line]
    assert among.stdout == reformer(one, empty / "absent", *EXTRACTIVE).stdout  # one's summary


def test_a_summary_written_into_the_folder_it_summarizes_is_not_read_back(folder):
    target = folder / "summary.txt"
    first = reformer(folder, *EXTRACTIVE, "--output", target)
    assert first.returncode == 0, first.stderr
    written = target.read_text(encoding="utf-8")
    again = reformer(folder, *EXTRACTIVE, "--output", target)  # now a text file of the folder
    assert again.returncode == 0, again.stderr
    assert target.read_text(encoding="utf-8") == written  # the same documents: not summary.txt
    assert f"==> {target} <==" not in written

    named = reformer(folder, target, *EXTRACTIVE, "--output", target)  # named: still refused
    assert named.returncode == 2 and "is the input file" in named.stderr.decode()
    assert len(named.stderr.decode().splitlines()) == 1
    assert target.read_text(encoding="utf-8") == written


def test_a_reader_that_stops_early_ends_the_run_quietly_and_successfully(inputs):
    """`reformer summarize A B ... | head -1`: the closed pipe is no error (exit 0, as with one
    document that fits the pipe), and says nothing."""
    many = [inputs["one.txt"]] * 40  # the later ones are written after head has gone
    command = " ".join(f"'{arg}'" for arg in (PYTHON, "-m", "reformer_cli", "summarize", *many,
                                              *EXTRACTIVE))
    result = subprocess.run(["bash", "-c", f"{command} 2>err.txt | head -1; "
                             "echo \"${PIPESTATUS[@]}\"; cat err.txt"],
                            capture_output=True, cwd=inputs["one.txt"].parent, timeout=120)
    first, codes, *stderr = result.stdout.decode().splitlines()
    assert first == f"==> {inputs['one.txt']} <=="
    assert codes == "0 0", stderr
    assert stderr == []
