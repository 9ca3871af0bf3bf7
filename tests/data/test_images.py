"""Reading images for captioning: RGB, resized, normalised; bad files are errors naming them."""

from __future__ import annotations

import io

import pytest
import torch
from PIL import Image

from conftest import raised
from rnnkit.data.images import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    load_image,
    normalise,
    open_image,
    pixels,
)


def test_pixels_are_rgb_uint8_resized_to_a_square():
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    image.paste((0, 0, 255), (20, 0, 40, 20))  # the right half blue
    out = pixels(image, 8)
    assert out.dtype == torch.uint8 and out.shape == (3, 8, 8)
    assert out[:, 0, 0].tolist() == [255, 0, 0] and out[:, 7, 7].tolist() == [0, 0, 255]
    for mode in ("L", "RGBA", "P"):  # grey, with alpha, palette: all become 3 channels
        assert pixels(image.convert(mode), 4).shape == (3, 4, 4)


def test_normalise_by_channel_mean_and_std():
    pixel = (255, 0, 51)
    batch = torch.tensor(pixel, dtype=torch.uint8).view(1, 3, 1, 1).expand(2, 3, 2, 2)
    out = normalise(batch)
    expected = [
        (v / 255 - m) / s for v, m, s in zip(pixel, IMAGENET_MEAN, IMAGENET_STD, strict=True)
    ]
    assert out.dtype == torch.float32 and out.shape == (2, 3, 2, 2)
    assert torch.allclose(out[1, :, 1, 0], torch.tensor(expected))
    assert torch.allclose(normalise(batch, (0.5,) * 3, (0.5,) * 3)[0, 1], torch.full((2, 2), -1.0))


def test_load_image_from_a_file(tmp_path):
    path = tmp_path / "green.jpg"
    Image.new("RGB", (30, 50), (0, 128, 0)).save(path, quality=95)
    out = load_image(path, 16)
    assert out.shape == (3, 16, 16)
    green = (128 / 255 - IMAGENET_MEAN[1]) / IMAGENET_STD[1]
    assert abs(float(out[1].mean()) - green) < 0.05


def test_missing_truncated_and_non_image_files_are_errors_naming_them(tmp_path):
    assert (
        raised(lambda: open_image(tmp_path / "none.png"))
        == f"{tmp_path / 'none.png'}: no such image file"
    )
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 10, 10)).save(buffer, "JPEG")
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    message = raised(lambda: open_image(truncated))
    assert message.startswith(f"{truncated}: corrupt or truncated image")
    text = tmp_path / "notes.png"
    text.write_text("not a picture\n", encoding="utf-8")
    assert raised(lambda: load_image(text, 8)) == f"{text}: not an image file Pillow can read"


@pytest.mark.parametrize("line", [3, None])
def test_an_image_named_in_a_captions_file_is_reported_at_its_line(tmp_path, line):
    text = tmp_path / "a.png"
    text.write_text("x", encoding="utf-8")
    where = str(tmp_path / "captions.txt")
    place = where if line is None else f"{where}:{line}"
    message = raised(lambda: open_image(text, where, line))
    assert message == f"{place}: {text}: not an image file Pillow can read"
