"""Error measures of a time-series forecast, and the two baselines reported beside the model.

A forecast is scored window by window: ``N`` windows, each a context ``(L,)`` of past values
followed by ``H`` future values (the horizon). Forecasts ``F`` and actuals ``A`` are arrays
``(N, H)``; ``last`` ``(N,)`` is each window's last context value; ``scale`` ``(N,)`` the MASE
scale of the series each window was cut from. Everything is float64; scores are plain floats.

Baselines (Hyndman & Athanasopoulos, "Forecasting: Principles and Practice"):

- naive: ``F_{T+h} = y_T``, the last context value repeated;
- seasonal naive with season ``m``: ``F_{T+h} = y_{T+h-m·ceil(h/m)}``, the last full season of
  the context repeated (season 1 is the naive forecast).

Measures, with ``n = N·H`` values:

- MSE = Σ (F−A)² / n, MAE = Σ |F−A| / n, RMSE = √MSE;
- sMAPE = 200/n · Σ |F−A| / (|A|+|F|) in percent, a term with |A|+|F| = 0 counting as 0;
- MASE (Hyndman & Koehler 2006, "Another look at measures of forecast accuracy") =
  Σ |F−A| / scale / n, where a series' scale is its in-sample one-step seasonal-naive MAE,
  mean |y_t − y_{t−m}| over t = m..T−1; a series thus weighs by its number of windows;
- directional accuracy = share of (window, step) pairs where sign(F − last) = sign(A − last),
  leaving out the pairs where A = last (no move);
- quantile loss (the weighted quantile loss of Salinas et al., "DeepAR: Probabilistic
  forecasting with autoregressive recurrent networks", as GluonTS reports it) = the mean over
  the levels q of 2·Σ ρ_q(A − Q_q) / Σ |A|, with the pinball loss ρ_q(u) = u·(q − 1[u<0]);
- interval coverage = share of actuals within [lower, upper];
- skill = 1 − model error / baseline error (positive: the model beats the baseline).
"""

from __future__ import annotations

import math

import numpy as np


def _pair(forecast: np.ndarray, actual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both arrays as float64, checked to have one shape."""
    f, a = np.asarray(forecast, dtype=np.float64), np.asarray(actual, dtype=np.float64)
    if f.shape != a.shape:
        raise ValueError(f"forecast shape {f.shape} differs from actual shape {a.shape}")
    return f, a


def naive_forecast(context: np.ndarray, horizon: int) -> np.ndarray:
    """The last value of each context ``(N, L)`` repeated ``horizon`` times: ``(N, H)``."""
    context = np.asarray(context, dtype=np.float64)
    return np.repeat(context[:, -1:], horizon, axis=1)


def seasonal_naive_forecast(context: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """The last full season of each context ``(N, L)`` repeated over ``horizon`` steps:
    ``(N, H)``, ``F_{T+h} = y_{T+h-m·ceil(h/m)}``. Needs ``1 <= season <= L``."""
    context = np.asarray(context, dtype=np.float64)
    length = context.shape[1]
    if not 1 <= season <= length:
        raise ValueError(
            f"seasonal naive needs 1 <= season <= context length, got season {season} "
            f"and context length {length}"
        )
    return context[:, length - season + np.arange(horizon) % season]


def mase_scale(history: np.ndarray, season: int) -> float:
    """The in-sample one-step seasonal-naive MAE of a series ``(T,)``: mean |y_t − y_{t−m}| over
    t = m..T−1 (Hyndman & Koehler 2006). nan when T <= season; a 0 (constant series) makes MASE
    inf or nan, which the caller decides about."""
    y = np.asarray(history, dtype=np.float64)
    if len(y) <= season:
        return math.nan
    return float(np.abs(y[season:] - y[:-season]).mean())


def point_errors(forecast: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """``{"mse", "mae", "rmse"}`` over all values of ``(N, H)`` arrays."""
    f, a = _pair(forecast, actual)
    mse = float(np.mean((f - a) ** 2))
    return {"mse": mse, "mae": float(np.mean(np.abs(f - a))), "rmse": math.sqrt(mse)}


def smape(forecast: np.ndarray, actual: np.ndarray) -> float:
    """sMAPE in percent of ``(N, H)`` arrays: 200/n · Σ |F−A| / (|A|+|F|), 0/0 terms as 0."""
    f, a = _pair(forecast, actual)
    denominator = np.abs(a) + np.abs(f)
    terms = np.divide(np.abs(f - a), denominator, out=np.zeros_like(f), where=denominator > 0)
    return float(200.0 * terms.mean())


def mase(forecast: np.ndarray, actual: np.ndarray, scale: np.ndarray) -> float:
    """MASE of ``(N, H)`` arrays: mean of |F−A| / scale, ``scale`` ``(N,)`` being the
    `mase_scale` of each window's series. A 0 scale gives inf (or nan), without a warning."""
    f, a = _pair(forecast, actual)
    s = np.asarray(scale, dtype=np.float64)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.mean(np.abs(f - a) / s))


def directional_accuracy(forecast: np.ndarray, actual: np.ndarray, last: np.ndarray) -> float:
    """Share of (window, step) pairs of ``(N, H)`` arrays whose forecast moves from ``last``
    ``(N,)`` (the last context value) the way the actual does; pairs where the actual equals
    ``last`` are left out, nan if none remain."""
    f, a = _pair(forecast, actual)
    base = np.asarray(last, dtype=np.float64)[:, None]
    moved = a != base
    if not moved.any():
        return math.nan
    return float((np.sign(f - base) == np.sign(a - base))[moved].mean())


def quantile_loss(quantiles: dict[float, np.ndarray], actual: np.ndarray) -> float:
    """Weighted quantile loss (DeepAR / GluonTS): the mean over the levels ``q`` of
    2·Σ ρ_q(A − Q_q) / Σ |A|, ``quantiles`` mapping each level to its forecast ``(N, H)``."""
    if not quantiles:
        raise ValueError("quantile_loss needs at least one quantile level")
    losses = []
    for q, forecast in quantiles.items():
        f, a = _pair(forecast, actual)
        u = a - f
        pinball = u * (q - (u < 0))
        losses.append(2.0 * pinball.sum() / np.abs(a).sum())
    return float(np.mean(losses))


def interval_coverage(lower: np.ndarray, upper: np.ndarray, actual: np.ndarray) -> float:
    """Share of the actual values ``(N, H)`` within [lower, upper] (bounds ``(N, H)``)."""
    low, a = _pair(lower, actual)
    high, _ = _pair(upper, actual)
    return float(((low <= a) & (a <= high)).mean())


def skill(model_error: float, baseline_error: float) -> float:
    """1 − model error / baseline error: positive when the model beats the baseline, nan when
    the baseline error is 0."""
    if baseline_error == 0:
        return math.nan
    return 1.0 - model_error / baseline_error


def forecast_scores(
    forecast: np.ndarray, actual: np.ndarray, last: np.ndarray, scale: np.ndarray
) -> dict[str, float]:
    """mse, mae, rmse, smape, mase and directional_accuracy of a forecast ``(N, H)``, ``last``
    and ``scale`` being ``(N,)``; call it once for the model and once per baseline."""
    return {
        **point_errors(forecast, actual),
        "smape": smape(forecast, actual),
        "mase": mase(forecast, actual, scale),
        "directional_accuracy": directional_accuracy(forecast, actual, last),
    }
