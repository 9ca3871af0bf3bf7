"""Time series from CSV files: a time column, a target column, optional covariate columns, and
optionally an id column that splits a long-format file into several series.

    date,OT,HUFL            id,date,sales
    2016-07-01 00:00,30.5,5.8     a,2024-01-01,12
    2016-07-01 01:00,27.8,5.7     a,2024-01-02,15
                                  b,2024-01-01,950

Timestamps are ISO 8601 (``2016-07-01``, ``2016-07-01 00:00:00``, ``2016-07-01T00:00Z``; an
offset is converted to UTC) or follow ``time_format`` (a `datetime.strptime` format). Within a
series they must be sorted and unique. An empty cell (or ``NA``, ``NaN``, ``null``, ``.``)
is a missing value: an error naming the line (``missing="error"``), the previous value carried
forward (``ffill``), or a straight line between its neighbours in time (``interpolate``).
Every mistake is a `UserError` naming the file and line.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np

from rnnkit.errors import UserError

MissingPolicy = Literal["error", "ffill", "interpolate"]
MISSING_MARKS = frozenset({"", "na", "nan", "null", "none", "."})


@dataclass
class Series:
    """One series: ``time`` (T,) datetime64[s], ``values`` (T,) float64 target, ``covariates``
    (T, C) float64 past covariates, and ``lines`` (T,) the file line of each step; ``source``
    the file it came from, ``time_name`` and ``target_name`` the columns read."""

    id: str
    time: np.ndarray
    values: np.ndarray
    covariates: np.ndarray
    lines: np.ndarray
    source: str = ""
    time_name: str = "time"
    target_name: str = "value"

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class SeriesColumns:
    """Which columns hold what (the ``data.*`` keys of a forecasting run). ``time`` None is the
    first column (the second, when the first is the id); ``target`` None is the only value
    column, when there is one."""

    time: str | None = None
    target: str | None = None
    id: str | None = None
    covariates: tuple[str, ...] = ()
    time_format: str | None = None
    missing: MissingPolicy = "error"


@dataclass
class _Rows:
    """The rows of one series while reading: parallel lists."""

    time: list[np.datetime64] = field(default_factory=list)
    cells: list[list[float]] = field(default_factory=list)  # target, covariates...
    lines: list[int] = field(default_factory=list)


def read_series(path: str | Path, columns: SeriesColumns) -> list[Series]:
    """The series of the CSV file ``path``, in the order their ids first appear."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError("no such file", path=path) from None
    except UnicodeDecodeError as exc:
        raise UserError(f"not valid UTF-8 (byte {exc.start})", path=path) from None
    return parse_series(text, str(path), columns)


def parse_series(text: str, name: str, columns: SeriesColumns) -> list[Series]:
    """The series of CSV ``text`` read from ``name`` (a file name, for messages)."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise UserError("is empty; expected a CSV header line", path=name)
    header = [h.strip() for h in header]
    positions = _column_positions(header, columns, name)
    by_id: dict[str, _Rows] = {}
    for row in reader:
        line = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise UserError(
                f"has {len(row)} fields where the header has {len(header)}", path=name, line=line
            )
        key = row[positions.id].strip() if positions.id is not None else ""
        rows = by_id.setdefault(key, _Rows())
        rows.time.append(_parse_time(row[positions.time], columns.time_format, name, line))
        rows.cells.append([_parse_value(row[p], header[p], name, line) for p in positions.values])
        rows.lines.append(line)
    if not by_id:
        raise UserError("has a header but no rows", path=name)
    names = [header[p] for p in positions.values]
    series = [_finish(key, rows, names, columns, name) for key, rows in by_id.items()]
    for s in series:
        s.time_name, s.target_name = header[positions.time], names[0]
    return series


@dataclass(frozen=True)
class _Positions:
    """Column indices of the time, the id (None: no id column) and the values (target
    first, then the covariates)."""

    time: int
    id: int | None
    values: list[int]


def _column_positions(header: list[str], columns: SeriesColumns, name: str) -> _Positions:
    """Where the columns of ``columns`` are in ``header``."""

    def position(column: str, key: str) -> int:
        if column not in header:
            raise UserError(
                f"no column {column!r} ({key}); the columns are: {', '.join(header)}",
                path=name,
                line=1,
            )
        return header.index(column)

    key = position(columns.id, "data.id_column") if columns.id else None
    time = position(columns.time, "data.time_column") if columns.time else int(key == 0)
    taken = {time, key}
    target = columns.target
    if target is None:
        candidates = [h for i, h in enumerate(header) if i not in taken]
        if len(candidates) != 1:
            raise UserError(
                f"has {len(candidates)} value columns ({', '.join(candidates)}); choose the "
                "one to forecast with data.target",
                path=name,
                line=1,
            )
        target = candidates[0]
    values = [position(target, "data.target")]
    values += [position(c, "data.covariates") for c in columns.covariates]
    return _Positions(time, key, values)


def _parse_time(cell: str, time_format: str | None, name: str, line: int) -> np.datetime64:
    text = cell.strip()
    try:
        stamp = (
            datetime.strptime(text, time_format) if time_format else datetime.fromisoformat(text)
        )
    except ValueError:
        wanted = f"the format {time_format!r}" if time_format else "an ISO 8601 date"
        raise UserError(
            f"timestamp {text!r} is not {wanted} (set data.time_format for others)",
            path=name,
            line=line,
        ) from None
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC).replace(tzinfo=None)
    return np.datetime64(stamp, "s")


def _parse_value(cell: str, column: str, name: str, line: int) -> float:
    text = cell.strip()
    if text.lower() in MISSING_MARKS:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"{column}: {text!r} is not a number", path=name, line=line) from None
    if math.isinf(value):
        raise UserError(f"{column}: {text!r} is not a finite number", path=name, line=line)
    return value


def _finish(key: str, rows: _Rows, names: list[str], columns: SeriesColumns, name: str) -> Series:
    """The series of ``rows`` (values in the columns ``names``): times checked, missing
    values handled."""
    time = np.array(rows.time, dtype="datetime64[s]")
    lines = np.array(rows.lines)
    steps = np.diff(time)
    bad = np.flatnonzero(steps <= np.timedelta64(0, "s"))
    if len(bad):
        i = bad[0] + 1
        what = "repeats" if steps[bad[0]] == np.timedelta64(0, "s") else "comes before"
        series = f" of series {key!r}" if columns.id else ""
        raise UserError(
            f"timestamp {time[i]} {what} the one on line {lines[i - 1]}{series}; rows must be "
            "sorted by time with one row per timestamp",
            path=name,
            line=int(lines[i]),
        )
    cells = np.array(rows.cells, dtype=np.float64)
    filled = np.stack(
        [
            fill_missing(cells[:, j], names[j], columns.missing, lines, name)
            for j in range(len(names))
        ],
        axis=1,
    )
    return Series(key, time, filled[:, 0], filled[:, 1:], lines, source=name)


def fill_missing(
    values: np.ndarray, column: str, policy: MissingPolicy, lines: np.ndarray, name: str
) -> np.ndarray:
    """``values`` (T,) with its NaNs handled by ``policy``: ``error`` names the first missing
    line; ``ffill`` carries the last value forward; ``interpolate`` draws a straight line over
    the steps between known neighbours (beyond the first or last known value: that value)."""
    missing = np.isnan(values)
    if not missing.any():
        return values
    first = int(np.flatnonzero(missing)[0])
    if policy == "error":
        raise UserError(
            f"{column}: missing value (set data.missing=ffill or interpolate to fill gaps)",
            path=name,
            line=int(lines[first]),
        )
    known = np.flatnonzero(~missing)
    if not len(known):
        raise UserError(f"{column}: every value is missing", path=name)
    if policy == "ffill":
        if first < known[0]:
            raise UserError(
                f"{column}: missing value before the first known one; nothing to carry forward "
                "(use data.missing=interpolate, or drop the row)",
                path=name,
                line=int(lines[first]),
            )
        carried = np.maximum.accumulate(np.where(missing, 0, np.arange(len(values))))
        return values[carried]
    steps = np.arange(len(values))
    return np.interp(steps, known, values[known])


def describe_series(series: Sequence[Series]) -> str:
    """e.g. ``"1 series, 17,420 steps"`` or ``"3 series, 2,100 steps (600 to 800 each)"``."""
    sizes = [len(s) for s in series]
    text = f"{len(series)} series, {sum(sizes):,} steps"
    if len(series) > 1:
        text += f" ({min(sizes):,} to {max(sizes):,} each)"
    return text
