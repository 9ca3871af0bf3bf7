"""``builtin:scenes``: generated deterministically, and every caption says what is drawn —
checked on the pixels: each shape's colour at its centre, its kind from how much of its bounding
box it fills, and the relation from the positions."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import raised
from rnnkit.data.builtin_scenes import (
    BACKGROUND,
    COLOURS,
    SIZE,
    Scene,
    Shape,
    builtin_images,
    builtin_scenes,
)

FILL = {"square": (0.95, 1.0), "circle": (0.7, 0.9), "triangle": (0.4, 0.65)}  # of the box


def kind_drawn(pixels: np.ndarray, shape: Shape) -> str:
    """The kind of the shape at ``shape.centre`` judged from the image: the share of its
    bounding box that its colour fills."""
    x, y = shape.centre
    r = shape.radius + 1
    window = pixels[max(y - r, 0) : y + r + 1, max(x - r, 0) : x + r + 1]
    mask = (window == COLOURS[shape.colour]).all(-1)
    rows, columns = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    box = (rows[-1] - rows[0] + 1) * (columns[-1] - columns[0] + 1)
    fill = mask.sum() / box
    return next(kind for kind, (low, high) in FILL.items() if low <= fill <= high)


def test_the_sets_are_deterministic_and_sized():
    assert builtin_scenes("builtin:scenes-test") == builtin_scenes("builtin:scenes-test")
    first, again = builtin_images("builtin:scenes")[:3], builtin_images("builtin:scenes")[:3]
    assert [a.image.tobytes() for a in first] == [b.image.tobytes() for b in again]
    assert len(builtin_scenes("builtin:scenes")) == 2000
    tests = builtin_images("builtin:scenes-test")
    assert len(tests) == 300 and tests[0].name == "builtin:scenes-test#1"
    assert tests[0].image.size == (SIZE, SIZE) and tests[0].image.mode == "RGB"
    assert builtin_scenes("builtin:scenes")[0] != builtin_scenes("builtin:scenes-test")[0]


def test_unknown_names_list_the_sets():
    assert "choose one of: builtin:scenes, builtin:scenes-test" in raised(
        lambda: builtin_images("builtin:shapes")
    )


@pytest.mark.parametrize("scene", builtin_scenes("builtin:scenes-test")[:60])
def test_captions_say_what_is_drawn(scene: Scene):
    pixels = np.asarray(scene.draw())
    assert tuple(pixels[0, 0]) == BACKGROUND or tuple(pixels[-1, -1]) == BACKGROUND
    for shape in (scene.first, scene.second):
        x, y = shape.centre
        assert tuple(pixels[y, x]) == COLOURS[shape.colour]
        assert kind_drawn(pixels, shape) == shape.kind
    (x1, y1), (x2, y2) = scene.first.centre, scene.second.centre
    along, across = (y2 - y1, x2 - x1) if scene.axis == "vertical" else (x2 - x1, y2 - y1)
    gap = along - scene.first.radius - scene.second.radius
    assert gap >= 3 and abs(across) <= along / 2  # apart, and clearly in that relation
    a, b = scene.first.words, scene.second.words
    if scene.axis == "vertical":  # y grows downwards: the first is above
        expected = {f"a {a} above a {b}", f"a {b} below a {a}", f"a {b} under a {a}"}
    else:
        expected = {f"a {a} to the left of a {b}", f"a {b} to the right of a {a}"}
    assert set(scene.captions()) == expected | {f"a {a} and a {b}"}


def test_every_shape_and_colour_and_both_relations_occur():
    scenes = builtin_scenes("builtin:scenes")
    shapes = {(s.kind, s.colour) for scene in scenes for s in (scene.first, scene.second)}
    assert len(shapes) == 12 and {scene.axis for scene in scenes} == {"vertical", "horizontal"}
    assert all(scene.first.words != scene.second.words for scene in scenes)
