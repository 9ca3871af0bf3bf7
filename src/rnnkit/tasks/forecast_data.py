"""The series of a forecasting run as the model reads them: every series transformed, scaled
with statistics of its own training rows, given its calendar features, and laid end to end in
one array, so that a batch of windows is one gather.

Per series the run keeps (and saves, ``series.json``) its `SeriesScaling`: the scaler of the
model's inputs, the standardiser of its levels (for the errors "on standardised values") and
its MASE scale. Windows are global start positions in the joined arrays, so no window can reach
from one series into the next: each series' windows start at least ``L`` rows after its own
first row and end by its own last.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from rnnkit.data.frequency import calendar_encoding
from rnnkit.data.series import Series
from rnnkit.data.series_windows import (
    Scaler,
    SplitRows,
    Transform,
    apply_transform,
    window_starts,
)
from rnnkit.tasks.forecast_config import ForecastDataConfig
from rnnkit.tasks.forecast_metrics import mase_scale


@dataclass(frozen=True)
class SeriesScaling:
    """What a series' numbers are measured against, fitted on its training rows: ``inputs``
    scales the model's columns (the transformed target, then the covariates), ``levels``
    standardises the target's levels for the errors, ``mase`` is the in-sample seasonal-naive
    MAE."""

    inputs: Scaler
    levels: Scaler
    mase: float

    @classmethod
    def fit(
        cls, series: Series, steps: np.ndarray, train_end: int, season: int, standardise: bool
    ) -> SeriesScaling:
        """Fitted on rows ``[0, train_end)`` of ``series`` and of its transformed ``steps``."""
        columns = np.column_stack([steps, series.covariates])[:train_end]
        history = series.values[:train_end]
        return cls(
            Scaler.fit(columns, standardise),
            Scaler.fit(history[:, None]),
            mase_scale(history, season),
        )

    def to_json(self) -> dict[str, Any]:
        return {"inputs": self.inputs.to_json(), "levels": self.levels.to_json(), "mase": self.mase}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SeriesScaling:
        return cls(
            Scaler.from_json(data["inputs"]), Scaler.from_json(data["levels"]), float(data["mase"])
        )


@dataclass
class Windows:
    """Windows of one split: global forecast starts (N,) and the series of each (N,)."""

    starts: np.ndarray
    series: np.ndarray

    def __len__(self) -> int:
        return len(self.starts)


class SeriesArrays:
    """Every series joined end to end: ``inputs`` (N, F) the model's context columns,
    ``known`` (N, K) the calendar features, ``target`` (N,) the scaled transformed target,
    ``levels`` (N,) the raw target; ``offsets[i]`` is where series i starts."""

    def __init__(
        self,
        series: Sequence[Series],
        scalings: Sequence[SeriesScaling],
        transform: Transform,
        features: Sequence[str],
    ) -> None:
        inputs, known, target = [], [], []
        for s, scaling in zip(series, scalings, strict=True):
            steps = apply_transform(s, transform)
            scaled = np.nan_to_num(scaling.inputs.apply(np.column_stack([steps, s.covariates])))
            calendar = calendar_encoding(s.time, features)
            inputs.append(np.concatenate([scaled, calendar], axis=1))
            known.append(calendar)
            target.append(scaled[:, 0])
        self.series, self.scalings, self.transform = list(series), list(scalings), transform
        self.offsets = np.cumsum([0] + [len(s) for s in series])
        self.inputs = torch.as_tensor(np.concatenate(inputs), dtype=torch.float32)
        self.known = torch.as_tensor(np.concatenate(known), dtype=torch.float32)
        self.target = torch.as_tensor(np.concatenate(target), dtype=torch.float32)
        self.levels = np.concatenate([s.values for s in series])

    def windows(
        self, rows: Sequence[SplitRows], split: str, first: int, horizon: int, stride: int = 1
    ) -> Windows:
        """The windows of ``split`` in every series; each starts at row ``first`` or later."""
        starts, owners = [], []
        for index, bounds in enumerate(rows):
            local = window_starts(first, bounds.rows(split), horizon, stride)
            starts.append(local + self.offsets[index])
            owners.append(np.full(len(local), index))
        return Windows(np.concatenate(starts).astype(np.int64), np.concatenate(owners))

    def batch(self, starts: np.ndarray, context_length: int, horizon: int) -> dict[str, Tensor]:
        """The windows starting at global rows ``starts`` (B,): ``context`` (B, L, F),
        ``known`` (B, H, K), ``target`` (B, H)."""
        begin = torch.as_tensor(starts, dtype=torch.long)[:, None]
        past = begin + torch.arange(-context_length, 0)  # (B, L)
        future = begin + torch.arange(horizon)  # (B, H)
        return {
            "context": self.inputs[past],
            "known": self.known[future],
            "target": self.target[future],
        }

    def target_scaling(
        self, series: np.ndarray, kind: Literal["inputs", "levels"]
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, std)`` (N,) of the target column for windows of the series ``series`` (N,):
        of the model's ``inputs`` scaler, or of the ``levels`` standardiser."""
        scalers = [getattr(scaling, kind) for scaling in self.scalings]
        mean = np.array([scaler.mean[0] for scaler in scalers])
        std = np.array([scaler.std[0] for scaler in scalers])
        return mean[series], std[series]

    def history(self, starts: np.ndarray, length: int) -> np.ndarray:
        """The raw levels of the ``length`` rows before each start (B, length)."""
        return self.levels[starts[:, None] + np.arange(-length, 0)]

    def actual(self, starts: np.ndarray, horizon: int) -> np.ndarray:
        """The raw levels forecast by each window (B, H)."""
        return self.levels[starts[:, None] + np.arange(horizon)]


def first_start(config: ForecastDataConfig, season: int) -> int:
    """The earliest forecast start in a series: a full context (one more row under a transform,
    whose first step is undefined), and a full season for the seasonal-naive baseline."""
    return max(config.context_length + (config.transform != "none"), season)
