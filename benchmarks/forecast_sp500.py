"""S&P 500 daily closes (``../shared/data/sp500/sp500_daily.csv``, business days, empty holiday
rows): can a recurrent network beat "tomorrow's close is today's"?

The `forecast` task reads the series with holidays carried forward (``data.missing=ffill``),
forecasts log returns (``data.transform=log_return``, turned back into prices for scoring) from
60 days of context, trains on the first 70% of the days, picks the model on the next 10% and is
scored on the last 20% at horizons 1 and 5: MASE (non-seasonal, ``data.season=1``: scaled by the
in-sample mean absolute daily change, so the naive forecast scores about 1) and directional
accuracy (the share of days whose move up or down was called right), beside the naive forecast
on the same windows.

    python benchmarks/forecast_sp500.py                    # 5 minutes per horizon
    python benchmarks/forecast_sp500.py --minutes 1 --horizons 1
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from common import print_table, write_json
from rnnkit.checkpoint import read_metrics_log
from rnnkit.data.series import SeriesColumns, read_series
from rnnkit.data.series_windows import split_rows
from rnnkit.tasks import train_run

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sp500" / "sp500_daily.csv"
SETTINGS = [
    "data.time_column=observation_date",
    "data.target=SP500",
    "data.missing=ffill",
    "data.transform=log_return",
    "data.season=1",
    "data.context_length=60",
    "data.valid_fraction=0.1",
    "data.test_fraction=0.2",
    "model.cell=lstm",
    "model.hidden_size=32",
    "model.num_layers=1",
    "model.dropout=0.2",
    "train.lr=0.001",
    "train.epochs=100",
    "train.patience=5",
    "train.threads=2",
]


def run_horizon(horizon: int, out: Path, minutes: float, extra: list[str]) -> dict:
    """Train for ``horizon`` into ``out``; the test scores of the model and the naive forecast."""
    overrides = [*SETTINGS, f"data.horizon={horizon}", f"train.max_minutes={minutes}", *extra]
    started = time.perf_counter()
    final = train_run("forecast", [str(DATA)], out, overrides=overrides, live=False)
    seconds = time.perf_counter() - started
    test, log = final["test"], read_metrics_log(out)
    table = test["baselines"]
    return {
        "up_share": up_share(horizon),
        "horizon": horizon,
        "windows": test["windows"],
        **{f"{name}_{side}": table[name][side] for name in ("mase", "mae_original", "smape")
           for side in ("model", "naive")},
        "directional_accuracy_model": table["directional_accuracy"]["model"],
        "skill_vs_naive": test["skill_vs_naive"],
        "train_seconds": seconds,
        "epochs": log[-1]["epoch"],
    }  # fmt: skip


def up_share(horizon: int) -> float:
    """The directional accuracy of always calling "up": the share of the test windows' steps
    whose close is above the last close before the window."""
    (series,) = read_series(DATA, SeriesColumns("observation_date", "SP500", missing="ffill"))
    rows = split_rows(series, valid_fraction=0.1, test_fraction=0.2)
    starts = np.arange(rows.valid_end, rows.end - horizon + 1)
    future = series.values[starts[:, None] + np.arange(horizon)]
    last = series.values[starts - 1][:, None]
    moved = future != last
    return float((future > last)[moved].mean())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=5, help="training budget per horizon")
    parser.add_argument("--horizons", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--out", type=Path, default=Path("runs/forecast_sp500"))
    parser.add_argument("--set", dest="extra", action="append", default=[], help="extra config")
    parser.add_argument("--json", help="results file (default results/forecast_sp500.json)")
    args = parser.parse_args()
    results = [run_horizon(h, args.out / f"h{h}", args.minutes, args.extra) for h in args.horizons]
    rows = [
        [r["horizon"], r["windows"], r["mase_model"], r["mase_naive"],
         r["directional_accuracy_model"], r["up_share"], r["mae_original_model"],
         r["mae_original_naive"],
         r["skill_vs_naive"], f"{r['train_seconds'] / 60:.1f}", r["epochs"]]
        for r in results
    ]  # fmt: skip
    print_table(
        "S&P 500 daily, last 20% of the days",
        ["H", "windows", "MASE", "naive MASE", "directional acc.", "always-up acc.", "MAE",
         "naive MAE",
         "MSE skill vs naive", "train min", "epochs"],
        rows,
    )  # fmt: skip
    payload = {"settings": SETTINGS + args.extra, "results": results}
    print("wrote", write_json("forecast_sp500", payload, args.json))


if __name__ == "__main__":
    main()
