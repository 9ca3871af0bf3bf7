"""``GET /healthz`` (open even with a token: for load balancers) and ``GET /v1/model``: what
the server serves."""

from __future__ import annotations

from typing import Any

import yaml
from fastapi import APIRouter

import rnnkit
from rnnkit.serve.schemas import Health, ModelInfo
from rnnkit.tasks import LoadedRun


def info_router(run: LoadedRun, endpoints: list[str]) -> APIRouter:
    """The health and model-information routes; ``endpoints`` lists the task's routes."""
    router = APIRouter(tags=["server"])
    info = {
        "task": run.task.name,
        "config": yaml.safe_load(run.checkpoint.config_yaml),
        "metrics": run.metrics,
        "version": rnnkit.__version__,
        "endpoints": ["GET /healthz", "GET /v1/model", *endpoints],
    }

    @router.get("/healthz", response_model=Health, summary="Whether the server answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/v1/model", response_model=ModelInfo, summary="The model this server serves")
    async def model() -> dict[str, Any]:
        """The task, its config and metrics, the rnnkit version and the endpoints served."""
        return info

    return router
