"""What the benchmarks share: interleaved timing, a table on the terminal, a JSON file.

Machines are shared and noisy, so a benchmark never reports absolute seconds alone: each
candidate is timed in the same run as its reference, round after round, and the reported
figure is the median over rounds of their ratio; throughput comes from the best round, the
one least disturbed by other work on the machine.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

import rnnkit.nn.recurrent_layer as recurrent_layer

RESULTS = Path(__file__).parent / "results"


def interleaved_times(
    functions: Sequence[Callable[[], object]], repeats: int, warmup: int = 1
) -> list[list[float]]:
    """Wall-clock times of each function over ``repeats`` rounds, ``times[i][round]``.

    Every round runs every function once, in forward order on even rounds and backward on odd
    ones, so that a slow spell of the machine falls on candidates and references alike."""
    for function in functions:
        for _ in range(warmup):
            function()
    times: list[list[float]] = [[] for _ in functions]
    for round_ in range(repeats):
        order = range(len(functions)) if round_ % 2 == 0 else reversed(range(len(functions)))
        for i in order:
            start = time.perf_counter()
            functions[i]()
            times[i].append(time.perf_counter() - start)
    return times


@contextmanager
def lengths_route(padded: bool | None) -> Iterator[None]:
    """Run every native LSTM / GRU batch of different lengths padded (True) or packed (False)
    inside the block; None keeps rnnkit's own choice (`rnnkit.nn.native_padding.runs_padded`)."""
    chosen = recurrent_layer.runs_padded
    if padded is not None:
        recurrent_layer.runs_padded = lambda config, x, share: padded  # type: ignore[assignment]
    try:
        yield
    finally:
        recurrent_layer.runs_padded = chosen


def ratio(candidate: Sequence[float], reference: Sequence[float]) -> float:
    """The median over rounds of candidate time / reference time (robust to noisy rounds)."""
    return statistics.median(c / r for c, r in zip(candidate, reference, strict=True))


def cpu_name() -> str:
    """The processor's model name (from /proc/cpuinfo on Linux)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
    }


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right" if column != columns[0] else "left")
    for row in rows:
        table.add_row(*(f"{v:.3g}" if isinstance(v, float) else str(v) for v in row))
    Console(width=160).print(table)


def write_json(name: str, payload: dict[str, Any], path: str | None = None) -> Path:
    """Write ``payload`` plus the machine description to ``path`` (default results/NAME.json)."""
    target = Path(path) if path else RESULTS / f"{name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"benchmark": name, "machine": machine(), **payload}, indent=2)
    target.write_text(text + "\n", encoding="utf-8")
    return target
