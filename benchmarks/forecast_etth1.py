"""Univariate ETTh1 forecasting (oil temperature ``OT``) under the protocol of Zhou et al. 2021,
"Informer": rows 0-8639 train, 8640-11519 validation, 11520-14399 test; the scaler fitted on the
training rows; MSE and MAE on standardised values over every test window (stride 1, contexts
reaching back before row 11520), 2880 - H + 1 windows per horizon.

For each horizon H in 24, 48, 168 the `forecast` task trains a 2-layer LSTM (hidden 64, direct
multi-step head, MSE loss, calendar features hour and weekday, forecasting hour-to-hour
differences: ``data.transform=diff``) for at most ``--minutes``,
keeping the model with the best validation MSE, and reports its test MSE / MAE beside the naive
(last value) and seasonal-naive (same hour yesterday) baselines on the same windows, and the
numbers that paper reports for its univariate LSTMa and DeepAR baselines.

    python benchmarks/forecast_etth1.py                    # 10 minutes per horizon
    python benchmarks/forecast_etth1.py --minutes 1 --horizons 24 --out runs/etth1_quick
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import print_table, write_json
from rnnkit.checkpoint import read_metrics_log
from rnnkit.tasks import train_run

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ett" / "ETTh1.csv"
PAPER = {  # Informer, Table 1 (univariate): MSE / MAE
    "LSTMa": {24: (0.114, 0.272), 48: (0.193, 0.358), 168: (0.236, 0.392)},
    "DeepAR": {24: (0.107, 0.280), 48: (0.162, 0.327), 168: (0.239, 0.422)},
}
SETTINGS = [
    "data.time_column=date",
    "data.target=OT",
    "data.train_end=8640",
    "data.valid_end=11520",
    "data.test_end=14400",
    "data.context_length=96",
    "data.transform=diff",
    "model.cell=lstm",
    "model.hidden_size=64",
    "model.num_layers=2",
    "model.dropout=0.1",
    "train.lr=0.001",
    "train.batch_size=64",
    "train.epochs=100",
    "train.patience=5",
    "train.lr_schedule=plateau",
    "train.threads=2",
]


def run_horizon(horizon: int, out: Path, minutes: float, extra: list[str]) -> dict:
    """Train for ``horizon`` into ``out``; the test scores and the training time."""
    overrides = [*SETTINGS, f"data.horizon={horizon}", f"train.max_minutes={minutes}", *extra]
    started = time.perf_counter()
    final = train_run("forecast", [str(DATA)], out, overrides=overrides, live=False)
    seconds = time.perf_counter() - started
    test, log = final["test"], read_metrics_log(out)
    best = min(log, key=lambda entry: entry["valid_mse"])
    return {
        "horizon": horizon,
        "windows": test["windows"],
        "mse": test["mse"],
        "mae": test["mae"],
        "naive_mse": test["baselines"]["mse"]["naive"],
        "naive_mae": test["baselines"]["mae"]["naive"],
        "seasonal_naive_mse": test["baselines"]["mse"]["seasonal_naive"],
        "seasonal_naive_mae": test["baselines"]["mae"]["seasonal_naive"],
        "train_seconds": seconds,
        "epochs": log[-1]["epoch"],
        "best_epoch": best["epoch"],
        "windows_per_s": log[-1]["windows_per_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10, help="training budget per horizon")
    parser.add_argument("--horizons", type=int, nargs="+", default=[24, 48, 168])
    parser.add_argument("--out", type=Path, default=Path("runs/forecast_etth1"))
    parser.add_argument("--set", dest="extra", action="append", default=[], help="extra config")
    parser.add_argument("--json", help="results file (default results/forecast_etth1.json)")
    args = parser.parse_args()
    results = [run_horizon(h, args.out / f"h{h}", args.minutes, args.extra) for h in args.horizons]
    rows = [
        [
            r["horizon"], r["windows"], r["mse"], r["mae"], r["naive_mse"], r["naive_mae"],
            r["seasonal_naive_mse"], r["seasonal_naive_mae"],
            *(PAPER[name][r["horizon"]][0] for name in PAPER),
            f"{r['train_seconds'] / 60:.1f}", r["epochs"],
        ]
        for r in results
    ]  # fmt: skip
    print_table(
        "ETTh1 univariate (OT), test MSE / MAE on standardised values",
        ["H", "windows", "MSE", "MAE", "naive MSE", "naive MAE", "s-naive MSE", "s-naive MAE",
         "LSTMa MSE (paper)", "DeepAR MSE (paper)", "train min", "epochs"],
        rows,
    )  # fmt: skip
    payload = {"settings": SETTINGS + args.extra, "results": results, "paper": PAPER}
    print("wrote", write_json("forecast_etth1", payload, args.json))


if __name__ == "__main__":
    main()
