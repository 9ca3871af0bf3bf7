"""Splits, transforms, scaling and windows of forecasting data: no target in any context, no
statistics from beyond the training rows, no window across two series."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import raised
from rnnkit.data.series import Series
from rnnkit.data.series_windows import (
    Scaler,
    apply_transform,
    invert_transform,
    split_rows,
    window_starts,
)
from rnnkit.tasks.forecast_data import SeriesArrays, SeriesScaling


def make_series(values, key="s", start="2024-01-01", covariates=None) -> Series:
    values = np.asarray(values, dtype=np.float64)
    time = np.datetime64(start, "s") + np.arange(len(values)) * np.timedelta64(3600, "s")
    extra = np.zeros((len(values), 0)) if covariates is None else np.asarray(covariates)
    return Series(key, time, values, extra, np.arange(2, len(values) + 2), source=f"{key}.csv")


def test_split_by_fractions_rows_and_dates():
    series = make_series(np.arange(100))
    rows = split_rows(series, valid_fraction=0.1, test_fraction=0.2)
    assert (rows.train_end, rows.valid_end, rows.end) == (70, 80, 100)
    rows = split_rows(series, valid_fraction=0.1, test_fraction=0.2, train_end=50, valid_end=60)
    assert (rows.train_end, rows.valid_end, rows.end) == (50, 60, 100)
    dated = split_rows(
        series, valid_fraction=0, test_fraction=0, train_end="2024-01-02", test_end=90,
        valid_end="2024-01-03T12:00",
    )  # fmt: skip
    assert (dated.train_end, dated.valid_end, dated.end) == (24, 60, 90)
    assert dated.rows("test") == (60, 90)
    assert "must be in order" in raised(
        lambda: split_rows(series, valid_fraction=0, test_fraction=0, train_end=80, valid_end=70)
    )
    assert "neither a row count nor a date" in raised(
        lambda: split_rows(series, valid_fraction=0, test_fraction=0, train_end="soon")
    )


def test_window_starts_keep_targets_inside_the_split():
    starts = window_starts(first=5, rows=(0, 20), horizon=3)
    assert starts[0] == 5 and starts[-1] == 17  # targets [17, 20) end at the split's end
    assert list(window_starts(first=5, rows=(20, 30), horizon=4, stride=3)) == [20, 23, 26]
    assert len(window_starts(first=5, rows=(20, 22), horizon=4)) == 0


@pytest.mark.parametrize("transform", ["diff", "log_return"])
def test_transforms_invert_to_the_levels(transform):
    series = make_series(np.exp(np.random.default_rng(0).normal(0, 0.1, 30).cumsum()) * 100)
    steps = apply_transform(series, transform)
    assert np.isnan(steps[0])
    t, horizon = 10, 6
    levels = invert_transform(series.values[t - 1 : t], steps[None, t : t + horizon], transform)
    np.testing.assert_allclose(levels[0], series.values[t : t + horizon], rtol=1e-12)
    paths = np.stack([steps[t : t + horizon]] * 3, axis=-1)[None]  # (1, H, S)
    np.testing.assert_allclose(
        invert_transform(series.values[t - 1 : t], paths, transform)[0, :, 2],
        series.values[t : t + horizon],
        rtol=1e-12,
    )


def test_log_returns_need_positive_values():
    series = make_series([3.0, 1.0, 0.0, 2.0])
    assert raised(lambda: apply_transform(series, "log_return")).startswith("s.csv:4: value 0")


def test_scaling_is_fitted_on_training_rows_only():
    values = np.random.default_rng(1).normal(5, 2, 100)
    series = make_series(values)
    fitted = SeriesScaling.fit(series, values, train_end=70, season=1, standardise=True)
    changed = make_series(np.concatenate([values[:70], values[70:] * 1000]))
    refitted = SeriesScaling.fit(changed, changed.values, 70, 1, True)
    assert refitted.to_json() == fitted.to_json()  # rows after training change nothing
    np.testing.assert_allclose(fitted.inputs.mean, [values[:70].mean()])
    np.testing.assert_allclose(fitted.inputs.std, [values[:70].std()])
    assert fitted.mase == pytest.approx(np.abs(np.diff(values[:70])).mean())


def test_scaler_round_trips_and_keeps_constant_columns():
    scaler = Scaler.fit(np.array([[1.0, 4.0], [3.0, 4.0]]))
    np.testing.assert_array_equal(scaler.std, [1.0, 1.0])
    back = Scaler.from_json(scaler.to_json())
    scaled = back.apply(np.array([[7.0, 2.0]]))
    np.testing.assert_array_equal(scaled, [[5.0, -2.0]])
    assert back.invert(scaled[:, 0], column=0)[0] == 7.0


def two_series_arrays(horizon=3, context=4):
    small = make_series(np.random.default_rng(2).normal(1, 0.1, 40), key="small")
    large = make_series(np.random.default_rng(3).normal(5000, 800, 30), key="large")
    series = [small, large]
    rows = [split_rows(s, valid_fraction=0.2, test_fraction=0.2) for s in series]
    scalings = [
        SeriesScaling.fit(s, s.values, r.train_end, season=1, standardise=True)
        for s, r in zip(series, rows, strict=True)
    ]
    return SeriesArrays(series, scalings, "none", ["hour"]), rows, series


def test_two_series_are_scaled_apart_and_no_window_crosses_between_them():
    arrays, rows, series = two_series_arrays()
    for index in range(len(series)):  # each series standardised by its own training rows
        part = arrays.target[arrays.offsets[index] : arrays.offsets[index + 1]].numpy()
        train = part[: rows[index].train_end]
        assert abs(train.mean()) < 1e-5 and abs(train.std() - 1) < 1e-5
    for split in ("train", "valid", "test"):
        windows = arrays.windows(rows, split, first=4, horizon=3)
        assert len(windows) > 0
        owner_start = arrays.offsets[windows.series]
        owner_end = arrays.offsets[windows.series + 1]
        assert np.all(windows.starts - 4 >= owner_start)  # context inside the series
        assert np.all(windows.starts + 3 <= owner_end)  # targets inside the series


def test_a_window_context_never_holds_its_targets():
    arrays, rows, _ = two_series_arrays()
    windows = arrays.windows(rows, "test", first=4, horizon=3)
    batch = arrays.batch(windows.starts, context_length=4, horizon=3)
    for i, start in enumerate(windows.starts):
        torch.testing.assert_close(batch["target"][i], arrays.target[start : start + 3])
        torch.testing.assert_close(batch["context"][i, :, 0], arrays.target[start - 4 : start])
    np.testing.assert_array_equal(
        arrays.actual(windows.starts, 3), arrays.levels[windows.starts[:, None] + np.arange(3)]
    )
    assert batch["known"].shape == (len(windows), 3, 2)
