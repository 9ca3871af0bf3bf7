"""The routes of each capability a task may have (`rnnkit.tasks.capabilities`), one module
each; `task_endpoints` gives those the loaded task has, and no others."""

from __future__ import annotations

from collections.abc import Callable

from rnnkit.serve.endpoints import Endpoints, ServeContext
from rnnkit.serve.routes.draw import draw_endpoints
from rnnkit.serve.routes.forecast import forecast_endpoints
from rnnkit.serve.routes.generate import generate_endpoints
from rnnkit.serve.routes.info import info_router
from rnnkit.serve.routes.media import caption_endpoints, transcribe_endpoints
from rnnkit.serve.routes.predict import predict_endpoints
from rnnkit.serve.routes.translate import translate_endpoints
from rnnkit.tasks import Captions, Draws, Forecasts, Generates, Predicts, Transcribes, Translates

CAPABILITIES: list[tuple[type, Callable[[ServeContext], Endpoints]]] = [
    (Predicts, predict_endpoints),
    (Translates, translate_endpoints),
    (Forecasts, forecast_endpoints),
    (Generates, generate_endpoints),
    (Transcribes, transcribe_endpoints),
    (Captions, caption_endpoints),
    (Draws, draw_endpoints),
]


def task_endpoints(context: ServeContext) -> list[Endpoints]:
    """The endpoints of every capability the run's task has."""
    task = context.run.task
    return [build(context) for kind, build in CAPABILITIES if isinstance(task, kind)]


__all__ = ["info_router", "task_endpoints"]
