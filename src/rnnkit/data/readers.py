"""Read UTF-8 text files, turning every problem into a `UserError` that names file and line.

Files are read as bytes and decoded here, so a bad byte is reported as ``file:LINE: ...`` with
its exact 1-based line and byte column. A leading byte-order mark is dropped. `read_text`
normalises line endings as Python's text mode does (``\\r\\n`` and ``\\r`` become ``\\n``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from os import PathLike
from pathlib import Path
from typing import Any, BinaryIO

from rnnkit.errors import UserError

PathArg = str | PathLike[str]
_BOM = "\ufeff"


def read_text(paths: PathArg | Sequence[PathArg]) -> str:
    """Read one or several UTF-8 text files and concatenate them in the order given.

    Each file's text ends with a newline in the result (one is added where a file lacks it), so
    the last line of one file never runs into the first line of the next.

    Raises:
        UserError: a file is missing, is empty, or holds bytes that are not valid UTF-8 (the
            message gives ``file:LINE`` and the byte's value and column).
    """
    if isinstance(paths, str | PathLike):
        paths = [paths]
    if not paths:
        raise UserError("no text files given")
    texts = []
    for path in paths:
        with open_binary(path) as file:
            texts.append(decode_text(file.read(), path))
    return "".join(texts)


def decode_text(data: bytes, name: PathArg) -> str:
    """The text of UTF-8 ``data`` read from ``name`` (a file, or e.g. ``stdin``), with line
    endings normalised and a final newline; the same `UserError`s as `read_text`."""
    text = _decode(data, name).replace("\r\n", "\n").replace("\r", "\n")
    if not text:
        raise UserError("file is empty", path=name)
    return text if text.endswith("\n") else text + "\n"


def iter_lines(path: PathArg) -> Iterator[str]:
    """Yield the lines of a UTF-8 text file one at a time, without their ``\\n`` or ``\\r\\n`` end.

    Reads lazily (the file is opened on the first ``next``), so it suits files too large to hold
    in memory. Raises the same `UserError`s as `read_text`.
    """
    with open_binary(path) as file:
        empty = True
        for number, raw in enumerate(file, start=1):
            empty = False
            yield _decode(raw, path, first_line=number).removesuffix("\n").removesuffix("\r")
        if empty:
            raise UserError("file is empty", path=path)


def json_lines(lines: Iterable[str], path: PathArg) -> Iterator[tuple[int, Any]]:
    """``(line number, value)`` of each non-blank line of a JSON-lines text (from 1); a line
    that is not JSON is a `UserError` naming ``path`` and the line."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as error:
            raise UserError(f"not valid JSON ({error.msg})", path=path, line=number) from None


def open_binary(path: PathArg) -> BinaryIO:
    """Open `path` for binary reading; a missing or unreadable file is a `UserError`."""
    try:
        return Path(path).open("rb")
    except FileNotFoundError:
        raise UserError("no such file", path=path) from None
    except IsADirectoryError:
        raise UserError("is a directory, not a text file", path=path) from None
    except PermissionError:
        raise UserError("permission denied", path=path) from None


def _decode(data: bytes, path: PathArg, first_line: int = 1) -> str:
    """Decode UTF-8 `data`, which starts on line `first_line` of `path`.

    A byte-order mark is dropped from the start of the file (line 1) only.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        start = error.start
        line = first_line + data.count(b"\n", 0, start)
        column = start - (data.rfind(b"\n", 0, start) + 1) + 1
        message = f"not valid UTF-8: byte 0x{data[start]:02x} at column {column}"
        raise UserError(message, path=path, line=line) from None
    return text.removeprefix(_BOM) if first_line == 1 else text
