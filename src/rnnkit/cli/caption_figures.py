"""The figure ``rnnkit caption --attention-plot`` saves per image: the image with its caption,
then one panel per word (and the final eos) with the attention it was written with, the
``h x w`` grid of weights upsampled (bilinear) to the image's size and laid over it — light
where the model looked (Xu et al. 2015, figure 2)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from rnnkit.cli.figures import save_figure
from rnnkit.data.images import open_image

COLUMNS = 5
EOS = "<eos>"


def upsampled(weights: list[float], grid: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """The weights of one word ``(h * w,)`` as an ``(H, W)`` map for an image of ``size``
    ``(W, H)``, bilinear between the grid's cell centres."""
    cells = np.asarray(weights, dtype=np.float32).reshape(grid)
    return np.asarray(Image.fromarray(cells).resize(size, Image.Resampling.BILINEAR))  # mode F


def save_attention_figure(
    record: dict[str, Any], path: Path, image: Image.Image | None = None
) -> None:
    """Draw ``record`` (a caption with ``attention`` and ``grid``, as `Captions.caption` gives
    it) over its image — ``image``, or the file ``record["image"]`` — and save it to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picture = image if image is not None else open_image(record["image"])
    rows_of_weights = record["attention"]
    words = [*record["words"], EOS][: len(rows_of_weights)]
    grid = (int(record["grid"][0]), int(record["grid"][1]))
    panels = 1 + len(words)
    columns = min(COLUMNS, panels)
    rows = math.ceil(panels / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.4 * rows), squeeze=False)
    flat = axes.ravel()
    flat[0].imshow(picture)
    flat[0].set_title(Path(record["image"]).name, fontsize=8)
    for axis, word, weights in zip(flat[1:], words, rows_of_weights, strict=False):
        axis.imshow(picture)
        axis.imshow(upsampled(weights, grid, picture.size), cmap="Greys_r", alpha=0.65)
        axis.set_title(word, fontsize=10)
    for axis in flat:
        axis.axis("off")
    figure.suptitle(record["caption"], fontsize=11)
    figure.tight_layout()
    save_figure(figure, path)
