"""Which graphs each task exports: task name -> the function that plans its export.

Listed by hand and imported only when asked for, like the task registry
(`rnnkit.tasks.registry`); a task missing here cannot be exported, and says so.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from rnnkit.errors import UserError
from rnnkit.export.graph import ExportPlan
from rnnkit.tasks.runs import LoadedRun

PLANS: dict[str, str] = {
    "classify": "rnnkit.export.classify_graphs:plan",
    "tag": "rnnkit.export.tag_graphs:plan",
    "lm": "rnnkit.export.lm_graphs:plan",
    "translate": "rnnkit.export.translate_graphs:plan",
    "forecast": "rnnkit.export.forecast_graphs:plan",
    "speech": "rnnkit.export.speech_graphs:plan",
    "generate": "rnnkit.export.generate_graphs:plan",
    "caption": "rnnkit.export.caption_graphs:plan",
    "sketch": "rnnkit.export.sketch_graphs:plan",
}


def plan_export(run: LoadedRun) -> ExportPlan:
    """The graphs (and facts) that make up ``run``'s exported model."""
    name = run.task.name
    if name not in PLANS:
        raise UserError(f"a {name} model cannot be exported to ONNX yet")
    module, attribute = PLANS[name].split(":")
    planner: Callable[[LoadedRun], ExportPlan] = getattr(importlib.import_module(module), attribute)
    return planner(run)
