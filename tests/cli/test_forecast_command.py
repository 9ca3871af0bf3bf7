"""``rnnkit train forecast``, ``evaluate`` and ``forecast`` through the real console script on a
stock-like CSV (business days, empty holiday rows), the one-line errors of bad input, and a
two-process torchrun run."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
from test_classify_tag import rnnkit

from conftest import torchrun

TINY = ["--set", "model.hidden_size=8", "--set", "model.num_layers=1", "--set", "train.threads=1",
        "--set", "train.max_steps=3", "--set", "data.context_length=20", "--set", "data.horizon=5",
        "--set", "data.missing=ffill", "--set", "data.transform=log_return",
        "--set", "data.time_column=observation_date", "--set", "data.target=CLOSE"]  # fmt: skip


def stock_csv(tmp_path, rows=300):
    """Business days from Monday 2024-01-01, a random walk, every 20th close empty."""
    days = np.busday_offset("2024-01-01", np.arange(rows), roll="forward")
    closes = 100 * np.exp(np.random.default_rng(0).normal(0, 0.01, rows).cumsum())
    lines = ["observation_date,CLOSE"]
    lines += [
        f"{d},{'' if i % 20 == 7 else f'{c:.2f}'}"
        for i, (d, c) in enumerate(zip(days, closes, strict=True))
    ]
    path = tmp_path / "stock.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, days[-1]


def test_train_evaluate_and_forecast_a_stock_series(tmp_path):
    path, last_day = stock_csv(tmp_path)
    out = str(tmp_path / "run")
    trained = rnnkit("train", "forecast", "--data", str(path), "--out", out, *TINY,
                     "--set", "model.output=gaussian")  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert "1 series, 300 steps, business daily, season 5" in trained.stdout
    assert "test: loss" in trained.stdout and "skill_vs_naive" in trained.stdout

    evaluated = rnnkit("evaluate", out, "--data", str(path), "--json")
    metrics = json.loads(evaluated.stdout)
    assert metrics["windows"] == 60 - 5 + 1
    assert {"mase", "smape", "directional_accuracy", "coverage_80"} <= set(metrics)
    table = rnnkit("evaluate", out, "--data", str(path))
    assert "seasonal_naive" in table.stdout and "directional_accuracy" in table.stdout

    plot = tmp_path / "forecast.png"
    forecast = rnnkit("forecast", out, str(path), "--plot", str(plot))
    assert forecast.returncode == 0, forecast.stderr
    rows = list(csv.reader(io.StringIO(forecast.stdout)))
    assert rows[0] == ["observation_date", "CLOSE", "q0.1", "q0.5", "q0.9"]
    expected = np.busday_offset(last_day, np.arange(1, 6), roll="forward").astype(str).tolist()
    assert [r[0] for r in rows[1:]] == expected
    assert all(float(r[2]) <= float(r[3]) <= float(r[4]) for r in rows[1:])
    assert plot.read_bytes().startswith(b"\x89PNG")

    from_stdin = rnnkit("forecast", out, "-", "--json", stdin=path.read_text(encoding="utf-8"))
    record = json.loads(from_stdin.stdout)
    assert record["time"] == expected and len(record["history"]["values"]) == 20


def test_bad_input_gets_one_line_naming_the_place(tmp_path):
    path, _ = stock_csv(tmp_path, rows=60)
    out = str(tmp_path / "run")
    strict = [*TINY[:-8], "--set", "data.time_column=observation_date"]  # missing=error
    refused = rnnkit("train", "forecast", "--data", str(path), "--out", out, *strict,
                     "--set", "data.target=CLOSE")  # fmt: skip
    assert refused.returncode == 2
    assert refused.stderr == (
        f"rnnkit: error: {path}:9: CLOSE: missing value (set data.missing=ffill or "
        "interpolate to fill gaps)\n"
    )
    unknown = rnnkit("train", "forecast", "--data", str(path), "--out", out, *TINY,
                     "--set", "data.target=Close")  # fmt: skip
    assert unknown.returncode == 2
    assert "1: no column 'Close' (data.target); the columns are: observation_date, CLOSE" in (
        unknown.stderr
    )
    assert not (tmp_path / "run").exists()
    for bad_plot in (tmp_path / "no" / "f.png", tmp_path / "f.txt", tmp_path):
        refused = rnnkit("forecast", out, str(path), "--plot", str(bad_plot))
        assert refused.returncode == 2 and refused.stdout == "", refused.stderr
        assert refused.stderr.startswith(f"rnnkit: error: {bad_plot}: ")


def test_forecast_reads_a_history_with_changed_settings_and_the_right_target(tmp_path):
    path, _ = stock_csv(tmp_path, rows=120)
    out = str(tmp_path / "run")
    assert rnnkit("train", "forecast", "--data", str(path), "--out", out, *TINY).returncode == 0
    holey = tmp_path / "holey.csv"
    holey.write_text(path.read_text(encoding="utf-8").replace(",CLOSE", ",Close"), "utf-8")
    renamed = rnnkit("forecast", out, str(holey), "--set", "data.target=Close")
    assert renamed.returncode == 2
    assert "forecasts column 'Close', but the model was trained on 'CLOSE'" in renamed.stderr
    strict = rnnkit("forecast", out, str(path), "--set", "data.missing=error")
    assert strict.returncode == 2 and "CLOSE: missing value" in strict.stderr


def test_two_torchrun_processes_train_a_forecaster(tmp_path):
    out = tmp_path / "run"
    result = torchrun(
        "train", "forecast", "--data", "builtin:load", "--out", str(out),
        "--set", "model.hidden_size=8", "--set", "model.num_layers=1", "--set", "train.threads=1",
        "--set", "train.max_steps=4", "--set", "data.context_length=24",
        "--set", "model.output=gaussian",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["step"] == 4 and metrics["test"]["windows"] == 457
