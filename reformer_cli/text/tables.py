"""Machine-readable data inside a document: the rows of a delimited table (CSV, TSV, a pipe
table) and the lines of pretty-printed JSON. Left to the segmenter, "Smith, John",42,Boston
rows join into one long "sentence" and `"name": "value",` lines read as prose, so a CSV file,
or a report with a table pasted in, is summarized by its numbers.

1. A table is a run of MIN_ROWS or more consecutive lines of a block that Python's `csv`
   module (quoted fields taken into account) splits by one delimiter (`,` tab `;` `|`) into the
   same number, at least MIN_FIELDS, of fields, whose median is at most MAX_MEDIAN_FIELD_WORDS
   words (MAX_SPACED_MEDIAN_WORDS, and none over MAX_SPACED_FIELD_WORDS, where no letter follows
   a comma or semicolon, as in prose):
   prose with commas has long clauses between them and a count that varies from line to line.
   A line that opens like code (`is_code`: a ">>> " prompt, "import ...") is no row, nor is
   one whose comma splits a bracket ("run(statement, globals=None, locals=None)"). A line with
   a pipe at both ends (Markdown, reStructuredText grid) splits between its outer pipes, so a
   two-column pipe table counts (its "|---|---|" rule is a row like the others); a grid table's
   "+----+----+" goes on a run without counting as a row. A run whose every line is "tight"
   (a `,` or `;` right before an ASCII letter, a straight `"`, or a digit that opens no
   thousands group as "1,200" does: prose never writes a letter right after a comma), or one
   split by tabs, needs only MIN_TIGHT_FIELDS fields ("France,Paris"; a tabbed one then no
   field over MAX_MEDIAN_FIELD_WORDS: a novel's lines may hold a stray tab), and a tight run
   has no word limit, so a column of quoted free text counts: its tightness is the evidence.
2. A reStructuredText simple table: the lines between a block's first and last simple-table
   rule ("=========  ======", two columns or more), its middle rule aside.
3. Data is a block of two or more lines that `json.loads` reads whole (pretty-printed JSON),
   or whose every line it reads as an object or an array (JSON Lines). One line of minified
   JSON is left to the segmenter, which cuts it as an over-long code line.

Pure functions: no files, no terminal.
"""

from __future__ import annotations

import csv
import json
import re
import statistics
from typing import Callable

DELIMITERS = (",", "\t", ";", "|")
MIN_ROWS = 3  # two lines with two commas each are as often prose as a table
MIN_FIELDS = 3
MIN_TIGHT_FIELDS = 2  # "country,capital", "name<TAB>score": written tight, two fields are a table
MIN_PIPE_CELLS = 2  # "| flag | meaning |": the outer pipes make two cells a table
MAX_MEDIAN_FIELD_WORDS = 4
# Prose never puts a letter right after a comma or semicolon (a space, a closing quote, a dash
# comes first), a CSV file mostly does: a run written like prose ("Ann Lee, 42, Boston") is a
# table only with fields of a word or two and none long ("It failed twice, once on tabs, once
# on quotes," has the field count of the next two lines and a median of 3; a novel's lines,
# wrapped at 70 characters, often have the same number of commas).
PROSE_DELIMITERS = (",", ";")
MAX_SPACED_MEDIAN_WORDS = 2
MAX_SPACED_FIELD_WORDS = 4
BRACKETS = ("()", "[]", "{}")
GRID_RULE = re.compile(r"^\s*\+(?:[-=]+\+)+\s*$")  # "+-----+----+", between a grid table's rows
SIMPLE_RULE = re.compile(r"^\s*=+(?:[ \t]+=+)+\s*$")  # "=======  ====": a simple table's border
# A delimiter written tight: before an ASCII letter, a '"', or a digit unless it is "1,200".
TIGHT = {delimiter: re.compile(rf'{delimiter}(?:[A-Za-z"]|(?!(?<=\d{delimiter})\d{{3}}(?!\d))\d)')
         for delimiter in PROSE_DELIMITERS}
# A field's words count each CJK character as one, as words.count_words does: Chinese prose with
# ASCII commas has long fields, not short ones.
IDEOGRAPH = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff]")


def data_lines(lines: list[str], is_code: Callable[[str], bool]) -> set[int]:
    """Indexes of the lines of one block (its lines in order) that are table rows or JSON data
    (a grid table's rules are neither: the segmenter drops them). A line for which `is_code`
    holds (">>> '{2}, {1}, {0}'.format(...)", "import a.b # a, a.b, ...") is no table row."""
    if len(lines) < 2:
        return set()
    if _is_json_block(lines):
        return set(range(len(lines)))
    rules = [number for number, line in enumerate(lines) if SIMPLE_RULE.match(line)]
    simple = set(range(rules[0] + 1, rules[-1])) - set(rules) if len(rules) >= 2 else set()
    if len(lines) < MIN_ROWS:
        return simple
    return simple | _table_rows(["" if is_code(line) else line for line in lines])


def _is_json_block(lines: list[str]) -> bool:
    first, last = lines[0].lstrip()[:1], lines[-1].rstrip()[-1:]
    if first not in ("{", "[") or last not in ("}", "]"):
        return False
    if _loads("\n".join(lines)) is not None:
        return True
    return all(isinstance(_loads(line), (dict, list)) for line in lines)  # JSON Lines


def _loads(text: str):
    try:
        return json.loads(text)
    except ValueError:  # json.JSONDecodeError is one
        return None


def _table_rows(lines: list[str]) -> set[int]:
    rows: set[int] = set()
    for delimiter in DELIMITERS:
        if sum(delimiter in line for line in lines) >= MIN_ROWS:
            rows |= _rows_by(lines, delimiter)
    return rows


def _rows_by(lines: list[str], delimiter: str) -> set[int]:
    """The table rows among `lines` with fields split by `delimiter`: runs of MIN_ROWS lines or
    more with one field count and short fields."""
    rows: set[int] = set()
    run: list[int] = []  # indexes of the current run's rows (rules left out)
    run_fields: list[list[str]] = []
    count, spaced, tight = None, True, delimiter in TIGHT
    for index, line in enumerate(lines + [""]):  # the empty line closes the last run
        if run and GRID_RULE.match(line):
            continue  # goes on the run without being a row
        fields = _fields(line, delimiter)
        if fields is None or len(fields) != count:
            if _is_table(run_fields, delimiter, spaced, tight):
                rows.update(run)
            run, run_fields, count, spaced, tight = [], [], None, True, delimiter in TIGHT
            if fields is None:
                continue
            count = len(fields)
        run.append(index)
        run_fields.append(fields)
        spaced = spaced and not re.search(f'{re.escape(delimiter)}(?:[^\\W\\d_]|")', line)  # CSV-like
        tight = tight and TIGHT[delimiter].search(line) is not None
    return rows


def _fields(line: str, delimiter: str) -> list[str] | None:
    """The fields of `line` split by `delimiter`, or None where it is no row of such a table."""
    stripped = line.strip()
    minimum = MIN_FIELDS if delimiter == "|" else MIN_TIGHT_FIELDS  # _is_table asks more of some
    if delimiter == "|" and len(stripped) > 1 and stripped[0] == stripped[-1] == "|":
        stripped, minimum = stripped[1:-1], MIN_PIPE_CELLS
    if delimiter not in stripped:
        return None
    try:
        fields = next(csv.reader([stripped], delimiter=delimiter, skipinitialspace=True))
    except (csv.Error, StopIteration):  # a quote left open
        return None
    if delimiter != "|" and not all(map(_balanced, fields)):
        return None  # "run(statement, globals=None, locals=None)": a call's arguments
    return fields if len(fields) >= minimum else None


def _balanced(field: str) -> bool:
    """Whether every bracket opened in `field` closes in it (a grid table's wrapped cell may
    not, so pipes are not asked)."""
    return all(field.count(opening) == field.count(closing) for opening, closing in BRACKETS)


def _is_table(run_fields: list[list[str]], delimiter: str, spaced: bool, tight: bool) -> bool:
    """Whether a run of rows with one field count is a table: MIN_ROWS rows of MIN_FIELDS fields
    (fewer where `tight`, split by tabs, or by pipes, whose count _fields checked), and short
    fields, shorter still where every comma (semicolon) is followed by a space, as in prose;
    a `tight` run's fields may have any length."""
    n_fields = len(run_fields[0]) if run_fields else 0
    if len(run_fields) < MIN_ROWS or (n_fields < MIN_FIELDS and not (tight or delimiter in "\t|")):
        return False
    if tight:
        return True
    words = [len(IDEOGRAPH.findall(field)) + len(IDEOGRAPH.sub(" ", field).split())
             for fields in run_fields for field in fields]
    if n_fields < MIN_FIELDS and delimiter == "\t":  # "Alice<TAB>9", not "子，<TAB>我替妹妹..."
        return max(words) <= MAX_MEDIAN_FIELD_WORDS
    if spaced and delimiter in PROSE_DELIMITERS:
        return statistics.median(words) <= MAX_SPACED_MEDIAN_WORDS and max(words) <= MAX_SPACED_FIELD_WORDS
    return statistics.median(words) <= MAX_MEDIAN_FIELD_WORDS
