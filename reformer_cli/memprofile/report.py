"""Turn profile rows into what the command shows or writes: table cells, JSON, CSV, plot data.

No printing and no files here: the command decides where things go.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict

from reformer_cli.memprofile.profile import Row

TABLE_COLUMNS = ["#", "variant", "peak", "params", "activations", "time", "vs 1", "vs 2",
                 "source", "model"]
CSV_FIELDS = ["seq_len", "index", "key", "label", "source", "status", "peak_bytes",
              "estimate_bytes", "param_count", "param_bytes", "activation_bytes", "seconds",
              "saving_vs_plain", "saving_vs_sdpa", "model_error", "detail"]
STATUS_CELL = {"oom": "OOM", "timeout": "timeout", "error": "failed"}


def format_bytes(value: float | None) -> str:
    if value is None:
        return "-"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(value) >= size:
            return f"{value / size:.2f} {unit}"
    return f"{value:.0f} B"


def format_count(count: int) -> str:
    return f"{count / 1e6:.2f}M" if count >= 1e5 else f"{count / 1e3:.1f}k"


def format_seconds(seconds: float | None, estimated: bool) -> str:
    if seconds is None:
        return "-"
    return ("~" if estimated else "") + (f"{seconds:.1f} s" if seconds < 600 else
                                         f"{seconds / 60:.0f} min")


def format_saving(saving: float | None, approximate: bool) -> str:
    """The memory change against a reference row: a saving of 0.8 reads "-80%"."""
    if saving is None:
        return "-"
    return ("~" if approximate else "") + f"{-saving * 100:+.0f}%"


def table_cells(rows: list[Row]) -> list[list[str]]:
    """One list of cells per row (a single length), in TABLE_COLUMNS order.

    peak: the measurement; for a row that was not run, "~" + the estimate; for a row that ran
    out of memory or time, that word (the estimate is in the "model" column). Savings read as
    "memory change against row 1 / row 2": -80% = 80% less; "~" when either side is estimated.
    """
    by_index = {row.index: row for row in rows}
    cells = []
    for row in rows:
        estimated = row.source == "estimated"
        if not estimated:
            peak = format_bytes(row.peak_bytes)
        elif row.status in STATUS_CELL:
            peak = STATUS_CELL[row.status]
        else:
            peak = "~" + format_bytes(row.estimate_bytes)
        savings = []
        for reference_index, saving in ((1, row.saving_vs_plain), (2, row.saving_vs_sdpa)):
            reference = by_index.get(reference_index)
            if reference_index == row.index:
                savings.append("ref")
                continue
            approximate = estimated or (reference is not None
                                        and reference.source == "estimated")
            savings.append(format_saving(saving, approximate))
        model = format_bytes(row.estimate_bytes)
        if row.model_error is not None:
            model += f" ({row.model_error * 100:+.0f}%)"
        activations = format_bytes(row.activation_bytes)
        cells.append([str(row.index), row.label, peak,
                      f"{format_count(row.param_count)} / {format_bytes(row.param_bytes)}",
                      ("~" if estimated else "") + activations,
                      format_seconds(row.seconds, estimated), *savings,
                      "measured" if not estimated else f"estimated ({row.status})", model])
    return cells


def model_errors(rows: list[Row]) -> list[tuple[int, int, float]]:
    """(seq_len, row index, estimate / measured - 1) for every measured row."""
    return [(row.seq_len, row.index, row.model_error) for row in rows
            if row.model_error is not None]


def fit_limits(rows: list[Row]) -> dict[int, int | None]:
    """Row index -> the first length at which it was not measured (None: measured at all)."""
    limits: dict[int, int | None] = {}
    for row in sorted(rows, key=lambda r: r.seq_len):
        limits.setdefault(row.index, None)
        if row.source == "estimated" and limits[row.index] is None:
            limits[row.index] = row.seq_len
    return limits


def to_json(header: dict, rows: list[Row]) -> dict:
    return {"header": header, "rows": [asdict(row) for row in rows],
            "fit_limits": {str(k): v for k, v in fit_limits(rows).items()}}


def to_csv(rows: list[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(asdict(row))
    return buffer.getvalue()


def plot_series(rows: list[Row]) -> dict[int, dict]:
    """Row index -> {"label", "lengths", "peaks_gib", "estimated" (bool per point)}."""
    series: dict[int, dict] = {}
    for row in sorted(rows, key=lambda r: (r.index, r.seq_len)):
        entry = series.setdefault(row.index, {"label": f"{row.index}. {row.label}",
                                              "lengths": [], "peaks_gib": [], "estimated": []})
        entry["lengths"].append(row.seq_len)
        entry["peaks_gib"].append(row.comparable_bytes / 2**30)
        entry["estimated"].append(row.source == "estimated")
    return series
