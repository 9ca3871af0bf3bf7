"""From a series to training examples: the chronological split, the transform (levels,
differences or log returns), per-series scaling fitted on the training rows only, and the
sliding windows of context length L and horizon H.

A window at forecast start ``t`` reads the context rows ``[t - L, t)`` and predicts the rows
``[t, t + H)``; the target never enters its context. A split owns the rows whose *targets* it
may use: a test window's context may reach back into validation or training rows (as the
Informer protocol, Zhou et al. 2021, does), its targets never leave the test rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from rnnkit.data.series import Series
from rnnkit.errors import UserError

Transform = Literal["none", "diff", "log_return"]
Boundary = int | str | None  # a row count within the series, or a date (first row at or after)


def apply_transform(series: Series, transform: Transform) -> np.ndarray:
    """What the model forecasts, (T,): the levels y_t, the differences y_t − y_{t−1}, or the log
    returns log(y_t / y_{t−1}); the first step of the last two is NaN (it has no previous)."""
    y = series.values
    if transform == "none":
        return y.copy()
    if transform == "log_return":
        bad = np.flatnonzero(y <= 0)
        if len(bad):
            raise UserError(
                f"value {y[bad[0]]:g} is not positive, so it has no log return "
                "(data.transform=log_return); use diff",
                path=series.source,
                line=int(series.lines[bad[0]]),
            )
        steps = np.diff(np.log(y))
    else:
        steps = np.diff(y)
    return np.concatenate([[math.nan], steps])


def invert_transform(last: np.ndarray, forecast: np.ndarray, transform: Transform) -> np.ndarray:
    """Levels from forecast steps: ``last`` (N,) the last known level, ``forecast`` (N, H, ...)
    in the transform's units -> levels of the same shape (cumulative sums of the steps)."""
    if transform == "none":
        return forecast
    anchor = last.reshape(last.shape + (1,) * (forecast.ndim - 1))
    total = np.cumsum(forecast, axis=1)
    return anchor + total if transform == "diff" else anchor * np.exp(total)


@dataclass(frozen=True)
class Scaler:
    """Standardisation (x − mean) / std of each column, fitted on the training rows; a constant
    column has std 1."""

    mean: np.ndarray  # (C,)
    std: np.ndarray  # (C,)

    @classmethod
    def fit(cls, values: np.ndarray, standardise: bool = True) -> Scaler:
        """``values`` (T, C), NaNs ignored; ``standardise`` False gives the identity."""
        columns = values.shape[1]
        if not standardise:
            return cls(np.zeros(columns), np.ones(columns))
        mean = np.nanmean(values, axis=0)
        std = np.nanstd(values, axis=0)
        return cls(mean, np.where(std > 1e-12, std, 1.0))

    def apply(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.std

    def invert(self, values: np.ndarray, column: int = 0) -> np.ndarray:
        return values * self.std[column] + self.mean[column]

    def to_json(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_json(cls, data: dict[str, list[float]]) -> Scaler:
        return cls(np.array(data["mean"]), np.array(data["std"]))


@dataclass(frozen=True)
class SplitRows:
    """Row boundaries of one series: training targets ``[0, train_end)``, validation
    ``[train_end, valid_end)``, test ``[valid_end, end)``; rows from ``end`` on are unused."""

    train_end: int
    valid_end: int
    end: int

    def rows(self, split: str) -> tuple[int, int]:
        """``(first, stop)`` target rows of ``split`` (train, valid or test)."""
        return {
            "train": (0, self.train_end),
            "valid": (self.train_end, self.valid_end),
            "test": (self.valid_end, self.end),
        }[split]


def split_rows(
    series: Series,
    *,
    valid_fraction: float,
    test_fraction: float,
    train_end: Boundary = None,
    valid_end: Boundary = None,
    test_end: Boundary = None,
) -> SplitRows:
    """The chronological split of ``series``: explicit boundaries (row counts or dates) where
    given, else the last ``test_fraction`` of the rows for test and the ``valid_fraction``
    before them for validation."""
    size = len(series)
    end = _row(series, test_end, "data.test_end", size)
    valid_stop = _row(series, valid_end, "data.valid_end", end - round(end * test_fraction))
    train_stop = _row(series, train_end, "data.train_end", valid_stop - round(end * valid_fraction))
    if not 0 < train_stop <= valid_stop <= end <= size:
        raise UserError(
            f"series {series.id or series.source!r}: the split boundaries give training rows "
            f"[0, {train_stop}), validation [{train_stop}, {valid_stop}), test "
            f"[{valid_stop}, {end}) of {size} rows; they must be in order and within the series",
            path=series.source,
        )
    return SplitRows(train_stop, valid_stop, end)


def _row(series: Series, boundary: Boundary, key: str, default: int) -> int:
    """The row index a boundary names: a row count, or the first row at or after a date."""
    if boundary is None:
        return default
    if isinstance(boundary, int):
        return boundary
    try:
        stamp = np.datetime64(boundary, "s")
    except ValueError:
        raise UserError(f"{key}: {boundary!r} is neither a row count nor a date") from None
    return int(np.searchsorted(series.time, stamp, side="left"))


def window_starts(first: int, rows: tuple[int, int], horizon: int, stride: int = 1) -> np.ndarray:
    """Forecast starts ``t`` of the windows whose targets ``[t, t + H)`` lie in ``rows`` and
    whose context starts at or after row ``first − L``: t from max(first, rows[0]) to
    rows[1] − H, every ``stride``."""
    begin, stop = max(first, rows[0]), rows[1] - horizon
    return np.arange(begin, stop + 1, stride) if stop >= begin else np.zeros(0, dtype=np.int64)
