"""Captions files: images and the sentences that describe them, several per image.

Two formats, told apart by the first line:

- Flickr8k / Flickr30k token files (``Flickr8k.token.txt``), one caption per line::

      1000268201_693b08cb0e.jpg#0<TAB>A child in a pink dress is climbing up a set of stairs .
      1000268201_693b08cb0e.jpg#1<TAB>A girl going into a wooden building .

  (the ``#N`` caption number is optional and ignored);
- CSV with the header ``image,caption`` (Kaggle's Flickr8k ``captions.txt``)::

      image,caption
      1000268201_693b08cb0e.jpg,"A child in a pink dress, climbing up the stairs ."

  Everything after the first comma is the caption, so a comma inside an unquoted caption is
  kept (quoted fields are read as CSV).

Image names are paths relative to the image folder: ``images`` when given (``data.images``);
else the folder ``Images/`` beside the captions file when there is one (Kaggle's layout), else
the captions file's own folder. A malformed line is a `UserError` naming ``file:line``; so is a
caption whose image file is missing, unless ``skip_missing`` (then its captions are left out and
counted). Images are only looked up here, not decoded (`rnnkit.data.images` does that).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from rnnkit.data.readers import read_text
from rnnkit.errors import UserError

IMAGE_FOLDER = "Images"
CSV_HEADER = ["image", "caption"]
TOKEN_FORMAT = "IMAGE#N<TAB>CAPTION (Flickr8k token format)"
CAPTION_NUMBER = re.compile(r"#\d+$")


@dataclass(frozen=True)
class CaptionedImage:
    """One image and its reference captions.

    ``image`` is the file to read (decoded when needed) or an image already in memory (the
    built-in sets); ``name`` is how outputs name it; ``source`` and ``line`` locate its first
    caption for error messages (``line`` None for generated images)."""

    name: str
    image: Path | Image.Image
    captions: tuple[str, ...]
    source: str
    line: int | None = None


@dataclass(frozen=True)
class CaptionLine:
    """One caption as read: the image's name in the file, the text, and the line number."""

    image: str
    caption: str
    line: int


def read_captions(
    path: str | Path, images: str | Path | None = None, *, skip_missing: bool = False
) -> tuple[list[CaptionedImage], int]:
    """``(images with their captions in order of first mention, captions skipped)`` of the
    captions file ``path`` (see the module docstring); only ``skip_missing`` skips any."""
    path = Path(path)
    if not path.is_file():
        raise UserError("no such captions file", path=path)
    lines = _caption_lines(path, read_text(path).splitlines())
    if not lines:
        raise UserError("holds no captions", path=path)
    folder = image_folder(path, images)
    grouped: dict[str, list[CaptionLine]] = {}
    for caption in lines:
        grouped.setdefault(caption.image, []).append(caption)
    found, skipped = [], 0
    for name, captions in grouped.items():
        file = folder / name
        if not file.is_file():
            if skip_missing:
                skipped += len(captions)
                continue
            raise UserError(
                f"no image file {file} (set data.skip_missing=true to leave such captions out)",
                path=path,
                line=captions[0].line,
            )
        texts = tuple(c.caption for c in captions)
        found.append(CaptionedImage(str(file), file, texts, str(path), captions[0].line))
    if not found:
        raise UserError(f"none of its images is in {folder}", path=path)
    return found, skipped


def image_folder(captions: Path, images: str | Path | None) -> Path:
    """Where the image names of the captions file ``captions`` point (module docstring)."""
    if images is not None:
        folder = Path(images)
        if not folder.is_dir():
            raise UserError("data.images: no such folder", path=folder)
        return folder
    beside = captions.parent / IMAGE_FOLDER
    return beside if beside.is_dir() else captions.parent


def _caption_lines(path: Path, lines: list[str]) -> list[CaptionLine]:
    """The captions of a file's ``lines``, in either format; blank lines are skipped."""
    numbered = [(number, line) for number, line in enumerate(lines, 1) if line.strip()]
    if not numbered:
        return []
    first = numbered[0][1]
    if [field.strip().lower() for field in first.split(",")] == CSV_HEADER:
        return [_csv_line(path, number, line) for number, line in numbered[1:]]
    if path.suffix.lower() == ".csv":
        raise UserError("a CSV captions file starts with the header image,caption", path=path)
    return [_token_line(path, number, line) for number, line in numbered]


def _token_line(path: Path, number: int, line: str) -> CaptionLine:
    """``IMAGE#N<TAB>CAPTION``."""
    image, tab, caption = line.partition("\t")
    image = CAPTION_NUMBER.sub("", image.strip())
    if not tab or not image or not caption.strip():
        raise UserError(f"expected {TOKEN_FORMAT} or CSV with a header", path=path, line=number)
    return CaptionLine(image, caption.strip(), number)


def _csv_line(path: Path, number: int, line: str) -> CaptionLine:
    """``image,caption``, the caption being everything after the first comma."""
    try:
        fields = next(csv.reader([line]))
    except csv.Error as error:
        raise UserError(f"not a CSV row ({error})", path=path, line=number) from None
    image, caption = (fields[0].strip(), ",".join(fields[1:]).strip()) if fields else ("", "")
    if not image or not caption:
        raise UserError("expected image,caption", path=path, line=number)
    return CaptionLine(image, caption, number)
