"""Forecast baselines and error measures against hand-worked cases and element-by-element loops."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnkit.tasks.forecast_metrics import (
    directional_accuracy,
    forecast_scores,
    interval_coverage,
    mase,
    mase_scale,
    naive_forecast,
    point_errors,
    quantile_loss,
    seasonal_naive_forecast,
    skill,
    smape,
)


def _random(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape)


def test_naive_forecast_by_hand():
    context = np.array([[1.0, 2.0, 3.0], [5.0, 4.0, -1.0]])
    assert naive_forecast(context, 4).tolist() == [[3.0] * 4, [-1.0] * 4]


def test_seasonal_naive_wraps_around_the_season():
    # last season of the first row is 12 13 14, of the second 3 1 4; horizon 7 repeats it
    context = np.array([[10.0, 11.0, 12.0, 13.0, 14.0], [9.0, 2.0, 3.0, 1.0, 4.0]])
    assert seasonal_naive_forecast(context, 7, 3).tolist() == [
        [12, 13, 14, 12, 13, 14, 12],
        [3, 1, 4, 3, 1, 4, 3],
    ]


def test_seasonal_naive_follows_the_textbook_formula():
    context, horizon, season = _random((3, 6), 0), 8, 4
    length = context.shape[1]
    expected = np.empty((3, horizon))
    for i in range(3):
        for h in range(1, horizon + 1):  # y_{T+h-m·ceil(h/m)}, T = L-1 zero-based
            expected[i, h - 1] = context[i, length - 1 + h - season * math.ceil(h / season)]
    np.testing.assert_array_equal(seasonal_naive_forecast(context, horizon, season), expected)


def test_seasonal_naive_with_season_one_is_naive():
    context = _random((4, 5), 1)
    np.testing.assert_array_equal(
        seasonal_naive_forecast(context, 6, 1), naive_forecast(context, 6)
    )


def test_seasonal_naive_needs_a_full_season():
    with pytest.raises(ValueError, match="season"):
        seasonal_naive_forecast(np.zeros((2, 3)), 5, 4)


def test_mase_scale_against_a_loop():
    y, season = _random((20,), 2), 3
    expected = sum(abs(y[t] - y[t - season]) for t in range(season, len(y))) / (len(y) - season)
    assert mase_scale(y, season) == pytest.approx(expected, rel=1e-12)
    assert mase_scale(np.array([1.0, 3.0, 2.0]), 1) == pytest.approx(1.5)  # (2 + 1) / 2


def test_mase_scale_is_nan_without_enough_values():
    assert math.isnan(mase_scale(np.array([1.0, 2.0]), 2))


@pytest.mark.parametrize("season", [1, 4])
def test_one_step_seasonal_naive_over_every_window_has_mase_one(season):
    y = _random((30,), 3)
    starts = range(len(y) - season)  # window: context y[s : s+m], actual y[s+m]
    context = np.array([y[s : s + season] for s in starts])
    actual = np.array([[y[s + season]] for s in starts])
    forecast = seasonal_naive_forecast(context, 1, season)
    scale = np.full(len(actual), mase_scale(y, season))
    assert mase(forecast, actual, scale) == pytest.approx(1.0, abs=1e-12)


def test_mase_weighs_each_value_by_its_series_scale():
    forecast, actual = _random((3, 4), 4), _random((3, 4), 5)
    scale = np.array([0.5, 2.0, 1.5])
    expected = (
        sum(abs(forecast[i, h] - actual[i, h]) / scale[i] for i in range(3) for h in range(4)) / 12
    )
    assert mase(forecast, actual, scale) == pytest.approx(expected, rel=1e-12)


def test_point_errors_against_a_loop():
    forecast, actual = _random((5, 3), 6), _random((5, 3), 7)
    diffs = [forecast[i, h] - actual[i, h] for i in range(5) for h in range(3)]
    mse = sum(d * d for d in diffs) / 15
    assert point_errors(forecast, actual) == pytest.approx(
        {"mse": mse, "mae": sum(abs(d) for d in diffs) / 15, "rmse": math.sqrt(mse)}, rel=1e-12
    )


def test_point_errors_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        point_errors(np.zeros((2, 3)), np.zeros((3, 2)))


def test_smape_with_zeros():
    # terms: |1-0|/(0+1) = 1, 0/0 -> 0, |2-(-2)|/(2+2) = 1, |3-1|/(1+3) = 0.5
    forecast = np.array([[1.0, 0.0], [2.0, 3.0]])
    actual = np.array([[0.0, 0.0], [-2.0, 1.0]])
    assert smape(forecast, actual) == pytest.approx(200 / 4 * 2.5)


def test_directional_accuracy_by_hand():
    last = np.array([1.0, 5.0])
    actual = np.array([[2.0, 1.0, 0.0], [4.0, 6.0, 5.0]])  # (0, 1) and (1, 2): no move
    forecast = np.array([[3.0, 9.0, 1.0], [4.5, 5.0, 0.0]])
    # kept: up/up right, down/flat wrong, down/down right, up/flat wrong
    assert directional_accuracy(forecast, actual, last) == pytest.approx(2 / 4)


def test_directional_accuracy_is_nan_without_moves():
    assert math.isnan(directional_accuracy(np.ones((2, 2)), np.ones((2, 2)), np.ones(2)))


def test_quantile_loss_against_a_loop():
    actual = _random((4, 3), 8)
    quantiles = {0.1: actual - 0.7, 0.5: _random((4, 3), 9), 0.9: actual + 0.3}
    per_level = []
    for q, f in quantiles.items():
        pinball = 0.0
        for i in range(4):
            for h in range(3):
                u = actual[i, h] - f[i, h]
                pinball += q * u if u >= 0 else (q - 1) * u
        per_level.append(2 * pinball / sum(abs(a) for a in actual.flat))
    assert quantile_loss(quantiles, actual) == pytest.approx(sum(per_level) / 3, rel=1e-12)


def test_quantile_loss_by_hand():
    # q = 0.5: u = 1 and -1 -> 0.5 + 0.5 = 1; 2 * 1 / (2 + 2) = 0.5
    assert quantile_loss({0.5: np.array([[1.0, 3.0]])}, np.array([[2.0, 2.0]])) == 0.5


def test_interval_coverage():
    actual = np.array([[0.0, 1.0, 2.0, 3.0]])
    lower = np.array([[0.0, 1.5, 1.0, 3.5]])
    upper = np.array([[1.0, 2.0, 2.0, 4.0]])  # in on a bound, below, in on a bound, below
    assert interval_coverage(lower, upper, actual) == 0.5


def test_skill():
    assert skill(0.5, 2.0) == 0.75
    assert skill(3.0, 2.0) == -0.5
    assert math.isnan(skill(1.0, 0.0))


def test_forecast_scores_gathers_the_measures():
    context, actual = _random((3, 5), 10), _random((3, 2), 11)
    forecast, last, scale = naive_forecast(context, 2), context[:, -1], np.array([1.0, 2.0, 3.0])
    scores = forecast_scores(forecast, actual, last, scale)
    assert scores == {
        **point_errors(forecast, actual),
        "smape": smape(forecast, actual),
        "mase": mase(forecast, actual, scale),
        "directional_accuracy": directional_accuracy(forecast, actual, last),
    }
    assert all(isinstance(v, float) for v in scores.values())
