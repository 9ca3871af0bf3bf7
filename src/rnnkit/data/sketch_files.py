"""Read sketches (stroke-3 arrays, `rnnkit.data.sketches`) from the files people have:

* ``.npz`` — Sketch-RNN's data sets: keys ``train`` / ``valid`` / ``test``, each an object
  array of ``(N_i, 3)`` int16 stroke-3 arrays, read without ``allow_pickle``
  (`rnnkit.data.safe_npz`); a numeric ``(N, T, 3)`` array is read as N sketches too;
* ``.ndjson`` — Quick, Draw!'s simplified drawings, one JSON object per line with
  ``"drawing": [[[x, ...], [y, ...]], ...]`` (one ``[xs, ys]`` per stroke, absolute
  coordinates; a third list of times, as the raw files have, is ignored) and optional
  ``"word"`` / ``"recognized"``, converted to stroke-3 (`lines_to_stroke3`);
* ``.json`` — one sketch as a list of ``[dx, dy, pen_lifted]`` rows (what ``rnnkit draw
  --json`` prints), or a list of such sketches;
* ``.npy`` — one numeric ``(T, 3)`` stroke-3 array (``allow_pickle=False``);
* ``builtin:doodles`` (`rnnkit.data.builtin_sketches`).

`read_sketch_splits` gives a source's sketches by split — an ``.npz``'s (or the built-in set's)
keys, or `ALL` for the other formats. Every sketch must be a 2-D array of finite numbers with
3 columns and a pen column of 0s and 1s; anything else is a `UserError` naming the file (and
the line of an ``.ndjson`` file).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.builtin_sketches import builtin_sketches, is_builtin
from rnnkit.data.readers import iter_lines, json_lines, read_text
from rnnkit.data.safe_npz import load_npz
from rnnkit.data.sketches import lines_to_stroke3
from rnnkit.errors import UserError

ALL = "all"  # the one split of a file without splits
NPZ_SPLITS = ("train", "valid", "test")
SUFFIXES = (".npz", ".ndjson", ".json", ".npy")
DRAWING_HELP = 'expected "drawing": a list of strokes, each [[x, ...], [y, ...]]'


def checked_stroke3(value: Any, path: str | Path, what: str, line: int | None = None) -> np.ndarray:
    """``value`` as a float32 stroke-3 array, or a `UserError` saying what ``what`` (e.g.
    "sketch 3 of 'train'") is instead."""
    array = np.asarray(value) if not isinstance(value, np.ndarray) else value
    if array.ndim != 2 or array.shape[1] != 3 or array.dtype.kind not in "iuf":
        found = f"an array of shape {array.shape} of {array.dtype}" if array.ndim else repr(value)
        raise UserError(
            f"{what} is not a stroke-3 array of numbers (points x 3): found {found}",
            path=path,
            line=line,
        )
    if not np.all(np.isfinite(array)) or not np.all(np.isin(array[:, 2], (0, 1))):
        raise UserError(
            f"{what}: offsets must be finite and the pen column 0 or 1", path=path, line=line
        )
    return array.astype(np.float32)


def read_npz(path: str | Path) -> dict[str, list[np.ndarray]]:
    """The sketches of each split (``train``, ``valid``, ``test``) of a Sketch-RNN ``.npz``
    file; other arrays are not read."""
    arrays = load_npz(path)
    if not set(arrays) & set(NPZ_SPLITS):
        found = ", ".join(map(repr, arrays)) or "none"
        raise UserError(
            f"is not a Sketch-RNN file: it holds no {', '.join(NPZ_SPLITS)} arrays (found: "
            f"{found})",
            path=path,
        )
    splits = {}
    for key, array in arrays.items():
        if key not in NPZ_SPLITS:
            continue
        if array.ndim not in (1, 3):
            raise UserError(
                f"{key!r} is not a list of sketches (an array of shape {array.shape})", path=path
            )
        splits[key] = [
            checked_stroke3(sketch, path, f"sketch {index} of {key!r}")
            for index, sketch in enumerate(array)
        ]
    if not splits:
        raise UserError("holds no arrays", path=path)
    return splits


def _strokes(drawing: Any) -> list[np.ndarray] | None:
    """The strokes of a Quick, Draw! ``drawing`` as ``(K, 2)`` point arrays (None if it is
    malformed)."""
    if not isinstance(drawing, list) or not drawing:
        return None
    lines = []
    for stroke in drawing:
        if not isinstance(stroke, list) or len(stroke) < 2:
            return None
        xs, ys = stroke[0], stroke[1]
        if not isinstance(xs, list) or not isinstance(ys, list) or len(xs) != len(ys) or not xs:
            return None
        numbers = [v for v in xs + ys if isinstance(v, int | float) and not isinstance(v, bool)]
        if len(numbers) != 2 * len(xs):
            return None
        lines.append(np.column_stack([xs, ys]).astype(np.float64))
    return lines


def read_ndjson(path: str | Path) -> list[np.ndarray]:
    """The drawings of a Quick, Draw! ``.ndjson`` file as stroke-3 arrays (blank lines
    skipped)."""
    sketches = []
    for number, record in json_lines(iter_lines(path), path):
        lines = _strokes(record.get("drawing")) if isinstance(record, dict) else None
        if lines is None:
            raise UserError(DRAWING_HELP, path=path, line=number)
        sketches.append(checked_stroke3(lines_to_stroke3(lines), path, "the drawing", number))
    if not sketches:
        raise UserError("holds no drawings", path=path)
    return sketches


def read_json(path: str | Path) -> list[np.ndarray]:
    """A sketch (a list of ``[dx, dy, pen_lifted]`` rows) or a list of sketches."""
    try:
        value = json.loads(read_text(path))
    except json.JSONDecodeError as error:
        raise UserError(f"not valid JSON ({error.msg})", path=path, line=error.lineno) from None
    if not isinstance(value, list) or not value:
        raise UserError("expected a list of [dx, dy, pen_lifted] rows", path=path)
    nested = isinstance(value[0], list) and value[0] and isinstance(value[0][0], list)
    sketches = []
    for index, item in enumerate(value if nested else [value]):
        try:
            array = np.array(item, dtype=np.float64)
        except (ValueError, TypeError):
            raise UserError(
                f"sketch {index}: expected [dx, dy, pen_lifted] rows of 3 numbers", path=path
            ) from None
        sketches.append(checked_stroke3(array, path, f"sketch {index}"))
    return sketches


def read_npy(path: str | Path) -> list[np.ndarray]:
    """The one stroke-3 array of an ``.npy`` file."""
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UserError("no such file", path=path) from None
    except ValueError as error:
        raise UserError(f"not a numeric .npy array ({error})", path=path) from None
    return [checked_stroke3(array, path, "the array")]


def read_sketch_splits(source: str | Path) -> dict[str, list[np.ndarray]]:
    """The sketches of ``source`` by split: an ``.npz`` file's keys, the built-in set's
    splits, or ``{ALL: ...}`` for the other formats (see the module docstring)."""
    text = str(source)
    if is_builtin(text):
        return builtin_sketches(text)
    suffix = Path(text).suffix.lower()
    if suffix == ".npz":
        return read_npz(text)
    readers = {".ndjson": read_ndjson, ".json": read_json, ".npy": read_npy}
    if suffix not in readers:
        raise UserError(
            f"unknown sketch file type {suffix or '(none)'}; use {', '.join(SUFFIXES)} or "
            "builtin:doodles",
            path=text,
        )
    return {ALL: readers[suffix](text)}


def split_of(
    splits: dict[str, list[np.ndarray]], split: str, source: str | Path
) -> list[np.ndarray]:
    """The sketches of ``split`` in a source read by `read_sketch_splits`: its key ``split``,
    or all of a file without splits."""
    if split in splits:
        return splits[split]
    if ALL in splits and len(splits) == 1:
        return splits[ALL]
    raise UserError(f"has no {split!r} sketches (its keys: {', '.join(splits)})", path=source)


def read_sketch(source: str | Path, points: int | None = None) -> np.ndarray:
    """One sketch of ``source``: an ``.npz`` file's (or the built-in set's) first ``test``
    sketch, else the first sketch of the file; its first ``points`` points if given."""
    splits = read_sketch_splits(source)
    sketches = splits.get("test") or next(iter(splits.values()))
    if not sketches:
        raise UserError("holds no sketches", path=source)
    return sketches[0] if points is None else sketches[0][:points]
