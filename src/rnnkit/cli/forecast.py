"""``rnnkit forecast RUN FILE|-|builtin:NAME [--plot PNG] [--json] [--set KEY=VALUE]``: the
next horizon after the end of each series' history, by a trained forecast model.

Output: CSV on stdout — the id (with ``data.id_column``), the time and the target column, named
as in the data, and for a probabilistic model one column per quantile (``q0.1``, ``q0.5``, ...);
the forecast is the mean of each step's distribution; the timestamps continue the series'
frequency. ``--json`` prints one JSON object per series instead. ``--plot`` draws each series'
context, the forecast and its 80% interval. ``--set`` changes a saved ``data.*`` setting (e.g.
``data.missing``) for reading this history.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from rnnkit.cli.figures import check_figure_path, save_figure
from rnnkit.cli.inputs import STDIN, read_input
from rnnkit.errors import UserError

MAX_PLOTTED = 6


def forecast(
    run: Annotated[Path, typer.Argument(help="A forecast run directory.")],
    source: Annotated[
        str,
        typer.Argument(help="History CSV (same columns as in training), builtin:NAME, or -."),
    ] = STDIN,
    plot: Annotated[
        Path | None,
        typer.Option(help="Save history, forecast and 80% interval as a figure (PNG, SVG, PDF)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON, one line per series.")
    ] = False,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Change a saved data setting: --set data.missing=ffill."),
    ] = None,
) -> None:
    """Forecast the steps after the end of a history file with a trained forecast model."""
    from rnnkit.tasks import Forecasts, load_run

    if plot is not None:
        check_figure_path(plot)
    loaded = load_run(run, overrides=set_ or [])
    if not isinstance(loaded.task, Forecasts):
        raise UserError(f"a {loaded.task.name} model does not forecast", path=run)
    text = None if source.startswith("builtin:") else read_input(source)[0]
    records = loaded.task.forecast(loaded.model, "stdin" if source == STDIN else source, text)
    if plot is not None:
        plot_forecasts(records, plot)
    if as_json:
        for record in records:
            typer.echo(json.dumps(record))
    else:
        write_csv(records, yaml.safe_load(loaded.checkpoint.config_yaml)["data"]["id_column"])


def write_csv(records: list[dict[str, Any]], id_column: str | None) -> None:
    """The forecasts as CSV on stdout: ``[ID,]TIME,TARGET[,qLEVEL...]``, one row per series and
    future step, the columns named as in the data."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    first = records[0]
    levels = list(first["quantiles"])
    header = [first["time_column"], first["target"], *(f"q{level}" for level in levels)]
    writer.writerow(([id_column] if id_column else []) + header)
    for record in records:
        for step, time in enumerate(record["time"]):
            row = [time, f"{record['forecast'][step]:.6g}"]
            row += [f"{record['quantiles'][level][step]:.6g}" for level in levels]
            writer.writerow(([record["id"]] if id_column else []) + row)


def plot_forecasts(records: list[dict[str, Any]], path: Path) -> None:
    """One panel per series (the first few): context, forecast, 80% interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    shown = records[:MAX_PLOTTED]
    figure, axes = plt.subplots(len(shown), 1, figsize=(9, 2.8 * len(shown)), squeeze=False)
    for ax, record in zip(axes[:, 0], shown, strict=True):
        past = np.array(record["history"]["time"], dtype="datetime64[s]")
        future = np.array(record["time"], dtype="datetime64[s]")
        ax.plot(past, record["history"]["values"], color="black", lw=1, label="history")
        ax.plot(future, record["forecast"], color="tab:blue", lw=1.5, label="forecast (mean)")
        quantiles = record["quantiles"]
        if "0.1" in quantiles and "0.9" in quantiles:
            ax.fill_between(
                future, quantiles["0.1"], quantiles["0.9"], color="tab:blue", alpha=0.25,
                label="80% interval",
            )  # fmt: skip
        ax.set_title(f"{record['target']} {record['id']}".strip(), fontsize=10)
        ax.legend(loc="upper left", fontsize=8)
    figure.autofmt_xdate()
    figure.tight_layout()
    save_figure(figure, path)
