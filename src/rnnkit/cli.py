"""The `rnnkit` command: parses arguments, calls the library, prints."""

from __future__ import annotations

import typer

import rnnkit

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"rnnkit {rnnkit.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Recurrent neural networks: train, evaluate and generate from one command."""


def main() -> None:
    app()
