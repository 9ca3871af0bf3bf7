"""The forecaster's export: one graph, ``(context, known) -> (params, mean)``, in the model's
scaled units.

- ``context`` ``(N, L, F)``: the last ``L`` (``facts["context_length"]``) steps of each series:
  the scaled (and transformed) target, the scaled covariates, then the calendar features of
  those steps (sine and cosine of each of ``facts["features"]``).
- ``known`` ``(N, H, K)``: the calendar features of the ``H`` future steps.
- ``params`` ``(N, H, P)``: the head's raw parameters (``facts["output"]``: ``point`` — the
  value; ``gaussian`` — μ and a raw scale, σ = softplus(raw) + ``facts["min_scale"]``;
  ``student_t`` — raw ν, μ and a raw scale, ν = 2 + softplus(raw ν)); ``mean`` ``(N, H)``: the
  forecast.

A runtime scales its inputs and unscales the mean with the series' scaling (the
``series.json`` asset: a trained series by its id, another by its own history) and inverts
``facts["transform"]``, as `rnnkit forecast` does. Sample paths (the quantiles of an
autoregressive or transformed model) draw random numbers and are not part of the graph.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor, nn

from rnnkit.export.graph import BATCH, TIME, ExportPlan, Graph, Port
from rnnkit.models.forecast_heads import MIN_SCALE
from rnnkit.models.forecaster import Forecaster
from rnnkit.tasks.forecast import Forecasting
from rnnkit.tasks.runs import LoadedRun


class ForecastGraph(nn.Module):
    """`Forecaster.forward` (the autoregressive decoder fed back its own means) and the mean."""

    def __init__(self, model: Forecaster) -> None:
        super().__init__()
        self.model = model

    def forward(self, context: Tensor, known: Tensor) -> tuple[Tensor, Tensor]:
        params = self.model(context, known)
        return params, self.model.head.mean(params)


def plan(run: LoadedRun) -> ExportPlan:
    """The graph of a forecast run, with its horizon, features and output's facts."""
    task = cast(Forecasting, run.task)
    model = cast(Forecaster, run.model)
    data = task.config.data
    known_size = 2 * len(task.features)
    input_size = 1 + task.covariates + known_size
    horizon = data.horizon
    with torch.no_grad():
        params = model.head(torch.zeros(1, 1, model.hidden_size)).shape[-1]

    def example(batch: int, length: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        context = torch.randn(batch, length, input_size, generator=generator)
        return context, torch.randn(batch, horizon, known_size, generator=generator)

    graph = Graph(
        name="forecaster",
        doc="the scaled context window of each series -> the next steps' parameters and mean",
        module=ForecastGraph(model),
        inputs=(
            Port("context", (BATCH, TIME, input_size), "float32", "target, covariates, calendar"),
            Port("known", (BATCH, horizon, known_size), "float32", "the future steps' calendar"),
        ),
        outputs=(
            Port("params", (BATCH, horizon, params), "float32", "the head's raw parameters"),
            Port("mean", (BATCH, horizon), "float32", "the forecast, in scaled units"),
        ),
        example=example,
    )
    facts = {
        "horizon": horizon,
        "context_length": data.context_length,
        "features": list(task.features),
        "covariates": task.covariates,
        "target": task.target_name,
        "transform": data.transform,
        "output": task.config.model.output,
        "decoder": task.config.model.decoder,
        "min_scale": MIN_SCALE,
    }
    return ExportPlan([graph], facts)
