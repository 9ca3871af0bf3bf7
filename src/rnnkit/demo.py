"""``rnnkit demo``: the main job end to end on data every machine has.

A two-layer character-level LSTM learns to write like the Python standard library's docstrings
(``builtin:python-docs``) within a few minutes on two CPU cores, then writes a few samples.
It is ``rnnkit train lm`` with the settings below, nothing more.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnkit.errors import UserError
from rnnkit.tasks.lm import LanguageModelling, LMConfig
from rnnkit.train.checkpoint import CONFIG_NAME, load_checkpoint
from rnnkit.train.config import load_config
from rnnkit.train.task import DataSources
from rnnkit.train.trainer import Trainer

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


def run_demo(run_dir: Path, minutes: float, *, sample_length: int = 240) -> DemoResult:
    """Train the demo model for ``minutes`` into ``run_dir`` and sample from it."""
    prepare_run_dir(run_dir)
    config = load_config(LMConfig, overrides=[*SETTINGS, f"train.max_minutes={minutes}"])
    task = LanguageModelling(config)
    task.prepare(DataSources(train=[CORPUS]))
    print(f"Training a character-level LSTM on {CORPUS} for {minutes:g} minutes")
    metrics = Trainer(task, run_dir).fit()
    model = task.build_model()
    load_checkpoint(run_dir, model)
    samples = [
        task.generate(model, prompt, sample_length, temperature=0.7, seed=i)[0]
        for i, prompt in enumerate(PROMPTS)
    ]
    return DemoResult(run_dir, metrics, samples)
