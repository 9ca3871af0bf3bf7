"""``rnnkit draw RUN [--from SKETCH [--points K]] [--num 9] [--temperature 0.4] [--seed S]
--out grid.svg``: sketches drawn by a trained sketch model (``rnnkit train sketch``).

``--out`` saves them as a grid of pictures: ``.svg`` (written by rnnkit), ``.png`` or
``.pdf`` (matplotlib). ``--json`` prints each sketch as one line of JSON, a list of
``[dx, dy, pen_lifted]`` rows in the data's units — a file of one such line is a valid
``--from``.

``--from`` starts every sketch with a partial one, which the model completes. It reads:

* ``.json`` — a list of ``[dx, dy, pen_lifted]`` rows (stroke-3, as ``--json`` prints);
* ``.ndjson`` — the first drawing of a Quick, Draw! file;
* ``.npz`` — the first ``test`` sketch of a Sketch-RNN data file;
* ``.npy`` — a ``(points, 3)`` stroke-3 array;

and ``--points K`` keeps its first K points (e.g. the head of a sheep, for the body to come).
The temperature τ (> 0) trades variety (τ near 1) for tidiness (τ near 0).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from rnnkit.errors import UserError


def draw(
    run: Annotated[Path, typer.Argument(help="A sketch run directory.")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Save a grid of the sketches (.svg, .png, .pdf); --out or --json needed."
        ),
    ] = None,
    start: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="A partial sketch to complete (.json, .npy; the first of an .ndjson, the first "
            "test sketch of an .npz).",
        ),
    ] = None,
    points: Annotated[
        int | None, typer.Option("--points", help="Keep only the first K points of --from.")
    ] = None,
    num: Annotated[int, typer.Option("--num", help="Number of sketches.")] = 9,
    temperature: Annotated[
        float, typer.Option("--temperature", help="Sampling temperature τ, > 0.")
    ] = 0.4,
    seed: Annotated[int | None, typer.Option(help="Seed, for repeatable sketches.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print each sketch as JSON stroke-3 rows.")
    ] = False,
) -> None:
    """Draw sketches with a trained sketch model, or complete a partial one."""
    from rnnkit.cli.sketch_figures import check_drawing_path, save_drawing
    from rnnkit.data.sketch_files import read_sketch
    from rnnkit.tasks import Draws, load_run

    _check_options(out, as_json, num, temperature, points, start)
    if out is not None:
        check_drawing_path(out)
    partial = None if start is None else read_sketch(start, points)
    loaded = load_run(run)
    if not isinstance(loaded.task, Draws):
        raise UserError(f"a {loaded.task.name} model does not draw sketches", path=run)
    sketches = loaded.task.draw(loaded.model, num, temperature, start=partial, seed=seed)
    if as_json:
        for sketch in sketches:
            typer.echo(json.dumps(_rows(sketch)))
    if out is not None:
        save_drawing(sketches, out)
        if not as_json:
            typer.echo(f"wrote {len(sketches)} sketches to {out}")


def _check_options(
    out: Path | None,
    as_json: bool,
    num: int,
    temperature: float,
    points: int | None,
    start: Path | None,
) -> None:
    if out is None and not as_json:
        raise UserError("give --out FILE (.svg, .png, .pdf) to save the sketches, or --json")
    if num < 1:
        raise UserError(f"--num must be at least 1, got {num}")
    if temperature <= 0:
        raise UserError(f"--temperature must be > 0, got {temperature}")
    if points is not None and (points < 1 or start is None):
        raise UserError("--points must be at least 1, and goes with --from")


def _rows(sketch: Any) -> list[list[float]]:
    """A stroke-3 array as JSON rows ``[dx, dy, pen_lifted]`` (offsets to 3 decimals)."""
    return [[round(float(dx), 3), round(float(dy), 3), int(pen)] for dx, dy, pen in sketch]
