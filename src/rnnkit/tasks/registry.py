"""The task registry: task name -> the `Task` class that reads its data, builds its model,
computes its loss and evaluates its metrics.

Tasks are listed here by hand (no scanning of modules) and imported only when asked for, so
``rnnkit --help`` stays fast. A run directory records its task in ``config.yaml``.
"""

from __future__ import annotations

import importlib

from rnnkit.errors import UserError
from rnnkit.train.task import Task

TASKS: dict[str, str] = {
    "lm": "rnnkit.tasks.lm:LanguageModelling",
    "classify": "rnnkit.tasks.classify:Classification",
    "tag": "rnnkit.tasks.tag:Tagging",
    "translate": "rnnkit.tasks.translate:Translation",
    "forecast": "rnnkit.tasks.forecast:Forecasting",
    "speech": "rnnkit.tasks.speech:SpeechRecognition",
    "generate": "rnnkit.tasks.generate:ConditionalGeneration",
    "caption": "rnnkit.tasks.caption:Captioning",
    "sketch": "rnnkit.tasks.sketch:SketchGeneration",
}


def task_class(name: str) -> type[Task]:
    """The `Task` subclass registered as ``name``."""
    if name not in TASKS:
        raise UserError(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}")
    module, attribute = TASKS[name].split(":")
    cls: type[Task] = getattr(importlib.import_module(module), attribute)
    return cls
