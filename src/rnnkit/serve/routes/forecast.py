"""``POST /v1/forecast`` (tasks that `Forecasts`): the next ``data.horizon`` steps of each
series sent as JSON.

The series become the CSV a forecast run reads (`rnnkit.data.series`): the id column (when
the run has ``data.id_column``), the time column, the target and the past covariates, named as
in training, one row per step; the task's ``forecast`` reads it as it reads a file, so its
checks (sorted unique timestamps, the training data's frequency, enough history, missing
values under ``data.missing``) answer 422 naming the CSV line at fault (``request:L``: line 2
is the first step, after the header). A run without ``data.id_column`` reads one series per
file, so each series is then its own call, and its messages name it (``series[I]:L``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any, cast

from fastapi import APIRouter

from rnnkit.serve.endpoints import REQUEST, Endpoints, ServeContext
from rnnkit.serve.errors import problem, raise_problems
from rnnkit.serve.limits import check_count
from rnnkit.serve.schemas import ForecastRequest, ForecastResponse, SeriesHistory
from rnnkit.tasks import Forecasts
from rnnkit.tasks.forecast import Forecasting


def forecast_endpoints(context: ServeContext) -> Endpoints:
    """The forecast route (no batcher: each request is its own call, in the inference
    thread)."""
    task, model = cast(Forecasts, context.run.task), context.run.model
    columns = _Columns.of(cast(Forecasting, task))
    router = APIRouter(tags=["forecast"])

    def forecast_texts(texts: list[str]) -> list[dict[str, Any]]:
        names = [REQUEST] if columns.id else [f"series[{i}]" for i in range(len(texts))]
        return [
            record
            for name, text in zip(names, texts, strict=True)
            for record in task.forecast(model, name, text)
        ]

    @router.post("/v1/forecast", response_model=ForecastResponse, summary="Forecast series")
    async def forecast(body: ForecastRequest) -> dict[str, Any]:
        """The forecast of the steps after each series' last timestamp."""
        check_count(len(body.series), context.settings, "series")
        return {"forecasts": await context.infer(forecast_texts, columns.files(body.series))}

    return Endpoints(router)


@dataclass(frozen=True)
class _Columns:
    """The CSV columns of a forecast run: ``[id,] time, target, covariates...``."""

    time: str
    target: str
    id: str | None
    covariates: tuple[str, ...]

    @classmethod
    def of(cls, task: Forecasting) -> _Columns:
        """The columns the loaded ``task`` reads (time: any name when the run names none)."""
        data = task.config.data
        return cls(data.time_column or "time", task.target_name, data.id_column,
                   tuple(data.covariates))  # fmt: skip

    def files(self, series: list[SeriesHistory]) -> list[str]:
        """The CSV texts of ``series``, after checking they fit these columns: one text for a
        run with an id column, else one per series (a file without ids holds one series)."""
        self._check(series)
        return [self._csv(series)] if self.id else [self._csv([s]) for s in series]

    def _csv(self, series: list[SeriesHistory]) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([*([self.id] if self.id else []), self.time, self.target, *self.covariates])
        for s in series:
            key = [s.id or ""] if self.id else []
            values = [s.values, *(s.covariates[name] for name in self.covariates)]
            for step, time in enumerate(s.time):
                writer.writerow([*key, time, *(_cell(column[step]) for column in values)])
        return out.getvalue()

    def _check(self, series: list[SeriesHistory]) -> None:
        problems = []
        if self.id and len({s.id for s in series}) < len(series):
            problems.append(problem(("series",), "each series needs an id of its own"))
        for i, s in enumerate(series):
            if s.id is not None and not self.id:
                message = "this model was trained without series ids (data.id_column)"
                problems.append(problem(("series", i, "id"), message))
            if set(s.covariates) != set(self.covariates):
                wanted = ", ".join(self.covariates) or "none"
                message = f"the covariates must be those the model was trained on: {wanted}"
                problems.append(problem(("series", i, "covariates"), message))
        raise_problems(problems)


def _cell(value: float | None) -> str:
    """A value as a CSV cell: exact (repr), or empty for a missing one."""
    return "" if value is None else repr(value)
