"""Sketches as Sketch-RNN reads them (Ha & Eck 2017): the stroke-3 and stroke-5 formats, the
scale factor of the offsets, the length filter and the random-scale augmentation.

**stroke-3** — one row per point, ``(dx, dy, pen_lifted)``: the offset from the previous point
(the first point is the origin), and 1 where the pen is lifted after this point, ending
the stroke. A drawing of ``T`` points is a ``(T, 3)`` array; the files of
`rnnkit.data.sketch_files` give them as ``float32``.

**stroke-5** — ``(dx, dy, p1, p2, p3)`` with a one-hot pen state: p1 the pen stays down and
draws to the next point, p2 it is lifted after this point, p3 the sketch has ended. A sketch is
padded to ``N_max`` rows with ``(0, 0, 0, 0, 1)``, so every row after the last point says
"ended"::

    stroke-3  [[ 5, 0, 0], [0, 5, 1], [-5, 0, 1]]
    stroke-5  [[ 5, 0, 1, 0, 0], [0, 5, 0, 1, 0], [-5, 0, 0, 1, 0], [0, 0, 0, 0, 1], ...]

`to_stroke3` undoes `to_stroke5` exactly (the rows before the first end row).

**Scale.** The offsets are divided by one factor, the standard deviation of every ``dx`` and
``dy`` of the training set pooled together (``σ = std([dx_1, ..., dx_n, dy_1, ..., dy_n])``,
population std, as the paper's code computes it), and the same factor is applied to every
split and saved with the run, so drawings come back in the original units.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

END_ROW = (0.0, 0.0, 0.0, 0.0, 1.0)


def lines_to_stroke3(lines: Sequence[np.ndarray]) -> np.ndarray:
    """Strokes of absolute points (each ``(K, 2)``: x, y) as one stroke-3 array ``(ΣK, 3)``:
    the offset of each point from the previous one, and the pen lifted after each stroke's
    last point. The drawing is moved so that its first point is the origin — its first row is
    ``(0, 0, pen)`` — as the Sketch-RNN data sets start every drawing where the pen first
    touches; only the position on the page is dropped."""
    points = np.concatenate([np.asarray(line, dtype=np.float64) for line in lines])  # (T, 2)
    pen = np.concatenate([np.eye(1, len(line), len(line) - 1)[0] for line in lines])  # (T,)
    offsets = np.diff(points, axis=0, prepend=points[:1])  # (T, 2), the first (0, 0)
    return np.column_stack([offsets, pen]).astype(np.float32)


def stroke3_to_lines(stroke3: np.ndarray) -> list[np.ndarray]:
    """The strokes of a stroke-3 sketch as absolute points, each ``(K, 2)``: the running sum
    of the offsets, cut after every point with the pen lifted."""
    points = np.cumsum(np.asarray(stroke3, dtype=np.float64)[:, :2], axis=0)  # (T, 2)
    ends = np.flatnonzero(np.asarray(stroke3)[:, 2] > 0.5) + 1
    return [line for line in np.split(points, ends) if len(line)]


def to_stroke5(stroke3: np.ndarray, n_max: int) -> np.ndarray:
    """A stroke-3 sketch ``(T, 3)`` as stroke-5 ``(n_max, 5)`` float32, rows ``T..n_max-1``
    the end row ``(0, 0, 0, 0, 1)``; ``n_max >= T``."""
    length = len(stroke3)
    if length > n_max:
        raise ValueError(f"a sketch of {length} points does not fit in {n_max} rows")
    result = np.tile(np.asarray(END_ROW, dtype=np.float32), (n_max, 1))  # (n_max, 5)
    lifted = np.asarray(stroke3[:, 2], dtype=np.float32)
    result[:length, :2] = stroke3[:, :2]
    result[:length, 2] = 1 - lifted
    result[:length, 3] = lifted
    result[:length, 4] = 0
    return result


def to_stroke3(stroke5: np.ndarray) -> np.ndarray:
    """The rows of a stroke-5 sketch before its first end row (p3 = 1) as stroke-3 ``(T, 3)``:
    ``(dx, dy, p2)``."""
    stroke5 = np.asarray(stroke5)
    ended = np.flatnonzero(stroke5[:, 4] > 0.5)
    length = int(ended[0]) if len(ended) else len(stroke5)
    return np.column_stack([stroke5[:length, :2], stroke5[:length, 3]]).astype(np.float32)


def scale_factor(sketches: Sequence[np.ndarray]) -> float:
    """The population standard deviation of every ``dx`` and ``dy`` of ``sketches`` pooled
    together (1.0 when there is nothing to measure, or no spread)."""
    if not sketches:
        return 1.0
    std = float(np.std(np.concatenate([np.ravel(s[:, :2]) for s in sketches])))
    return std if std > 0 else 1.0


def rescale(sketch: np.ndarray, factor: float) -> np.ndarray:
    """``sketch`` with its offsets multiplied by ``factor`` (its pen column kept)."""
    scaled = np.array(sketch, dtype=np.float32)
    scaled[:, :2] *= factor
    return scaled


def within_length(sketches: Sequence[np.ndarray], max_length: int) -> tuple[list[np.ndarray], int]:
    """The sketches of 1 to ``max_length`` points, and how many others were dropped."""
    kept = [s for s in sketches if 1 <= len(s) <= max_length]
    return kept, len(sketches) - len(kept)


def random_scale(sketch: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """The paper's augmentation: ``dx`` and ``dy`` each multiplied by its own factor drawn
    uniformly from ``[1 - amount, 1 + amount]``."""
    factors = rng.uniform(1 - amount, 1 + amount, size=2).astype(np.float32)
    augmented = np.array(sketch, dtype=np.float32)
    augmented[:, :2] *= factors
    return augmented
