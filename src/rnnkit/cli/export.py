"""``rnnkit export RUN --format onnx --out model.onnx``: a trained run as ONNX graphs, each
checked against PyTorch with ONNX Runtime before it is written."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rnnkit.errors import UserError

FORMATS = ("onnx",)


def export(
    run: Annotated[Path, typer.Argument(help="A run directory (any task).")],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="The .onnx file to write, e.g. deploy/model.onnx; further graphs "
            "(model.step.onnx, ...), model.json (what each graph takes and gives) and the "
            "tokenizer / label files go beside it, named after it.",
        ),
    ],
    export_format: Annotated[
        str, typer.Option("--format", help="The format: onnx (the only one so far).")
    ] = "onnx",
    tolerance: Annotated[
        float,
        typer.Option(
            "--tolerance",
            help="The largest difference to PyTorch accepted at any checked batch size and "
            "length; beyond it nothing is written.",
        ),
    ] = 1e-4,
) -> None:
    """Export a trained model to ONNX, checked with ONNX Runtime."""
    from rnnkit.export import export_run
    from rnnkit.tasks import load_run

    if export_format not in FORMATS:
        raise UserError(f"unknown format {export_format!r}; choose one of: {', '.join(FORMATS)}")
    report = export_run(load_run(run), out, tolerance=tolerance)
    for graph in report.graphs:
        typer.echo(
            f"{graph.path}\t{graph.name}\tmax |ONNX Runtime - PyTorch| = {graph.max_difference:.2g}"
        )
    typer.echo(f"{report.description}\tinputs, outputs and facts of the graphs")
    for asset in report.assets:
        typer.echo(str(asset))
