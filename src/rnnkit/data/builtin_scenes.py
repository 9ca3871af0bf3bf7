"""Built-in captioned images, generated (deterministic, no download), for the tour and tests:
``--data builtin:scenes`` (2,000 images) and ``builtin:scenes-test`` (300).

Each image is a 64 x 64 plain light-grey canvas with two shapes — a circle, a square or a
triangle, each red, green, blue or yellow, never both alike — one above the other or side by
side (the offset along the other axis at most half the distance, so the relation is clear).
Radii are 7-10 pixels; shapes are drawn by Pillow's ImageDraw without antialiasing, so the pixel
at a shape's centre has exactly its colour. Every image has three or four captions:

    vertical:    "a red circle above a blue square", "a blue square below a red circle",
                 "a blue square under a red circle", "a red circle and a blue square"
    horizontal:  "a red circle to the left of a blue square",
                 "a blue square to the right of a red circle", "a red circle and a blue square"
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw

from rnnkit.data.captions import CaptionedImage
from rnnkit.errors import UserError

PREFIX = "builtin:"
SIZE = 64
SETS = {"scenes": (2000, 1), "scenes-test": (300, 2)}  # name -> (images, seed)
BACKGROUND = (235, 235, 235)
COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 160, 60),
    "blue": (40, 80, 220),
    "yellow": (230, 200, 30),
}
SHAPES = ("circle", "square", "triangle")
Axis = Literal["vertical", "horizontal"]


@dataclass(frozen=True)
class Shape:
    """A shape on the canvas: its kind, colour name, centre ``(x, y)`` in pixels and radius."""

    kind: str
    colour: str
    centre: tuple[int, int]
    radius: int

    @property
    def words(self) -> str:
        """e.g. ``"red circle"``."""
        return f"{self.colour} {self.kind}"


@dataclass(frozen=True)
class Scene:
    """Two shapes: ``first`` is above (``vertical``) or left of (``horizontal``) ``second``."""

    first: Shape
    second: Shape
    axis: Axis

    def captions(self) -> tuple[str, ...]:
        """The scene's reference captions (see the module docstring)."""
        a, b = self.first.words, self.second.words
        both = f"a {a} and a {b}"
        if self.axis == "vertical":
            return f"a {a} above a {b}", f"a {b} below a {a}", f"a {b} under a {a}", both
        return f"a {a} to the left of a {b}", f"a {b} to the right of a {a}", both

    def draw(self) -> Image.Image:
        """The scene as a ``SIZE x SIZE`` RGB image."""
        image = Image.new("RGB", (SIZE, SIZE), BACKGROUND)
        canvas = ImageDraw.Draw(image)
        for shape in (self.first, self.second):
            _draw_shape(canvas, shape)
        return image


def _draw_shape(canvas: ImageDraw.ImageDraw, shape: Shape) -> None:
    (x, y), r, fill = shape.centre, shape.radius, COLOURS[shape.colour]
    if shape.kind == "circle":
        canvas.ellipse([x - r, y - r, x + r, y + r], fill=fill)
    elif shape.kind == "square":
        half = round(r * 0.85)  # about the circle's area
        canvas.rectangle([x - half, y - half, x + half, y + half], fill=fill)
    else:  # an upright equilateral triangle whose centroid is the centre
        dx = r * math.sqrt(3) / 2
        canvas.polygon([(x, y - r), (x - dx, y + r / 2), (x + dx, y + r / 2)], fill=fill)


def random_scene(rng: np.random.Generator) -> Scene:
    """A scene drawn at random: two different shapes, an axis, and their positions."""
    kinds = [(str(rng.choice(SHAPES)), str(rng.choice(list(COLOURS)))) for _ in range(2)]
    while kinds[1] == kinds[0]:
        kinds[1] = (str(rng.choice(SHAPES)), str(rng.choice(list(COLOURS))))
    radii = [int(rng.integers(7, 11)) for _ in range(2)]
    (r0, r1), half = radii, SIZE // 2
    # along the axis: the first shape in the first half, the second after it, 3 pixels apart
    a0 = int(rng.integers(r0 + 1, min(half, SIZE - r0 - 2 * r1 - 4)))
    along = [a0, int(rng.integers(max(half, a0 + r0 + r1 + 3), SIZE - r1 - 1))]
    distance = along[1] - along[0]
    # across the axis: the second within half the distance of the first, both on the canvas
    first_across = int(rng.integers(r0 + 1, SIZE - r0 - 1))
    low, high = r1 + 1, SIZE - r1 - 2
    offset = int(rng.integers(-(distance // 2), distance // 2 + 1))
    across = [first_across, min(max(first_across + offset, low), high)]
    axis: Axis = "vertical" if rng.random() < 0.5 else "horizontal"
    centres = [(c, a) if axis == "vertical" else (a, c) for a, c in zip(along, across, strict=True)]
    first, second = (
        Shape(kind, colour, centre, r)
        for (kind, colour), centre, r in zip(kinds, centres, radii, strict=True)
    )
    return Scene(first, second, axis)


def builtin_scenes(name: str) -> list[Scene]:
    """The scenes of the built-in set ``builtin:NAME``, the same on every machine."""
    key = name.removeprefix(PREFIX)
    if key not in SETS:
        raise UserError(
            f"unknown built-in image set {name!r}; choose one of: "
            + ", ".join(PREFIX + k for k in SETS)
        )
    count, seed = SETS[key]
    rng = np.random.default_rng(seed)
    return [random_scene(rng) for _ in range(count)]


def builtin_images(name: str) -> list[CaptionedImage]:
    """The images of ``builtin:NAME`` with their captions, drawn in memory; image ``i``
    (from 1) is named ``builtin:NAME#i``."""
    key = name.removeprefix(PREFIX)
    return [
        CaptionedImage(f"{PREFIX}{key}#{index}", scene.draw(), scene.captions(), PREFIX + key)
        for index, scene in enumerate(builtin_scenes(name), start=1)
    ]
