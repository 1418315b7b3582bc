"""YAML front matter (rule 1 of the package docstring).

YAML front matter: when the first line (after a byte-order mark) is `---` and a line `---` or
`...` closes it within FRONT_MATTER_LINES lines, and every line between is YAML-ish (`key:
value`, an indented line, a `- item`, a `#` comment or blank) with at least one `key:`; both
fences included.

Pure functions: no files, no terminal.
"""

from __future__ import annotations

import re

FRONT_MATTER_LINES = 100  # the closing fence must come within this many lines
FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\r?\n((?:[^\n]*\n){0,%d}?)(?:---|\.\.\.)[ \t]*\r?(?:\n|\Z)"
                          % FRONT_MATTER_LINES)
YAML_KEY = re.compile(r"[A-Za-z_][\w.-]*[ \t]*:(?:[ \t]|\r?$)")
YAML_OTHER = re.compile(r"[ \t]*\r?$|[ \t]+\S|-[ \t]|#")  # blank, indented, "- item", "# comment"


def front_matter_spans(text: str) -> list[tuple[int, int]]:
    """The YAML front matter, fences included, or nothing."""
    match = FRONT_MATTER.match(text) if text.lstrip("\ufeff").startswith("---") else None
    if not match:
        return []
    lines = match.group(1).split("\n")[:-1]
    keys = [line for line in lines if YAML_KEY.match(line)]
    if not keys or not all(YAML_KEY.match(line) or YAML_OTHER.match(line) for line in lines):
        return []
    return [(0, match.end())]
