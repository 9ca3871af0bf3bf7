"""``rnnkit serve RUN [--host H] [--port P] [--token T] [--workers N] [--max-batch-size B]
[--max-wait-ms MS] [--max-body-bytes ..] [--max-input-chars ..] [--max-inputs ..]
[--max-new-tokens ..]``: an HTTP API over a trained run (`rnnkit.serve`).

It listens on loopback unless ``--host`` says otherwise, and prints the API's URL and its
documentation page (``/docs``). The token may come from ``RNNKIT_SERVE_TOKEN`` instead of
``--token``, so that it does not show in ``ps``. SIGTERM or Ctrl+C stops it gracefully.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rnnkit.errors import UserError
from rnnkit.serve.settings import ServeSettings

if TYPE_CHECKING:
    from rnnkit.tasks import LoadedRun

DEFAULTS = ServeSettings()
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def serve(
    run: Annotated[Path, typer.Argument(help="A run directory of any task.")],
    host: Annotated[
        str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")
    ] = DEFAULTS.host,
    port: Annotated[int, typer.Option(help="Port to listen on.")] = DEFAULTS.port,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="RNNKIT_SERVE_TOKEN",
            help="Require 'Authorization: Bearer TOKEN' on every /v1/ call.",
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option(help="Server processes, each with its own copy of the model.")
    ] = DEFAULTS.workers,
    max_batch_size: Annotated[
        int, typer.Option(help="Most inputs run as one batch (1: no micro-batching).")
    ] = DEFAULTS.max_batch_size,
    max_wait_ms: Annotated[
        float,
        typer.Option(
            help="How long an idle model waits for more inputs after a batch's first; 0: "
            "start at once (inputs arriving while it works form the next batch)."
        ),
    ] = DEFAULTS.max_wait_ms,
    max_body_bytes: Annotated[
        int, typer.Option(help="Largest request body (larger: 413).")
    ] = DEFAULTS.max_body_bytes,
    max_input_chars: Annotated[
        int, typer.Option(help="Longest text input or prompt, in characters (longer: 422).")
    ] = DEFAULTS.max_input_chars,
    max_inputs: Annotated[
        int, typer.Option(help="Most inputs (texts, series, sketches) in one request.")
    ] = DEFAULTS.max_inputs,
    max_new_tokens: Annotated[
        int, typer.Option(help="Most tokens one generate request may ask for.")
    ] = DEFAULTS.max_new_tokens,
) -> None:
    """Serve a trained model over HTTP: JSON in, JSON (or a token stream) out."""
    for module in ("fastapi", "uvicorn"):
        if find_spec(module) is None:
            raise UserError("rnnkit serve needs the serve extra: pip install 'rnnkit[serve]'")
    from rnnkit.serve import run_server

    settings = ServeSettings(
        host=host, port=port, token=token, workers=workers, max_batch_size=max_batch_size,
        max_wait_ms=max_wait_ms, max_body_bytes=max_body_bytes, max_input_chars=max_input_chars,
        max_inputs=max_inputs, max_new_tokens=max_new_tokens,
    )  # fmt: skip

    def announce(loaded: LoadedRun) -> None:
        url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        typer.echo(f"Serving the {loaded.task.name} model of {run} at {url}")
        typer.echo(f"API documentation: {url}/docs")
        if host not in LOOPBACK and token is None:
            typer.echo(
                f"rnnkit: warning: listening on {host} without --token: anyone who can reach "
                "this port can use the model",
                err=True,
            )

    run_server(run, settings, on_loaded=announce)
