"""``rnnkit demo``: the main job end to end on data every machine has.

A two-layer character-level LSTM learns to write like the Python standard library's docstrings
(``builtin:python-docs``) within a few minutes on two CPU cores, then writes a few samples.
It is ``rnnkit train lm`` with the settings below, then ``rnnkit generate``: the same
`train_run` and `load_run`, nothing more.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnkit.checkpoint import CONFIG_NAME
from rnnkit.errors import UserError
from rnnkit.tasks import Generates, load_run, train_run

CORPUS = "builtin:python-docs"
SETTINGS = (
    "model.cell=lstm",
    "model.embedding_dim=64",
    "model.hidden_size=256",
    "model.num_layers=2",
    "model.dropout=0.1",
    "train.batch_size=32",
    "train.bptt=100",
    "train.lr=0.004",
    "train.epochs=100",
    "train.threads=2",
)
PROMPTS = ("Return the ", "If the ", "The ")


@dataclass
class DemoResult:
    run_dir: Path
    metrics: dict[str, Any]
    samples: list[str]


def prepare_run_dir(run_dir: Path) -> None:
    """Start from an empty ``run_dir``: a previous run there is replaced, anything else kept."""
    if run_dir.exists() and any(run_dir.iterdir()):
        if not (run_dir / CONFIG_NAME).is_file():
            raise UserError("exists and is not a run directory; choose another --out", path=run_dir)
        shutil.rmtree(run_dir)


def run_demo(
    run_dir: Path, minutes: float, *, sample_length: int = 240, settings: tuple[str, ...] = ()
) -> DemoResult:
    """Train the demo model for ``minutes`` into ``run_dir`` and sample from it; ``settings``
    (``KEY=VALUE``) override the demo's own."""
    prepare_run_dir(run_dir)
    print(f"Training a character-level LSTM on {CORPUS} for {minutes:g} minutes")
    overrides = [*SETTINGS, f"train.max_minutes={minutes}", *settings]
    metrics = train_run("lm", [CORPUS], run_dir, overrides=overrides)
    run = load_run(run_dir)
    assert isinstance(run.task, Generates)
    samples = [
        run.task.generate(run.model, prompt, sample_length, temperature=0.7, seed=i)[0]
        for i, prompt in enumerate(PROMPTS)
    ]
    return DemoResult(run_dir, metrics, samples)
