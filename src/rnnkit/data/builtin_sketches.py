"""Built-in sketches, generated (deterministic, no download), for the tour and tests:
``--data builtin:doodles``, which holds three splits as a Sketch-RNN ``.npz`` file does —
``train`` (500 doodles), ``valid`` (50) and ``test`` (50).

Each doodle is one shape of random size (40-110 units, as in Quick, Draw!'s 256 x 256 box) and
slight rotation (±15°), every point jittered by about 1.5 units and rounded to whole units:

* square — one closed stroke through the corners and the middle of each side (9 points);
* triangle — one closed stroke, corners and mid-sides (7 points);
* circle — one closed stroke of 12-20 points;
* zigzag — one open stroke of 5-9 points;
* cross — two strokes of 3 points each (the pen lifted between them).

They are returned as stroke-3 arrays (`rnnkit.data.sketches`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rnnkit.data.sketches import lines_to_stroke3
from rnnkit.errors import UserError

PREFIX = "builtin:"
NAME = "doodles"
SPLITS = {"train": (500, 1), "valid": (50, 2), "test": (50, 3)}  # split -> (doodles, seed)
Lines = list[np.ndarray]


def _polygon(corners: int) -> Callable[[np.random.Generator], Lines]:
    """A closed stroke through ``corners`` corners of a regular polygon and the middle of
    each side, in a unit box centred at 0."""

    def draw(rng: np.random.Generator) -> Lines:
        angles = np.pi / corners + 2 * np.pi * np.arange(corners + 1) / corners
        vertices = 0.5 * np.column_stack([np.cos(angles), np.sin(angles)])  # (C + 1, 2)
        middles = (vertices[:-1] + vertices[1:]) / 2
        points = np.empty((2 * corners + 1, 2))
        points[0::2], points[1::2] = vertices, middles
        return [points]

    return draw


def _circle(rng: np.random.Generator) -> Lines:
    count = int(rng.integers(12, 21))
    angles = 2 * np.pi * np.arange(count + 1) / count
    return [0.5 * np.column_stack([np.cos(angles), np.sin(angles)])]


def _zigzag(rng: np.random.Generator) -> Lines:
    count = int(rng.integers(5, 10))
    x = np.linspace(-0.5, 0.5, count)
    y = np.where(np.arange(count) % 2 == 0, -0.25, 0.25)
    return [np.column_stack([x, y])]


def _cross(rng: np.random.Generator) -> Lines:
    line = np.linspace(-0.5, 0.5, 3)
    return [np.column_stack([line, line]), np.column_stack([line, -line])]


SHAPES: dict[str, Callable[[np.random.Generator], Lines]] = {
    "square": _polygon(4),
    "triangle": _polygon(3),
    "circle": _circle,
    "zigzag": _zigzag,
    "cross": _cross,
}


def _doodle(rng: np.random.Generator) -> np.ndarray:
    """One random shape, sized, rotated and jittered, as stroke-3."""
    shape = list(SHAPES.values())[int(rng.integers(len(SHAPES)))]
    angle = np.deg2rad(rng.uniform(-15, 15))
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    size = rng.uniform(40, 110)
    lines = [
        np.round(size * line @ rotation.T + rng.normal(0, 1.5, line.shape)) for line in shape(rng)
    ]
    return lines_to_stroke3(lines)


def is_builtin(source: str) -> bool:
    return source.startswith(PREFIX)


def builtin_sketches(source: str) -> dict[str, list[np.ndarray]]:
    """The splits of the built-in set ``builtin:NAME`` (stroke-3 arrays, by split)."""
    if source != PREFIX + NAME:
        raise UserError(f"unknown built-in sketches {source!r}; choose {PREFIX}{NAME}")
    splits = {}
    for split, (count, seed) in SPLITS.items():
        rng = np.random.default_rng(seed)
        splits[split] = [_doodle(rng) for _ in range(count)]
    return splits
