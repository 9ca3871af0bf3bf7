"""Time-series forecasting (``rnnkit train forecast``): stock prices, load, sensors.

Data (`rnnkit.data.series`): a CSV with a time column and a target column (``data.target``),
optional past covariates (``data.covariates``) and an id column for several series in long
format (``data.id_column``); or ``builtin:load`` / ``builtin:shops``. Each series is split in
time (`rnnkit.data.series_windows`: fractions, or row / date boundaries), transformed
(``data.transform``), scaled with its own training rows' statistics, and cut into sliding
windows of ``data.context_length`` past steps and ``data.horizon`` future ones. The frequency is
inferred (`rnnkit.data.frequency`); it sets the calendar features the model is given for the
future steps, and the season of the seasonal-naive baseline.

Model: `rnnkit.models.forecaster.Forecaster` (direct or autoregressive decoder, point or
Gaussian / Student-t output). Evaluation (`rnnkit.tasks.forecast_evaluation`): MSE / MAE /
RMSE on standardised and on original values, sMAPE, MASE, directional accuracy, quantile loss
and 80% coverage, with the naive and seasonal-naive baselines on the same windows; the
standardised MSE picks the best model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.checkpoint import LoadedCheckpoint
from rnnkit.data.bucketing import bucket_batches
from rnnkit.data.builtin_series import PREFIX as BUILTIN_PREFIX
from rnnkit.data.builtin_series import builtin_series
from rnnkit.data.frequency import Frequency, calendar_encoding, describe_gaps, infer_frequency
from rnnkit.data.series import Series, SeriesColumns, describe_series, parse_series, read_series
from rnnkit.data.series_windows import SplitRows, apply_transform, split_rows
from rnnkit.errors import UserError
from rnnkit.models.forecast_heads import build_head
from rnnkit.models.forecaster import Forecaster
from rnnkit.tasks.forecast_config import ForecastConfig
from rnnkit.tasks.forecast_data import SeriesArrays, SeriesScaling, Windows, first_start
from rnnkit.tasks.forecast_evaluation import forecast_windows, predict, score
from rnnkit.tasks.supervised import Batches
from rnnkit.train.config import RunConfig
from rnnkit.train.task import DataSources, Task

SERIES_ASSET = "series.json"


class Forecasting(Task):
    """Forecast the next ``data.horizon`` steps of one or more series."""

    name = "forecast"
    config_class = ForecastConfig
    metric = "mse"
    unit = "windows"
    config: ForecastConfig

    def __init__(self, config: RunConfig) -> None:
        super().__init__(config)
        self.frequency: Frequency | None = None
        self.frequency_name = ""  # of the training data, for a run loaded for inference
        self.target_name = ""  # the column forecast, as the training data named it
        self.features: list[str] = []
        self.season = 1
        self.covariates = 0
        self.scalings: dict[str, SeriesScaling] = {}  # by series id, fitted on training rows
        self.series: list[Series] = []
        self.arrays: SeriesArrays | None = None
        self.windows: dict[str, Windows] = {}
        self.notes: list[str] = []

    # --- data --------------------------------------------------------------------------------
    def read(self, sources: Sequence[Path | str]) -> list[Series]:
        """The series of the files (or built-in sets) ``sources``; without an id column a
        series is named after its file when there are several."""
        data, columns = self.config.data, self._columns()
        series: list[Series] = []
        for source in sources:
            text = str(source)
            found = (
                builtin_series(text, columns.covariates)
                if text.startswith(BUILTIN_PREFIX)
                else read_series(source, columns)
            )
            if not data.id_column and len(sources) > 1:
                for s in found:
                    s.id = s.id or Path(text.removeprefix(BUILTIN_PREFIX)).stem
            series += found
        return series

    def _columns(self) -> SeriesColumns:
        data = self.config.data
        return SeriesColumns(
            data.time_column,
            data.target,
            data.id_column,
            tuple(data.covariates),
            data.time_format,
            data.missing,
        )

    def prepare(self, sources: DataSources, saved: LoadedCheckpoint | None = None) -> None:
        if sources.valid or sources.test:
            raise UserError(
                "forecast splits each series in time; instead of --valid / --test set "
                "data.valid_fraction and data.test_fraction, or data.train_end, data.valid_end "
                "and data.test_end (row counts or dates)"
            )
        self.series = self.read(sources.train)
        self.target_name = self.series[0].target_name
        self._fit_calendar(self.series)
        if saved is not None:
            self.load_assets(saved)
        rows = [self._split(s) for s in self.series]
        if saved is None:
            self.scalings = self._fit_scalings(self.series, rows)
        scalings = [self.scalings[s.id] for s in self.series]
        self.arrays, self.windows = self._windows(
            self.series, rows, scalings, ("train", "valid", "test")
        )

    def _fit_calendar(self, series: list[Series]) -> None:
        """The frequency (of the longest series), its calendar features and season; gaps are
        noted for the log."""
        longest = max(series, key=len)
        self.frequency = infer_frequency(longest.time)
        data = self.config.data
        self.features = list(
            self.frequency.calendar_features if data.time_features is None else data.time_features
        )
        self.season = data.season or self.frequency.season
        self.covariates = len(data.covariates)
        for s in series:
            gaps = self.frequency.missing_after(s.time)
            if gaps:
                self.notes.append(f"series {s.id or s.source}: {describe_gaps(gaps, s.time)}")

    def _split(self, series: Series) -> SplitRows:
        data = self.config.data
        return split_rows(
            series,
            valid_fraction=data.valid_fraction,
            test_fraction=data.test_fraction,
            train_end=data.train_end,
            valid_end=data.valid_end,
            test_end=data.test_end,
        )

    def _scaling(self, series: Series, train_end: int) -> SeriesScaling:
        steps = apply_transform(series, self.config.data.transform)
        standardise = self.config.data.scaling == "standard"
        return SeriesScaling.fit(series, steps, train_end, self.season, standardise)

    def _fit_scalings(
        self, series: list[Series], rows: list[SplitRows]
    ) -> dict[str, SeriesScaling]:
        return {s.id: self._scaling(s, r.train_end) for s, r in zip(series, rows, strict=True)}

    def _windows(
        self,
        series: list[Series],
        rows: list[SplitRows],
        scalings: list[SeriesScaling],
        splits: Sequence[str],
    ) -> tuple[SeriesArrays, dict[str, Windows]]:
        """The joined arrays and the windows of ``splits``; a split without any is an error,
        save validation (optional)."""
        data = self.config.data
        arrays = SeriesArrays(series, scalings, data.transform, self.features)
        first = first_start(data, self.season)
        windows = {}
        for split in splits:
            stride = data.stride if split == "train" else 1
            found = arrays.windows(rows, split, first, data.horizon, stride)
            if len(found):
                windows[split] = found
                continue
            problem = (
                f"no {split} windows: each needs {first} earlier rows and {data.horizon} {split} "
                f"rows (series of {', '.join(str(len(s)) for s in series)} rows; check "
                "data.context_length, data.horizon and the split)"
            )
            if split != "valid":
                raise UserError(problem, path=series[0].source if len(series) == 1 else None)
            self.notes.append(problem.replace(")", "); the last model is kept", 1))
        return arrays, windows

    # --- run assets --------------------------------------------------------------------------
    def assets(self) -> dict[str, bytes | str]:
        assert self.frequency is not None
        info = {
            "frequency": self.frequency.name,
            "features": self.features,
            "season": self.season,
            "covariates": self.covariates,
            "target": self.target_name,
            "series": {key: scaling.to_json() for key, scaling in self.scalings.items()},
        }
        return {SERIES_ASSET: json.dumps(info, indent=1)}

    def load_assets(self, checkpoint: LoadedCheckpoint) -> None:
        info = json.loads(checkpoint.read_text(SERIES_ASSET))
        self.features, self.season = info["features"], info["season"]
        self.covariates, self.target_name = info["covariates"], info["target"]
        self.frequency_name = info["frequency"]
        self.scalings = {k: SeriesScaling.from_json(v) for k, v in info["series"].items()}

    def build_model(self) -> Forecaster:
        model, data = self.config.model, self.config.data
        known = 2 * len(self.features)
        return Forecaster(
            1 + self.covariates + known,
            known,
            data.horizon,
            build_head(model.output, model.hidden_size, model.loss),
            cell=model.cell,
            hidden_size=model.hidden_size,
            num_layers=model.num_layers,
            dropout=model.dropout,
            layer_norm=model.layer_norm,
            forget_bias=model.forget_bias,
            decoder=model.decoder,
        )

    def summary(self) -> str:
        assert self.frequency is not None
        data = self.config.data
        counts = ", ".join(f"{split} {len(w):,}" for split, w in self.windows.items())
        return "\n".join(
            [
                *self.notes,
                f"{describe_series(self.series)}, {self.frequency.name}, season {self.season}; "
                f"windows of {data.context_length} -> {data.horizon} steps: {counts}",
            ]
        )

    # --- training ----------------------------------------------------------------------------
    def train_batches(self, epoch: int, shard: int, num_shards: int) -> Batches:
        assert self.arrays is not None
        arrays, starts, config = self.arrays, self.windows["train"].starts, self.config
        order = bucket_batches(
            [1] * len(starts),
            config.train.batch_size,
            seed=config.train.seed,
            epoch=epoch,
            shard=shard,
            num_shards=num_shards,
            by_length=False,
        )
        data = config.data
        return Batches(
            order, lambda rows: arrays.batch(starts[rows], data.context_length, data.horizon)
        )

    def loss(
        self, model: nn.Module, batch: dict[str, Tensor], carry: Any
    ) -> tuple[Tensor, int, None]:
        params = model(batch["context"], batch["known"], batch["target"])
        # the head's loss reads no parameters, so reaching past a DDP wrapper for it is safe
        head = cast(Forecaster, getattr(model, "module", model)).head
        return head.loss(params, batch["target"]), len(batch["target"]), None

    # --- evaluation --------------------------------------------------------------------------
    def splits(self) -> list[str]:
        return [split for split in ("valid", "test") if split in self.windows]

    def evaluate(self, model: nn.Module, split: str) -> dict[str, Any]:
        assert self.arrays is not None
        return self._score(model, self.arrays, self.windows[split])

    def evaluate_files(self, model: nn.Module, paths: Sequence[Path | str]) -> dict[str, Any]:
        """The test windows of ``paths``, split as in training (``data.*``); every series is
        scaled by its own training rows there."""
        series = self.read(paths)
        rows = [self._split(s) for s in series]
        scalings = self._fit_scalings(series, rows)
        arrays, windows = self._windows(series, rows, [scalings[s.id] for s in series], ["test"])
        return self._score(model, arrays, windows["test"])

    def _score(self, model: nn.Module, arrays: SeriesArrays, windows: Windows) -> dict[str, Any]:
        forecasts = predict(model, self.config, arrays, windows)
        return score(forecasts, arrays, windows, self.config, self.season)

    # --- forecasting the future --------------------------------------------------------------
    def forecast(
        self, model: nn.Module, source: str, text: str | None = None
    ) -> list[dict[str, Any]]:
        """The next ``data.horizon`` steps after the end of each series of ``source`` (a file,
        ``builtin:NAME``, or a name for ``text`` read from stdin): one JSON-ready record per
        series with its future ``time``, ``forecast`` and, when probabilistic, ``quantiles``;
        ``history`` holds the context it read. A series the run was trained on (the same id, and
        the same target column) is scaled as in training; another by its own history."""
        series = (
            self.read([source]) if text is None else parse_series(text, source, self._columns())
        )
        if series[0].target_name != self.target_name:
            raise UserError(
                f"forecasts column {series[0].target_name!r}, but the model was trained on "
                f"{self.target_name!r}; set data.target to it",
                path=source,
            )
        frequency = infer_frequency(max(series, key=len).time)
        if self.frequency_name and frequency.name != self.frequency_name:
            raise UserError(
                f"its steps are {frequency.name}, but the model was trained on "
                f"{self.frequency_name} data",
                path=source,
            )
        return [self._forecast_series(model, s, frequency) for s in series]

    def _forecast_series(
        self, model: nn.Module, series: Series, frequency: Frequency
    ) -> dict[str, Any]:
        data = self.config.data
        needed = data.context_length + (data.transform != "none")
        if len(series) < needed:
            raise UserError(
                f"series {series.id or 'in the file'} has {len(series)} rows; the model reads "
                f"the last {needed} (data.context_length)",
                path=series.source,
            )
        scaling = self.scalings.get(series.id) or self._scaling(series, len(series))
        arrays = SeriesArrays([series], [scaling], data.transform, self.features)
        future = frequency.following(series.time[-1], data.horizon)
        device = next(model.parameters()).device
        context = arrays.inputs[-data.context_length :][None].to(device)
        known = torch.as_tensor(calendar_encoding(future, self.features), device=device)[None]
        target = scaling.inputs
        result = forecast_windows(
            cast(Forecaster, model), self.config, context, known.float(), series.values[-1:],
            target.mean[:1], target.std[:1],
        )  # fmt: skip
        history = slice(len(series) - data.context_length, len(series))
        return {
            "id": series.id,
            "time_column": series.time_name,
            "target": series.target_name,
            "time": format_times(future),
            "forecast": result.point[0].tolist(),
            "quantiles": {f"{q:g}": v[0].tolist() for q, v in result.quantiles.items()},
            "history": {
                "time": format_times(series.time[history]),
                "values": series.values[history].tolist(),
            },
        }


def format_times(times: np.ndarray) -> list[str]:
    """ISO 8601 text of datetime64 values: dates alone when every one is at midnight."""
    unit = "D" if (times == times.astype("datetime64[D]")).all() else "s"
    return [str(t).replace("T", " ") for t in times.astype(f"datetime64[{unit}]")]
