"""Sketches drawn as a grid of pictures (``rnnkit draw --out``): stroke-3 arrays -> polylines
(a new one after every pen lift) -> an SVG written here, or any other format matplotlib
writes (PNG, PDF).

Each sketch is scaled to fit its square cell, keeping its proportions, and centred; ``y``
grows downward, as in the Quick, Draw! and Sketch-RNN data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rnnkit.cli.figures import check_figure_path, save_figure
from rnnkit.data.sketches import stroke3_to_lines
from rnnkit.errors import UserError

CELL = 160  # pixels (SVG) of one sketch's square
MARGIN = 12
STROKE_WIDTH = 2


def check_drawing_path(path: Path) -> None:
    """Refuse, before any work, a drawing that could not be saved (see `check_figure_path`;
    ``.svg`` is written here)."""
    if path.suffix.lower() == ".svg":
        if path.is_dir() or not path.parent.is_dir():
            raise UserError("not a file in an existing folder", path=path)
    else:
        check_figure_path(path)


def grid_shape(count: int) -> tuple[int, int]:
    """``(rows, columns)`` of a near-square grid of ``count`` cells."""
    columns = max(1, math.ceil(math.sqrt(count)))
    return max(1, math.ceil(count / columns)), columns


def fitted_lines(sketch: np.ndarray, size: float, margin: float) -> list[np.ndarray]:
    """The polylines ``(K, 2)`` of a stroke-3 ``sketch``, scaled and moved into a
    ``size`` x ``size`` square with ``margin`` around."""
    lines = stroke3_to_lines(sketch) if len(sketch) else []
    if not lines:
        return []
    points = np.concatenate(lines)
    low, high = points.min(axis=0), points.max(axis=0)
    scale = (size - 2 * margin) / max(float((high - low).max()), 1e-9)
    shift = (size - scale * (high - low)) / 2 - scale * low  # centres the sketch
    return [line * scale + shift for line in lines]


def svg_grid(sketches: Sequence[np.ndarray]) -> str:
    """An SVG document showing ``sketches`` in a grid, black strokes on white."""
    rows, columns = grid_shape(len(sketches))
    width, height = columns * CELL, rows * CELL
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<g fill="none" stroke="black" stroke-width="{STROKE_WIDTH}" '
        'stroke-linecap="round" stroke-linejoin="round">',
    ]
    for index, sketch in enumerate(sketches):
        corner = np.array([index % columns, index // columns]) * CELL
        for line in fitted_lines(sketch, CELL, MARGIN):
            if len(line) == 1:  # a dot: a zero-length segment, which round caps show
                line = np.repeat(line, 2, axis=0)
            points = " ".join(f"{x:.1f},{y:.1f}" for x, y in line + corner)
            parts.append(f'<polyline points="{points}"/>')
    parts += ["</g>", "</svg>"]
    return "\n".join(parts) + "\n"


def save_drawing(sketches: Sequence[np.ndarray], path: Path) -> None:
    """Write ``sketches`` as a grid to ``path`` (checked by `check_drawing_path`): SVG by
    `svg_grid`, other formats by matplotlib; atomically, a failed write a `UserError`."""
    if path.suffix.lower() != ".svg":
        save_figure(_matplotlib_grid(sketches), path)
        return
    from rnnkit.checkpoint.atomic import write_text_atomic

    try:
        write_text_atomic(path, svg_grid(sketches))
    except OSError as error:
        raise UserError(f"cannot write the drawing: {error.strerror}", path=path) from None


def _matplotlib_grid(sketches: Sequence[np.ndarray]) -> object:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, columns = grid_shape(len(sketches))
    figure, axes = plt.subplots(rows, columns, figsize=(2 * columns, 2 * rows), squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if index < len(sketches):
            for line in fitted_lines(sketches[index], CELL, MARGIN):
                ax.plot(line[:, 0], line[:, 1], color="black", linewidth=1.5, marker="")
            ax.set_xlim(0, CELL)
            ax.set_ylim(CELL, 0)  # y grows downward
            ax.set_aspect("equal")
    figure.tight_layout()
    return figure
