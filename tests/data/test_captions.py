"""Captions files: Flickr8k's token format and CSV, several captions per image, the image folder,
and the errors that name file and line."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from conftest import raised, write
from rnnkit.data.captions import read_captions
from rnnkit.data.images import open_image

TOKENS = (
    "dog.jpg#0\tA dog runs .\n"
    "dog.jpg#1\tA brown dog is running on the grass .\n"
    "\n"
    "cat.jpg#0\tA cat sleeps .\n"
    "dog.jpg#2\tThe dog plays\n"
)


def images(folder: Path, *names: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.new("RGB", (8, 8), (10, 20, 30)).save(folder / name)
    return folder


def test_flickr8k_token_format_groups_captions_by_image(tmp_path):
    folder = images(tmp_path / "Images", "dog.jpg", "cat.jpg")  # found beside the file
    read, skipped = read_captions(write(tmp_path, "Flickr8k.token.txt", TOKENS))
    assert skipped == 0 and [r.image for r in read] == [folder / "dog.jpg", folder / "cat.jpg"]
    dog, cat = read
    assert dog.captions == (
        "A dog runs .",
        "A brown dog is running on the grass .",
        "The dog plays",
    )
    assert cat.captions == ("A cat sleeps .",)
    assert (dog.name, dog.source, dog.line) == (
        str(folder / "dog.jpg"),
        str(tmp_path / "Flickr8k.token.txt"),
        1,
    )
    assert cat.line == 4


def test_csv_with_commas_in_captions_and_an_explicit_image_folder(tmp_path):
    folder = images(tmp_path / "pictures", "a.png", "b.png")
    text = 'image,caption\na.png,"A man, smiling ."\na.png,A man , a hat\nb.png,Two birds\n'
    read, _ = read_captions(write(tmp_path, "captions.csv", text), folder)
    assert [(r.image, r.captions) for r in read] == [
        (folder / "a.png", ("A man, smiling .", "A man , a hat")),
        (folder / "b.png", ("Two birds",)),
    ]


def test_images_default_to_the_captions_file_folder(tmp_path):
    images(tmp_path, "a.png")
    read, _ = read_captions(write(tmp_path, "c.txt", "IMAGE,Caption\na.png,x\n"))  # header any case
    assert read[0].image == tmp_path / "a.png"


def test_malformed_lines_name_file_and_line(tmp_path):
    images(tmp_path, "a.png")
    tokens = write(tmp_path, "t.txt", "a.png#0\tfine\na.png no tab here\n")
    assert raised(lambda: read_captions(tokens)) == (
        f"{tokens}:2: expected IMAGE#N<TAB>CAPTION (Flickr8k token format) or CSV with a header"
    )
    empty_caption = write(tmp_path, "e.txt", "a.png#0\t  \n")
    assert raised(lambda: read_captions(empty_caption)).startswith(f"{empty_caption}:1: expected")
    table = write(tmp_path, "c.csv", "image,caption\na.png,ok\n\na.png\n")
    assert raised(lambda: read_captions(table)) == f"{table}:4: expected image,caption"
    headless = write(tmp_path, "h.csv", "a.png,ok\n")
    assert "starts with the header image,caption" in raised(lambda: read_captions(headless))
    assert raised(lambda: read_captions(tmp_path / "no.txt")).endswith("no such captions file")


def test_a_missing_image_names_the_captions_line_and_the_image(tmp_path):
    images(tmp_path, "a.png")
    path = write(tmp_path, "t.txt", "a.png#0\tone\nb.png#0\ttwo\nb.png#1\tthree\n")
    message = raised(lambda: read_captions(path))
    assert message.startswith(f"{path}:2: no image file {tmp_path / 'b.png'}")
    read, skipped = read_captions(path, skip_missing=True)
    assert [r.name for r in read] == [str(tmp_path / "a.png")] and skipped == 2
    assert "no such folder" in raised(lambda: read_captions(path, tmp_path / "nowhere"))


def test_a_corrupt_image_names_the_captions_line_and_the_image(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    path = write(tmp_path, "t.txt", "bad.jpg#0\ta caption\n")
    (image,) = read_captions(path)[0]  # found: files are only decoded when used
    message = raised(lambda: open_image(image.image, image.source, image.line))
    assert message.startswith(f"{path}:1: {tmp_path / 'bad.jpg'}: ")
