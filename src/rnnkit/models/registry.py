"""The task registry: task name -> the `Task` class that reads its data, builds its model,
computes its loss and evaluates its metrics.

Tasks are listed here by hand (no scanning of modules) and imported only when asked for, so
``rnnkit --help`` stays fast. A run directory records its task in ``config.yaml``; `load_run`
rebuilds the task and its model from it for inference.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from torch import nn

from rnnkit.errors import UserError
from rnnkit.train.checkpoint import CONFIG_NAME, LoadedCheckpoint, load_checkpoint
from rnnkit.train.config import load_config
from rnnkit.train.task import Task

TASKS: dict[str, str] = {
    "lm": "rnnkit.tasks.lm:LanguageModelling",
}


def task_class(name: str) -> type[Task]:
    """The `Task` subclass registered as ``name``."""
    if name not in TASKS:
        raise UserError(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}")
    module, attribute = TASKS[name].split(":")
    cls: type[Task] = getattr(importlib.import_module(module), attribute)
    return cls


@dataclass
class LoadedRun:
    """A trained run, ready for inference."""

    task: Task
    model: nn.Module
    checkpoint: LoadedCheckpoint

    @property
    def metrics(self) -> dict[str, Any]:
        return self.checkpoint.metrics


def load_run(run_dir: str | Path, *, map_location: str = "cpu") -> LoadedRun:
    """The task (with its tokenizers) and the best model saved in ``run_dir``, in eval mode."""
    path = Path(run_dir)
    if not (path / CONFIG_NAME).is_file():
        raise UserError("not a run directory (it has no config.yaml)", path=path)
    saved = yaml.safe_load((path / CONFIG_NAME).read_text(encoding="utf-8"))
    name = saved.get("task") if isinstance(saved, dict) else None
    cls = task_class(str(name))
    task = cls(load_config(cls.config_class, path / CONFIG_NAME))
    checkpoint = load_checkpoint(path, map_location=map_location)
    task.load_assets(checkpoint)
    model = task.build_model()
    load_checkpoint(path, model, map_location=map_location)
    return LoadedRun(task, model.eval(), checkpoint)
