"""`create_app`: the FastAPI application that serves one loaded run.

It registers the routes of the capabilities the run's task has (`rnnkit.serve.routes`), the
JSON error handlers (`rnnkit.serve.errors`), the body limit and, with a token, the bearer-token
check (`rnnkit.serve.security`). Its lifespan starts the batchers before the first request and,
at shutdown — after the server has stopped accepting and the requests in flight have been
answered — stops them (each runs what is still waiting) and ends the inference thread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from fastapi import FastAPI, Security
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer

import rnnkit
from rnnkit.serve.endpoints import ServeContext
from rnnkit.serve.errors import install_error_handlers
from rnnkit.serve.routes import info_router, task_endpoints
from rnnkit.serve.security import BearerTokenMiddleware, BodyLimitMiddleware
from rnnkit.serve.settings import ServeSettings
from rnnkit.tasks import LoadedRun


def create_app(run: LoadedRun, settings: ServeSettings) -> FastAPI:
    """An ASGI app answering for ``run`` under ``settings``."""
    inference = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rnnkit-inference")
    endpoints = task_endpoints(ServeContext(run, settings, inference))
    services = [service for e in endpoints for service in e.services]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for service in services:
            await service.start()
        try:
            yield
        finally:
            for service in reversed(services):
                await service.stop()
            inference.shutdown()

    app = FastAPI(
        title=f"rnnkit: {run.task.name} model",
        version=rnnkit.__version__,
        description=_description(run, settings),
        lifespan=lifespan,
    )
    routes = [f"{method} {route.path}" for e in endpoints for route in e.router.routes
              if isinstance(route, APIRoute) for method in sorted(route.methods or ())]  # fmt: skip
    # the token is checked by BearerTokenMiddleware; declaring the scheme lets /docs send it
    bearer = [Security(HTTPBearer(auto_error=False))] if settings.token else None
    app.include_router(info_router(run, routes), dependencies=bearer)
    for e in endpoints:
        app.include_router(e.router, dependencies=bearer)
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.token:  # added last, so it runs first: no body is read for a refused call
        app.add_middleware(BearerTokenMiddleware, token=settings.token)
    return app


def _description(run: LoadedRun, settings: ServeSettings) -> str:
    """What the /docs page says above the endpoints."""
    text = f"The {run.task.name} model {run.checkpoint.path.name!r}, served by rnnkit."
    if settings.token:
        text += " Calls to /v1/ need the header `Authorization: Bearer TOKEN`."
    return text
