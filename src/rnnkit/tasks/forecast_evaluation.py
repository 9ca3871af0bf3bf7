"""Forecasting windows with a trained model and scoring them beside the naive and
seasonal-naive baselines on the very same windows.

The model works in scaled, transformed units; everything here is turned back into levels
first (`rnnkit.data.series_windows.invert_transform`), then scored on the original values and on
values standardised by each series' training mean and deviation (the protocol of Zhou et al.
2021, "Informer", for ETT). Quantiles come straight from the head's marginals when the direct
decoder forecasts levels; otherwise from sample paths (DeepAR's way), each path turned into
levels before the quantiles are taken.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.data.series_windows import invert_transform
from rnnkit.models.forecaster import Forecaster
from rnnkit.tasks.forecast_config import ForecastConfig
from rnnkit.tasks.forecast_data import SeriesArrays, Windows
from rnnkit.tasks.forecast_metrics import (
    forecast_scores,
    interval_coverage,
    naive_forecast,
    point_errors,
    quantile_loss,
    seasonal_naive_forecast,
    skill,
)

EVAL_BATCH = 256
INTERVAL = (0.1, 0.9)  # the 80% interval whose coverage is reported
COMPARED = ("mse", "mae", "rmse", "mse_original", "mae_original", "smape", "mase",
            "directional_accuracy")  # fmt: skip


@dataclass
class Forecasts:
    """Forecasts of N windows in levels: ``point`` (N, H), ``quantiles`` level -> (N, H)."""

    point: np.ndarray
    quantiles: dict[float, np.ndarray] = field(default_factory=dict)
    loss: float = float("nan")  # the training loss, teacher-forced, in model units


def quantile_levels(config: ForecastConfig) -> list[float]:
    """The quantiles computed: the configured ones and the 80% interval's ends."""
    if config.model.output == "point":
        return []
    return sorted({*config.decode.quantiles, *INTERVAL})


@torch.no_grad()
def forecast_windows(
    model: Forecaster, config: ForecastConfig, context: Tensor, known: Tensor, last: np.ndarray,
    mean: np.ndarray, std: np.ndarray, params: Tensor | None = None,
) -> Forecasts:  # fmt: skip
    """Levels forecast from model inputs ``context`` (B, L, F) and ``known`` (B, H, K);
    ``last`` (B,) is each window's last level, ``mean`` / ``std`` (B,) the scaling of its
    series' target column; ``params`` the model's output for these inputs, when the caller
    has it already."""
    transform = config.data.transform

    def to_levels(scaled: Tensor) -> np.ndarray:  # (B, H, ...) -> levels
        values = scaled.double().cpu().numpy()
        shape = (-1,) + (1,) * (values.ndim - 1)
        return invert_transform(last, values * std.reshape(shape) + mean.reshape(shape), transform)

    params = model(context, known) if params is None else params
    forecasts = Forecasts(to_levels(model.head.mean(params)))
    levels = quantile_levels(config)
    if not levels:
        return forecasts
    if config.model.decoder == "direct" and transform == "none":
        forecasts.quantiles = {q: to_levels(model.head.quantile(params, q)) for q in levels}
        return forecasts
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.decode.seed)
        paths = model.sample_paths(context, known, config.decode.num_samples)  # (B, S, H)
    path_levels = to_levels(paths.transpose(1, 2))  # (B, H, S)
    forecasts.quantiles = {q: np.quantile(path_levels, q, axis=2) for q in levels}
    return forecasts


def predict(
    model: nn.Module, config: ForecastConfig, arrays: SeriesArrays, windows: Windows
) -> Forecasts:
    """The forecasts of every window, in batches, and the mean loss in model units."""
    assert isinstance(model, Forecaster)
    model.eval()
    device = next(model.parameters()).device
    data, horizon = config.data, config.data.horizon
    mean, std = arrays.target_scaling(windows.series, "inputs")
    parts, losses = [], []
    for begin in range(0, len(windows), EVAL_BATCH):
        rows = slice(begin, begin + EVAL_BATCH)
        starts = windows.starts[rows]
        batch = {
            k: v.to(device) for k, v in arrays.batch(starts, data.context_length, horizon).items()
        }
        with torch.no_grad():
            params = model(batch["context"], batch["known"], batch["target"])
            losses.append(float(model.head.loss(params, batch["target"])) * len(starts))
        free_running = params if config.model.decoder == "direct" else None  # target unread
        parts.append(
            forecast_windows(
                model,
                config,
                batch["context"],
                batch["known"],
                arrays.levels[starts - 1],
                mean[rows],
                std[rows],
                free_running,
            )
        )
    return Forecasts(
        np.concatenate([p.point for p in parts]),
        {q: np.concatenate([p.quantiles[q] for p in parts]) for q in parts[0].quantiles},
        sum(losses) / len(windows),
    )


def score(
    forecasts: Forecasts,
    arrays: SeriesArrays,
    windows: Windows,
    config: ForecastConfig,
    season: int,
) -> dict[str, Any]:
    """The model's scores, the baselines' on the same windows, and the model's skill."""
    horizon = config.data.horizon
    actual = arrays.actual(windows.starts, horizon)
    history = arrays.history(windows.starts, max(config.data.context_length, season))
    candidates = {
        "model": forecasts.point,
        "naive": naive_forecast(history, horizon),
        "seasonal_naive": seasonal_naive_forecast(history, horizon, season),
    }
    mean, std = (part[:, None] for part in arrays.target_scaling(windows.series, "levels"))
    scale = np.array([s.mase for s in arrays.scalings])[windows.series]
    table: dict[str, dict[str, float]] = {}
    for name, forecast in candidates.items():
        scores = {
            **point_errors((forecast - mean) / std, (actual - mean) / std),
            **{
                f"{k}_original" if k in ("mse", "mae", "rmse") else k: v
                for k, v in forecast_scores(forecast, actual, history[:, -1], scale).items()
            },
        }
        table[name] = scores
    del table["naive"]["directional_accuracy"]  # it calls no direction: shown as none
    metrics: dict[str, Any] = {"loss": forecasts.loss, **table["model"]}
    if forecasts.quantiles:
        metrics["quantile_loss"] = quantile_loss(forecasts.quantiles, actual)
        metrics["coverage_80"] = interval_coverage(
            forecasts.quantiles[INTERVAL[0]], forecasts.quantiles[INTERVAL[1]], actual
        )
    for name in ("naive", "seasonal_naive"):
        metrics[f"{name}_mse"] = table[name]["mse"]
        metrics[f"skill_vs_{name}"] = skill(table["model"]["mse"], table[name]["mse"])
    metrics["windows"] = len(windows)
    metrics["baselines"] = {k: {n: table[n].get(k) for n in table} for k in COMPARED}
    return metrics
