"""Metrics as the CLI prints them: the numbers in one table, then each per-class (or per-type)
table and confusion matrix a task reports."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def print_metrics(console: Console, metrics: dict[str, Any], title: str) -> None:
    """Print ``metrics``: scalars first, then the nested tables."""
    console.print(title)
    table = Table()
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in metrics.items():
        if isinstance(value, int | float):
            table.add_row(name, format_value(value))
    console.print(table)
    for name, value in metrics.items():
        if name == "confusion" and isinstance(value, dict):
            console.print(_confusion_table(value))
        elif isinstance(value, dict) and value:
            console.print(_score_table(name, value))


def _score_table(name: str, rows: dict[str, dict[str, float]]) -> Table:
    """One row per class: precision, recall, F1, support."""
    table = Table(title=name.replace("_", " "))
    columns = list(next(iter(rows.values())))
    for column in ["", *columns]:
        table.add_column(column, justify="right")
    for label, scores in rows.items():
        cells = [format_value(v) for v in scores.values()]
        table.add_row(label, *cells)
    return table


def format_value(value: object) -> str:
    """A number as printed: floats to 4 decimals, counts as they are, none as a dash."""
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _confusion_table(confusion: dict[str, Any]) -> Table:
    """Rows: gold labels; columns: predicted labels."""
    labels = confusion["labels"]
    table = Table(title="confusion (rows: gold, columns: predicted)")
    for column in ["", *labels]:
        table.add_column(column, justify="right")
    for label, row in zip(labels, confusion["matrix"], strict=True):
        table.add_row(label, *map(str, row))
    return table
