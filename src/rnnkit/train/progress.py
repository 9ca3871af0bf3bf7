"""What a training run shows while it runs: a live progress bar on a terminal, plain lines
elsewhere (CI, pipes, log files) — one per evaluation, which is once per epoch by default."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn


def interactive_terminal() -> bool:
    """Whether to draw a live bar: stdout is a terminal and this is not a CI job."""
    ci = os.environ.get("CI", "").lower() not in ("", "0", "false")
    return sys.stdout.isatty() and not ci and os.environ.get("TERM") != "dumb"


def format_duration(seconds: float) -> str:
    minutes, secs = divmod(int(max(seconds, 0)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def format_record(record: dict[str, Any]) -> str:
    """One log line from an evaluation record, e.g. ``epoch 2 step 400 valid_loss 1.52 ...``."""
    parts = []
    for key, value in record.items():
        if isinstance(value, float):
            text = f"{value:,.0f}" if key.endswith("per_s") else f"{value:.4g}"
        else:
            text = str(value)
        parts.append(f"{key} {text}")
    return "  ".join(parts)


class TrainingProgress:
    """Progress of one run of ``total_steps`` optimizer steps, within an optional time budget.

    The estimated time left is the smaller of the steps left at the recent pace and what is
    left of ``budget_seconds``.
    """

    def __init__(
        self,
        total_steps: int,
        budget_seconds: float | None = None,
        live: bool | None = None,
        first_step: int = 0,
        unit: str = "tokens",
    ) -> None:
        self.total_steps, self.budget, self.first_step = total_steps, budget_seconds, first_step
        self.started = time.monotonic()
        self.console = Console(highlight=False)
        self.live = interactive_terminal() if live is None else live
        self._bar: Progress | None = None
        if self.live:
            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn(
                    f"loss {{task.fields[loss]}}  {{task.fields[speed]}} {unit}/s  "
                    "ETA {task.fields[eta]}"
                ),
                console=self.console,
            )
            self._task = self._bar.add_task(
                "training", total=total_steps, completed=first_step, loss="-", speed="-", eta="-"
            )
            self._bar.start()

    def update(self, step: int, epoch: int, loss: float, throughput: float) -> None:
        """After optimizer step ``step`` (counted from 1): the mean training loss since the
        last evaluation and the units (tokens, sentences, ...) per second."""
        if self._bar is None:
            return
        elapsed = time.monotonic() - self.started
        eta = (self.total_steps - step) * elapsed / max(step - self.first_step, 1)
        if self.budget is not None:
            eta = min(eta, self.budget - elapsed)
        self._bar.update(
            self._task,
            completed=step,
            description=f"epoch {epoch + 1}",
            loss=f"{loss:.3f}",
            speed=f"{throughput:,.0f}",
            eta=format_duration(eta),
        )

    def log(self, record: dict[str, Any]) -> None:
        """Print an evaluation record as one line (above the bar when there is one)."""
        self.console.print(format_record(record), soft_wrap=True)

    def note(self, text: str) -> None:
        """Print one line of news about the run (above the bar when there is one)."""
        self.console.print(text, soft_wrap=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
