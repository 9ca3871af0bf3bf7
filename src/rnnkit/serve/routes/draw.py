"""``POST /v1/draw`` (tasks that `Draws`): new sketches, or completions of a partial one."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
from fastapi import APIRouter

from rnnkit.serve.endpoints import Endpoints, ServeContext
from rnnkit.serve.limits import check_count
from rnnkit.serve.schemas import Drawing, DrawRequest
from rnnkit.tasks import Draws


def draw_endpoints(context: ServeContext) -> Endpoints:
    """The draw route of a sketch run."""
    task, model = cast(Draws, context.run.task), context.run.model
    router = APIRouter(tags=["draw"])

    @router.post("/v1/draw", response_model=Drawing, summary="Draw sketches")
    async def draw(body: DrawRequest) -> dict[str, Any]:
        """``num`` sketches as stroke-3 rows, each completing ``start`` when given."""
        check_count(body.num, context.settings, "num")
        start = None if body.start is None else np.array(body.start, dtype=np.float32)
        sketches = await context.infer(
            task.draw, model, body.num, body.temperature, start=start, seed=body.seed
        )
        return {"sketches": [np.asarray(sketch, dtype=float).tolist() for sketch in sketches]}

    return Endpoints(router)
