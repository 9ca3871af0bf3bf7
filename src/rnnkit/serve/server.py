"""`run_server`: serve a run directory over HTTP with uvicorn until told to stop.

One worker serves in this process. ``workers`` > 1 has uvicorn start that many processes on one
port, each loading the run itself through the app factory `app_from_environment`; the run
directory and the settings (token included) reach them in the environment variable
`SPEC_VARIABLE`, not on a command line that ``ps`` would show.

SIGTERM (or Ctrl+C) stops the server gracefully: it stops accepting connections, answers the
requests in flight, then drains the batchers (the app's lifespan), and the process exits with
status 0.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI

from rnnkit.errors import UserError
from rnnkit.serve.app import create_app
from rnnkit.serve.settings import ServeSettings
from rnnkit.tasks import LoadedRun, load_run

SPEC_VARIABLE = "RNNKIT_SERVE_SPEC"


def run_server(
    run_dir: str | Path,
    settings: ServeSettings,
    on_loaded: Callable[[LoadedRun], None] | None = None,
) -> None:
    """Serve the run in ``run_dir`` until SIGTERM or SIGINT; ``on_loaded(run)`` is called once
    the run has loaded (a bad run directory is a `rnnkit.errors.UserError` before any
    listening), e.g. to say where the server listens."""
    _check_address(settings.host, settings.port)
    run = load_run(run_dir)
    if on_loaded is not None:
        on_loaded(run)
    options: dict[str, Any] = {"host": settings.host, "port": settings.port}
    with _exit_normally_after_sigterm():
        if settings.workers == 1:
            uvicorn.run(create_app(run, settings), **options)
            return
        del run  # each worker loads its own
        os.environ[SPEC_VARIABLE] = json.dumps(
            {"run_dir": str(run_dir), "settings": settings.to_json()}
        )
        factory = f"{__name__}:{app_from_environment.__name__}"
        uvicorn.run(factory, factory=True, workers=settings.workers, **options)


def app_from_environment() -> FastAPI:
    """The app of a worker process: the run and settings that `run_server` put in
    `SPEC_VARIABLE`."""
    spec = json.loads(os.environ[SPEC_VARIABLE])
    return create_app(load_run(spec["run_dir"]), ServeSettings.from_json(spec["settings"]))


def _check_address(host: str, port: int) -> None:
    """A `UserError` when ``host:port`` cannot be listened on (in use, or not this machine's),
    before the model loads and anything says it is served there."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as error:
            raise UserError(f"cannot listen on {host}:{port}: {error.strerror}") from None


@contextmanager
def _exit_normally_after_sigterm() -> Iterator[None]:
    """Make SIGTERM end the process with status 0 inside the block.

    uvicorn catches SIGTERM, shuts down gracefully, then raises the signal again for the
    handler that was there before it; this is that handler, so a server stopped as asked ends
    normally rather than as killed by the signal."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread; uvicorn leaves them alone too
        return
    previous = signal.signal(signal.SIGTERM, _exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
