"""Sketch data: the restricted reading of Sketch-RNN ``.npz`` files (object arrays without
``allow_pickle``), Quick, Draw! ``.ndjson``, stroke-3 <-> stroke-5, the scale factor, the
augmentation and the built-in doodles."""

from __future__ import annotations

import collections
import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from numpy.lib import format as npy_format

from conftest import raised, sketches_of, write
from rnnkit.data.builtin_sketches import builtin_sketches
from rnnkit.data.safe_npz import load_npz
from rnnkit.data.sketch_files import read_ndjson, read_sketch, read_sketch_splits, split_of
from rnnkit.data.sketches import (
    random_scale,
    scale_factor,
    stroke3_to_lines,
    to_stroke3,
    to_stroke5,
    within_length,
)


def write_object_npy(path: Path, payload: bytes, shape: tuple[int, ...] = (1,)) -> Path:
    """An ``.npz`` whose ``train`` member is an object-array header followed by ``payload``."""
    member = io.BytesIO()
    npy_format.write_array_header_1_0(
        member, {"descr": "|O", "fortran_order": False, "shape": shape}
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("train.npy", member.getvalue() + payload)
    return path


# --- .npz files, read without allow_pickle ----------------------------------------------------
def test_reads_object_arrays_of_int16_sketches(tmp_path):
    train, valid = sketches_of([5, 12, 3]), sketches_of([7], seed=1)
    np.savez(tmp_path / "set.npz", train=train, valid=valid, test=np.zeros((2, 4, 3), np.int16))
    loaded = load_npz(tmp_path / "set.npz")
    assert set(loaded) == {"train", "valid", "test"}
    for got, want in zip(loaded["train"], train, strict=True):
        assert got.dtype == np.int16 and np.array_equal(got, want)
    splits = read_sketch_splits(tmp_path / "set.npz")
    assert [len(s) for s in splits["train"]] == [5, 12, 3] and len(splits["test"]) == 2
    assert splits["valid"][0].dtype == np.float32 and np.array_equal(splits["valid"][0], valid[0])


def test_refuses_a_pickle_of_any_other_object(tmp_path):
    array = np.empty(2, dtype=object)
    array[0], array[1] = sketches_of([3])[0], collections.OrderedDict(a=1)
    np.savez(tmp_path / "odd.npz", train=array)
    message = raised(lambda: load_npz(tmp_path / "odd.npz"))
    assert message.startswith(f"{tmp_path / 'odd.npz'}: member 'train' is a pickle naming")
    assert "collections.OrderedDict, which is refused" in message


class RunsACommand:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # what a crafted file does: call os.system when unpickled
        return os.system, (f"touch {self.marker}",)


def test_refuses_a_pickle_that_would_run_a_command(tmp_path):
    marker = tmp_path / "ran"
    path = write_object_npy(tmp_path / "evil.npz", pickle.dumps(RunsACommand(marker)))
    message = raised(lambda: read_sketch_splits(path))
    assert f"naming {os.system.__module__}.system, which is refused" in message
    assert not marker.exists()


class ObjectArrayFromBytes:
    def __reduce__(self):  # only allowed globals, but an object array over raw memory
        from numpy._core.multiarray import _reconstruct

        return _reconstruct, (np.ndarray, (0,), b"b"), (1, (1,), np.dtype("O"), False, b"\1" * 8)


def test_allowed_globals_cannot_build_an_unsafe_array(tmp_path):
    path = write_object_npy(tmp_path / "raw.npz", pickle.dumps(ObjectArrayFromBytes()))
    message = raised(lambda: load_npz(path))
    assert "member 'train' is not a valid pickled array" in message


def test_bad_files_and_elements_are_named(tmp_path):
    not_zip = write(tmp_path, "text.npz", "hello")
    assert raised(lambda: load_npz(not_zip)) == f"{not_zip}: not an .npz file (not a zip archive)"
    array = np.empty(2, dtype=object)
    array[0], array[1] = sketches_of([3])[0], np.zeros((4, 2))
    np.savez(tmp_path / "narrow.npz", train=array)
    message = raised(lambda: read_sketch_splits(tmp_path / "narrow.npz"))
    assert message.startswith(f"{tmp_path / 'narrow.npz'}: sketch 1 of 'train' is not a stroke-3")
    assert "read_sketch_splits" not in message and "shape (4, 2) of float64" in message
    np.savez(tmp_path / "other.npz", x=np.arange(3), y=np.arange(3))
    message = raised(lambda: read_sketch_splits(tmp_path / "other.npz"))
    assert "is not a Sketch-RNN file: it holds no train, valid, test arrays (found: 'x', 'y')" in (
        message
    )
    np.savez(tmp_path / "train_only.npz", train=sketches_of([3]))
    message = raised(
        lambda: split_of(read_sketch_splits(tmp_path / "train_only.npz"), "valid", "x")
    )
    assert message == "x: has no 'valid' sketches (its keys: train)"


# --- Quick, Draw! ndjson ---------------------------------------------------------------------
def test_ndjson_drawings_become_offsets_from_the_first_point(tmp_path):
    lines = [
        '{"word": "cat", "recognized": true, "drawing": '
        "[[[10, 20, 20], [10, 10, 30]], [[0, 5], [0, 5]]]}",
        "",
        '{"drawing": [[[3], [4], [0]]]}',  # a raw drawing: the times are ignored
    ]
    path = write(tmp_path, "cat.ndjson", "\n".join(lines) + "\n")
    first, dot = read_ndjson(path)
    # points (10,10) (20,10) (20,30) | (0,0) (5,5): offsets from the previous point
    assert first.tolist() == [[0, 0, 0], [10, 0, 0], [0, 20, 1], [-20, -30, 0], [5, 5, 1]]
    assert dot.tolist() == [[0, 0, 1]]
    lines_back = stroke3_to_lines(first)
    assert [line.tolist() for line in lines_back] == [
        [[0, 0], [10, 0], [10, 20]],
        [[-10, -10], [-5, -5]],
    ]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"drawing": [[[1, 2], [3]]]}', 'expected "drawing": a list of strokes'),
        ('{"drawing": [[[1, "a"], [3, 4]]]}', 'expected "drawing": a list of strokes'),
        ('{"word": "cat"}', 'expected "drawing": a list of strokes'),
        ('{"drawing": [[[1, 2], [3', "not valid JSON"),
    ],
)
def test_a_malformed_ndjson_line_is_named(tmp_path, line, problem):
    good = '{"drawing": [[[1, 2], [3, 4]]]}'
    path = write(tmp_path, "bad.ndjson", f"{good}\n\n{line}\n{good}\n")
    assert raised(lambda: read_ndjson(path)).startswith(f"{path}:3: {problem}")


def test_json_and_npy_sketches(tmp_path):
    rows = write(tmp_path, "start.json", "[[0, 0, 0], [5, 5, 1], [2, -1, 1]]")
    assert read_sketch(rows, points=2).tolist() == [[0, 0, 0], [5, 5, 1]]
    np.save(tmp_path / "one.npy", np.array([[1, 2, 1]], np.int16))
    assert read_sketch(tmp_path / "one.npy").tolist() == [[1, 2, 1]]
    pen = write(tmp_path, "pen.json", "[[0, 0, 2]]")
    assert "the pen column 0 or 1" in raised(lambda: read_sketch(pen))
    ragged = write(tmp_path, "ragged.json", "[[0, 0, 1], [1, 2]]")
    assert raised(lambda: read_sketch(ragged)).startswith(f"{ragged}: sketch 0: expected [dx")
    other = write(tmp_path, "sketch.txt", "")
    assert "unknown sketch file type .txt" in raised(lambda: read_sketch(other))


# --- formats and statistics ------------------------------------------------------------------
def test_stroke5_round_trip_is_exact():
    for sketch in [*sketches_of([1, 4, 30]), *builtin_sketches("builtin:doodles")["test"][:5]]:
        stroke5 = to_stroke5(sketch, len(sketch) + 3)
        assert np.array_equal(to_stroke3(stroke5), sketch)
        assert stroke5[len(sketch) :].tolist() == [[0, 0, 0, 0, 1]] * 3
        assert np.all(stroke5[: len(sketch), 2:].sum(axis=1) == 1)
    example = np.array([[5, 0, 0], [0, 5, 1], [-5, 0, 1]])
    assert to_stroke5(example, 4).tolist() == [
        [5, 0, 1, 0, 0], [0, 5, 0, 1, 0], [-5, 0, 0, 1, 0], [0, 0, 0, 0, 1],
    ]  # fmt: skip


def test_scale_factor_is_the_pooled_std_of_the_offsets():
    sketches = list(sketches_of([4, 9, 2]))
    pooled = np.concatenate([s[:, 0] for s in sketches] + [s[:, 1] for s in sketches])
    assert scale_factor(sketches) == pytest.approx(np.std(pooled.astype(np.float64)), rel=1e-6)


def test_length_filter_and_augmentation():
    sketches = list(sketches_of([3, 0, 8, 5]))
    kept, dropped = within_length(sketches, 5)
    assert [len(s) for s in kept] == [3, 5] and dropped == 2
    sketch = sketches[2].astype(np.float32)
    augmented = random_scale(sketch, 0.15, np.random.default_rng(0))
    ratios = augmented[:, :2][sketch[:, :2] != 0] / sketch[:, :2][sketch[:, :2] != 0]
    assert np.all((ratios >= 0.85) & (ratios <= 1.15))
    assert np.array_equal(augmented[:, 2], sketch[:, 2])


def test_builtin_doodles_are_deterministic_splits():
    first, second = builtin_sketches("builtin:doodles"), builtin_sketches("builtin:doodles")
    assert {split: len(s) for split, s in first.items()} == {"train": 500, "valid": 50, "test": 50}
    assert all(np.array_equal(a, b) for a, b in zip(first["train"], second["train"], strict=True))
    assert max(len(s) for s in first["train"]) <= 25
    assert "choose builtin:doodles" in raised(lambda: builtin_sketches("builtin:cats"))
