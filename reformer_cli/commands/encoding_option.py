"""The --encoding option of the commands that read a document or pairs as they are given
(summarize, continue, eval); `reformer train` has its own, merged over its YAML config."""

from __future__ import annotations

import typer

AUTO_ENCODING = "UTF-8, or UTF-16/32 when the bytes say so"


def encoding_option():
    return typer.Option(None, "--encoding", metavar="ENC", show_default=AUTO_ENCODING,
                        help="Text encoding of the input, e.g. latin-1, cp1252, gb18030 "
                             "(a byte-order mark of it is dropped).")
