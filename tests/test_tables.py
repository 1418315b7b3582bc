"""Data is no summary sentence: delimited table rows (CSV with quoted fields, TSV, pipe tables)
and pretty-printed JSON are "data" units; prose with commas, two-line "tables", and the dev
sets' documents are left as they were; a document of data alone is a one-line error."""

import json
import re
from pathlib import Path
from pydoc_data.topics import topics

import pytest
from dev_sets import DEV, NO_DATA
from test_summarize_cli import assert_one_line_error, reformer

from reformer_cli.text.sentences import split_sentences
from reformer_cli.text.tables import data_lines
from reformer_cli.text.units import CODE_START

README = Path(__file__).resolve().parents[1] / "README.md"

CSV = '''name,age,city,comment
"Smith, John",42,"New York, NY","likes cats, dogs"
Jane Doe,37,Boston,none
Bob Roe,25,"Austin, TX","a, b"
'''

REPORT = '''# Quarterly report

Sales grew in every region this quarter. The table below gives the figures.

region\tunits\trevenue\tgrowth
North\t1200\t34000\t5%
South\t900\t25100\t3%
West\t1500\t41000\t8%

The service answers with a record like this one:

{
  "name": "North",
  "units": 1200,
  "tags": ["retail", "online"],
  "manager": {"first": "Ann", "last": "Example"}
}

Next quarter we expect the West to lead again.
'''


def kinds(text: str) -> list[tuple[str, str]]:
    return [(sentence.kind, sentence.text) for sentence in split_sentences(text)]


def test_csv_rows_with_quoted_commas_are_data():
    assert kinds(CSV) == [
        ("data", "name,age,city,comment"),
        ("data", '"Smith, John",42,"New York, NY","likes cats, dogs"'),
        ("data", "Jane Doe,37,Boston,none"),
        ("data", 'Bob Roe,25,"Austin, TX","a, b"'),
    ]


def test_tsv_and_json_in_a_report_are_data_and_its_prose_stays():
    units = kinds(REPORT)
    assert [text for kind, text in units if kind == "sentence"] == [
        "Sales grew in every region this quarter.", "The table below gives the figures.",
        "The service answers with a record like this one:",
        "Next quarter we expect the West to lead again."]
    data = [text for kind, text in units if kind == "data"]
    assert data[:4] == ["region units revenue growth", "North 1200 34000 5%", "South 900 25100 3%",
                        "West 1500 41000 8%"]
    assert data[4:] == ["{", '"name": "North",', '"units": 1200,', '"tags": ["retail", "online"],',
                        '"manager": {"first": "Ann", "last": "Example"}', "}"]


def test_json_lines_and_semicolon_and_pipe_tables_are_data():
    jsonl = '{"id": 1, "text": "first"}\n{"id": 2, "text": "second"}\n'
    assert {kind for kind, _ in kinds(jsonl)} == {"data"}
    semicolons = "Name;Points;Rank\nAnn;12;1\nBob;9;2\n"
    assert {kind for kind, _ in kinds(semicolons)} == {"data"}
    spaced = "Ann Lee, 42, Boston\nBob Roe, 37, New York\nCy Young, 25, Austin\n"  # as prose writes
    assert {kind for kind, _ in kinds(spaced)} == {"data"}
    chinese = "张三,北京,二十五\n李四,上海,三十\n王五,广州,四十一\n"
    assert {kind for kind, _ in kinds(chinese)} == {"data"}
    pipes = ("Flags are below.\n\n| Flag | What it does |\n|---|---|\n| --fast | skips the check |\n"
             "| --slow | runs every check twice over |\n")
    assert kinds(pipes) == [("sentence", "Flags are below."), ("data", "| Flag | What it does |"),
                            ("data", "| --fast | skips the check |"),
                            ("data", "| --slow | runs every check twice over |")]


def test_prose_with_many_commas_is_not_a_table():
    prose = ("We tested the parser, the scanner, and the printer, in that order, on Monday.\n"
             "It failed twice, once on tabs, once on quotes, and then it passed on Tuesday,\n"
             "Wednesday, and Thursday, which pleased the team, the lead, and the users alike.\n")
    assert kinds(prose)[0][0] == "sentence"
    assert "data" not in {kind for kind, _ in kinds(prose)}
    names = ("The committee met with Ann Lee, Bob Roe, and Cy Young on the first day\n"
             "of the meeting, and with Dee Park, Eve Stone, and Flo Hart on the second day\n"
             "of the meeting, and then with Gus Marsh, Hal Reed, and Ida Bell on the third.\n")
    assert "data" not in {kind for kind, _ in kinds(names)}
    chinese = ("他们走了很久的路,终于到了城门,天已经黑了\n守城的士兵不让他们进去,说是规矩,只好在外面\n"
               "找了一家小店住下,吃了饭,便早早睡了\n")
    assert "data" not in {kind for kind, _ in kinds(chinese)}


def test_a_novels_wrapped_lines_with_equal_commas_are_not_a_table():
    # Hard-wrapped at 70 characters, each line has two commas; a comma is followed by a space
    # or a closing quote, never a letter, as in prose.
    novel = ("“Start the boat, start her, my lads! Don’t hurry and take your time but\n"
             "start her like a storm, that’s all,” cried the mate as he puffed away\n"
             "at his pipe. “Pull now, you dogs, pull the long stroke and never mind\n"
             "the wind,” said he, and the men bent to the oars in silence at last.\n")
    assert "data" not in {kind for kind, _ in kinds(novel)}


@pytest.mark.skipif(not (DEV.parent / "lm").is_dir(), reason=NO_DATA)
def test_the_books_hold_no_data():
    for book in sorted((DEV.parent / "lm").glob("*.txt")):
        units = split_sentences(book.read_text(encoding="utf-8")[:300_000])
        assert [s.text for s in units if s.kind == "data"] == [], book.name


def test_two_rows_or_ragged_rows_are_no_table():
    assert "data" not in {kind for kind, _ in kinds("a,b,c\n1,2,3\n")}
    assert "data" not in {kind for kind, _ in kinds("a,b,c\n1,2\n3,4,5,6\n7,8\n")}


def test_code_and_calls_are_no_table_rows():
    signatures = ("run(statement, globals=None, locals=None)\nruneval(expression, globals=None, "
                  "locals=None)\nruncall(function, *args, **kwds)\n")
    assert data_lines(signatures.splitlines(), lambda line: False) == set()
    doctest = [">>> '{2}, {1}, {0}'.format(*'abc')", "'c, b, a'", ">>> x = 1, 2, 3", "'c, b, a'"]
    assert data_lines(doctest, lambda line: bool(CODE_START.match(line))) == set()


def test_a_document_of_data_alone_is_a_one_line_error(tmp_path):
    for name, content in (("data.csv", CSV), ("data.json", '{\n  "a": 1,\n  "b": [1, 2]\n}\n')):
        path = tmp_path / name
        path.write_text(content)
        result = reformer(path)
        assert_one_line_error(result)
        assert result.returncode == 2
        assert result.stderr.decode().startswith(f"error: {path}: the document holds no prose")


def test_a_report_with_a_table_is_summarized_by_its_prose(tmp_path):
    path = tmp_path / "report.md"
    path.write_text(REPORT)
    result = reformer(path, "--method", "extractive")
    assert result.returncode == 0, result.stderr
    assert "1200" not in result.stdout.decode() and "growth" not in result.stdout.decode()


def test_pydoc_and_readme_data_is_only_pipe_tables():
    units = [s for text in [*topics.values(), README.read_text()] for s in split_sentences(text)]
    assert all(s.text.startswith("|") for s in units if s.kind == "data")


@pytest.mark.skipif(not DEV.is_dir(), reason=NO_DATA)
@pytest.mark.parametrize("name", ["peps_abstract", "rfc_abstract", "zh_classics_huimu"])
def test_dev_documents_hold_no_data(name):
    with open(DEV / f"{name}.dev.jsonl", encoding="utf-8") as rows:
        documents = [json.loads(row)["document"] for row in rows]
    is_code = lambda line: bool(CODE_START.match(line))  # noqa: E731
    found = [(number, block[:80]) for number, document in enumerate(documents)
             for block in re.split(r"\n[ \t]*\n", document)
             if data_lines(block.strip("\n").split("\n"), is_code)]
    assert found == []


def test_rest_simple_table_rows_are_data():
    table = ("=========  ========  ====\nOption     Default   Meaning\n=========  ========  ====\n"
             "verbose    False     Print more messages\ntimeout    30        Seconds before giving up\n"
             "=========  ========  ====\n")
    assert kinds("The options follow.\n\n" + table) == [
        ("sentence", "The options follow."), ("data", "Option Default Meaning"),
        ("data", "verbose False Print more messages"), ("data", "timeout 30 Seconds before giving up")]
    no_middle_rule = "\n".join(line for n, line in enumerate(table.splitlines()) if n != 2)
    assert {kind for kind, _ in kinds(no_middle_rule)} == {"data"}
    one_rule = "=====  =====\nThe rule above is no table, and this line is prose.\n"
    assert kinds(one_rule) == [("sentence", "The rule above is no table, and this line is prose.")]


def test_tight_two_column_csv_tsv_and_free_text_columns_are_data():
    capitals = "country,capital\nFrance,Paris\nGermany,Berlin\nItaly,Rome\nSpain,Madrid\n"
    assert {kind for kind, _ in kinds(capitals)} == {"data"}
    scores = "name\tscore\nAlice\t9\nBob\t7\nCarol\t8\n"
    assert {kind for kind, _ in kinds(scores)} == {"data"}
    reviews = ('id,comment\n1,"I really liked the service, the staff were friendly and helpful."\n'
               '2,"The room was too small. The breakfast was cold."\n3,"Great location. Would stay again."\n')
    assert [kind for kind, _ in kinds(reviews)] == ["data"] * 4


def test_loose_two_field_lines_and_thousands_are_no_table():
    replies = "Yes, he said at once.\nNo, she said after a while.\nMaybe, they said in the end.\n"
    assert "data" not in {kind for kind, _ in kinds(replies)}
    thousands = "We sold 1,200 units in May\nand then 3,400 more in June\nand 5,600 more in July.\n"
    assert "data" not in {kind for kind, _ in kinds(thousands)}
    tabbed_prose = ("He said,\tand then he went on at length about it\nShe said,\tand then she left\n"
                    "We\twent home too\n")  # a stray tab: two fields, one long
    assert "data" not in {kind for kind, _ in kinds(tabbed_prose)}
