"""Images for captioning: read with Pillow, made RGB, resized, turned into tensors.

An image becomes a model input in two steps, so that a set of images can be kept in memory at a
quarter of the size of its float form:

1. `pixels`: the image (a file, or a Pillow image already in memory) converted to RGB and
   resized to ``size x size`` (bilinear, with Pillow's antialiasing when shrinking; the aspect
   ratio is not kept, so nothing is cropped away) -> ``uint8 (3, size, size)``;
2. `normalise`: ``x = (p / 255 - mean_c) / std_c`` per channel ``c`` -> ``float32`` of the same
   shape (any leading batch dimensions). The default statistics are ImageNet's, which the
   torchvision ResNet weights expect.

A missing, unreadable, corrupt or truncated file is a `UserError` naming it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from rnnkit.errors import UserError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def open_image(path: str | Path, where: str | None = None, line: int | None = None) -> Image.Image:
    """The decoded RGB image in the file ``path``; ``where`` / ``line`` locate the mention of
    the file (a captions file's line) for error messages, which otherwise name the file."""
    path = Path(path)
    named = "" if where is None else f"{path}: "
    place = str(path) if where is None else where
    if not path.is_file():
        raise UserError(f"{named}no such image file", path=place, line=line)
    try:
        with Image.open(path) as image:
            image.load()  # decode now: a truncated file fails here, not later
            return image.convert("RGB")
    except UnidentifiedImageError:
        raise UserError(
            f"{named}not an image file Pillow can read", path=place, line=line
        ) from None
    except (OSError, SyntaxError, ValueError) as error:  # truncated / corrupt data
        raise UserError(
            f"{named}corrupt or truncated image ({error})", path=place, line=line
        ) from None


def pixels(image: Image.Image, size: int) -> Tensor:
    """``uint8 (3, size, size)``: ``image`` in RGB, resized to ``size x size``."""
    resized = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    array = np.asarray(resized, dtype=np.uint8)  # (size, size, 3)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


def normalise(
    batch: Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> Tensor:
    """``float32 (..., 3, H, W)``: ``(p / 255 - mean_c) / std_c`` of ``uint8`` pixels
    ``(..., 3, H, W)``."""
    shape = (3, 1, 1)
    mean_t = torch.tensor(mean, dtype=torch.float32, device=batch.device).view(shape)
    std_t = torch.tensor(std, dtype=torch.float32, device=batch.device).view(shape)
    return (batch.float() / 255.0 - mean_t) / std_t


def load_image(
    path: str | Path,
    size: int,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> Tensor:
    """``float32 (3, size, size)``: the image file ``path`` resized and normalised, ready for an
    image encoder."""
    return normalise(pixels(open_image(path), size), mean, std)
