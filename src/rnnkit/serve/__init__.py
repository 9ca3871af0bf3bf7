"""``rnnkit serve``: an HTTP API (FastAPI + uvicorn) over a trained run directory.

`create_app` builds the app for a loaded run (`rnnkit.tasks.load_run`): it answers with what
the library's methods answer, and registers only the routes the run's task supports.
`run_server` serves a run directory with uvicorn. `ServeSettings` holds where it listens, the
token, the micro-batching and the request limits.

`create_app` and `run_server` need the ``serve`` extra (fastapi, uvicorn): they are imported
on first use, so that `ServeSettings` (and the ``rnnkit`` command) work without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rnnkit.serve.settings import ServeSettings

if TYPE_CHECKING:
    from rnnkit.serve.app import create_app
    from rnnkit.serve.server import run_server

__all__ = ["ServeSettings", "create_app", "run_server"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from rnnkit.serve.app import create_app

        return create_app
    if name == "run_server":
        from rnnkit.serve.server import run_server

        return run_server
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
