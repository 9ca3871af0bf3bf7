"""Tests for rnnkit.data.readers: reading text files and locating what is wrong in them."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnkit.data.readers import iter_lines, read_text
from rnnkit.errors import UserError


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_read_text_single_file(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", "héllo\nwörld\n".encode())
    assert read_text(path) == "héllo\nwörld\n"
    assert read_text(str(path)) == "héllo\nwörld\n"


def test_read_text_joins_files_each_ending_in_a_newline(tmp_path: Path) -> None:
    first = write(tmp_path / "a.txt", b"one\ntwo")  # no final newline
    second = write(tmp_path / "b.txt", b"three\n")
    assert read_text([first, second]) == "one\ntwo\nthree\n"
    assert read_text([second, first]) == "three\none\ntwo\n"


def test_read_text_normalises_line_endings_and_drops_bom(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", b"\xef\xbb\xbfa\r\nb\rc\n")
    assert read_text(path) == "a\nb\nc\n"


def test_missing_file_is_named(tmp_path: Path) -> None:
    present = write(tmp_path / "present.txt", b"x\n")
    missing = tmp_path / "missing.txt"
    with pytest.raises(UserError, match="no such file") as caught:
        read_text([present, missing])
    assert caught.value.path == str(missing)
    assert str(caught.value).startswith(f"{missing}: ")


def test_directory_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="directory"):
        read_text(tmp_path)


@pytest.mark.parametrize("order", ["empty_first", "empty_last"])
def test_empty_file_is_named(tmp_path: Path, order: str) -> None:
    full = write(tmp_path / "full.txt", b"text\n")
    empty = write(tmp_path / "empty.txt", b"")
    paths = [empty, full] if order == "empty_first" else [full, empty]
    with pytest.raises(UserError, match="file is empty") as caught:
        read_text(paths)
    assert caught.value.path == str(empty)


def test_no_paths_is_a_user_error() -> None:
    with pytest.raises(UserError):
        read_text([])


@pytest.mark.parametrize(
    ("data", "line", "byte", "column"),
    [
        (b"\xffabc\n", 1, 0xFF, 1),
        (b"good\nalso good\nab\xfecd\nlast\n", 3, 0xFE, 3),
        ("é\n€ x".encode() + b"\x80\n", 2, 0x80, 6),  # "€" is 3 bytes, " x" 2: byte column 6
        (b"ok\n\n\xe2\x82", 3, 0xE2, 1),  # a multi-byte character cut off by the end of file
    ],
)
def test_bad_utf8_byte_gives_file_line_byte_and_column(
    tmp_path: Path, data: bytes, line: int, byte: int, column: int
) -> None:
    path = write(tmp_path / "bad.txt", data)
    for read in (read_text, lambda p: list(iter_lines(p))):
        with pytest.raises(UserError) as caught:
            read(path)
        message = str(caught.value)
        assert message.startswith(f"{path}:{line}: ")
        assert f"0x{byte:02x}" in message
        assert f"column {column}" in message


_LINE = st.text(st.characters(exclude_characters="\n\r", exclude_categories=["Cs"]), max_size=8)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=st.lists(_LINE, min_size=1, max_size=6), data=st.data())
def test_bad_byte_anywhere_is_located(
    tmp_path: Path, lines: list[str], data: st.DataObject
) -> None:
    """Insert one invalid byte into a chosen line and column; the error must point at it."""
    bad_line = data.draw(st.integers(0, len(lines) - 1))
    encoded = [line.encode() for line in lines]
    # a position between whole characters, so the inserted byte is the first invalid one
    cut = data.draw(st.integers(0, len(lines[bad_line])))
    prefix = lines[bad_line][:cut].encode()
    encoded[bad_line] = prefix + b"\xff" + encoded[bad_line][len(prefix) :]
    path = write(tmp_path / "bad.txt", b"\n".join(encoded) + b"\n")
    with pytest.raises(UserError) as caught:
        read_text(path)
    assert caught.value.line == bad_line + 1
    assert f"column {len(prefix) + 1}" in str(caught.value)


def test_iter_lines_yields_lines_without_endings(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", "\ufeffα\r\nβ\n\nγ".encode())
    assert list(iter_lines(path)) == ["α", "β", "", "γ"]


def test_iter_lines_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such file"):
        next(iter_lines(tmp_path / "missing.txt"))
    with pytest.raises(UserError, match="file is empty"):
        list(iter_lines(write(tmp_path / "empty.txt", b"")))
