"""The forecast task end to end in the library: it earns its keep against seasonal-naive on the
built-in seasonal series, continues business-day and monthly calendars, keeps several series
apart, and says what is wrong with a split that has no windows."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import raised, write
from rnnkit.tasks import load_run, train_run

SMALL = ["model.hidden_size=16", "model.num_layers=1", "train.threads=1", "data.context_length=48"]


def test_beats_seasonal_naive_on_the_builtin_seasonal_series(tmp_path):
    final = train_run(
        "forecast", ["builtin:load"], tmp_path / "run", live=False,
        overrides=[*SMALL, "model.hidden_size=32", "train.epochs=6", "train.lr=0.003"],
    )  # fmt: skip
    test = final["test"]
    assert test["windows"] == 480 - 24 + 1  # the last 20% of 2,400 hourly rows
    assert test["skill_vs_seasonal_naive"] > 0.2, test
    assert test["mse"] < test["baselines"]["mse"]["seasonal_naive"]
    assert test["baselines"]["mase"]["model"] == test["mase"]
    assert set(test["baselines"]["mse"]) == {"model", "naive", "seasonal_naive"}


def test_probabilistic_autoregressive_run_reports_intervals_and_forecasts_ordered_quantiles(
    tmp_path,
):
    out = tmp_path / "run"
    final = train_run(
        "forecast", ["builtin:load"], out, live=False,
        overrides=[*SMALL, "model.decoder=autoregressive", "model.output=student_t",
                   "train.max_steps=5", "decode.num_samples=20", "data.horizon=6"],
    )  # fmt: skip
    assert 0 <= final["test"]["coverage_80"] <= 1 and final["test"]["quantile_loss"] > 0
    loaded = load_run(out)
    (record,) = loaded.task.forecast(loaded.model, "builtin:load")
    assert record["time"][0] == "2024-04-10 00:00:00" and len(record["forecast"]) == 6
    low, mid, high = (np.array(record["quantiles"][q]) for q in ("0.1", "0.5", "0.9"))
    assert np.all(low <= mid) and np.all(mid <= high)


def calendar_csv(tmp_path, name, dates, column="value"):
    values = 100 + np.sin(np.arange(len(dates)))
    lines = [f"date,{column}", *(f"{d},{v:.4f}" for d, v in zip(dates, values, strict=True))]
    return write(tmp_path, name, "\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("dates", "expected"),
    [
        (  # business days end on Friday 2024-03-29: the next are Mon 04-01 .. Wed 04-03
            [
                d
                for d in np.arange("2023-11-01", "2024-03-30", dtype="datetime64[D]").astype(str)
                if np.is_busday(d)
            ],
            ["2024-04-01", "2024-04-02", "2024-04-03"],
        ),
        (  # months from 2015-01-01 to 2023-12-01
            [f"{2015 + i // 12}-{i % 12 + 1:02d}-01" for i in range(108)],
            ["2024-01-01", "2024-02-01", "2024-03-01"],
        ),
    ],
)
def test_forecast_continues_the_calendar(tmp_path, dates, expected):
    path = calendar_csv(tmp_path, "series.csv", list(dates))
    out = tmp_path / "run"
    overrides = [*SMALL, "data.context_length=12", "data.horizon=3", "train.max_steps=2"]
    train_run("forecast", [str(path)], out, live=False, overrides=overrides)
    loaded = load_run(out)
    (record,) = loaded.task.forecast(loaded.model, str(path))
    assert record["time"] == expected
    assert record["history"]["time"][-1] == str(dates[-1])


def test_several_series_are_forecast_each_at_its_own_scale(tmp_path):
    out = tmp_path / "run"
    overrides = [*SMALL, "data.context_length=14", "data.horizon=7", "train.epochs=2",
                 "data.covariates=[price]"]  # fmt: skip
    final = train_run("forecast", ["builtin:shops"], out, live=False, overrides=overrides)
    assert final["test"]["windows"] == 3 * (146 - 7 + 1)
    loaded = load_run(out)
    records = loaded.task.forecast(loaded.model, "builtin:shops")
    assert [r["id"] for r in records] == ["corner", "market", "mall"]
    for record in records:
        history = np.array(record["history"]["values"])
        assert history.min() / 3 < np.mean(record["forecast"]) < history.max() * 3


def test_a_series_too_short_for_validation_windows_is_noted(tmp_path, capsys):
    overrides = [*SMALL, "data.context_length=24", "data.horizon=24", "data.valid_fraction=0.005",
                 "train.max_steps=1"]  # fmt: skip
    final = train_run(
        "forecast", ["builtin:load"], tmp_path / "run", live=False, overrides=overrides
    )
    assert "valid" not in final and final["test"]["windows"] == 457
    assert (
        "no valid windows: each needs 24 earlier rows and 24 valid rows" in capsys.readouterr().out
    )


def test_errors_for_splits_without_windows_and_for_valid_files(tmp_path):
    message = raised(
        lambda: train_run(
            "forecast", ["builtin:load"], tmp_path / "a", live=False,
            overrides=["data.horizon=600"],
        )
    )  # fmt: skip
    assert message.startswith("builtin:load: no test windows: each needs 96 earlier rows and 600")
    message = raised(
        lambda: train_run(
            "forecast", ["builtin:load"], tmp_path / "b", valid=["builtin:load"], live=False
        )
    )
    assert "instead of --valid / --test set data.valid_fraction" in message


def test_a_history_from_another_calendar_or_too_short_is_refused(tmp_path):
    out = tmp_path / "run"
    train_run(
        "forecast", ["builtin:load"], out, live=False, overrides=[*SMALL, "train.max_steps=1"]
    )
    loaded = load_run(out)
    daily = calendar_csv(
        tmp_path,
        "daily.csv",
        np.arange("2024-01-01", "2024-03-01", dtype="datetime64[D]").astype(str),
        "load",
    )
    assert "its steps are daily, but the model was trained on hourly data" in raised(
        lambda: loaded.task.forecast(loaded.model, str(daily))
    )
    assert "forecasts column 'value', but the model was trained on 'load'" in raised(
        lambda: loaded.task.forecast(
            loaded.model, str(calendar_csv(tmp_path, "v.csv", ["2024-01-01"]))
        )
    )
    hours = np.datetime64("2024-01-01T00") + np.arange(10)
    short = calendar_csv(tmp_path, "short.csv", hours.astype("datetime64[s]").astype(str), "load")
    assert "has 10 rows; the model reads the last 48" in raised(
        lambda: loaded.task.forecast(loaded.model, str(short))
    )
