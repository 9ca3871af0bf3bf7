"""Crash-safe file writes: a reader sees either the old file or the new one, never half of one.

Every write goes to a temporary file in the target's own directory (so the final rename stays on
one filesystem), is flushed and fsynced, and is then renamed over the target with `os.replace`,
which POSIX and Windows both make atomic. The directory is fsynced afterwards so that the rename
itself survives a power loss. `append_line` is the append-only counterpart for logs.
"""

from __future__ import annotations

import io
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def fsync_file(path: str | os.PathLike[str]) -> None:
    """Flush a file that someone else wrote (e.g. a library writing to a path) to the disk."""
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make the entries of a directory (creations, renames) durable; a no-op on Windows."""
    if os.name == "nt":  # Windows cannot open a directory; its renames are journalled anyway
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_sibling(path: Path) -> Path:
    """A fresh, hidden name next to `path` (same directory, so same filesystem), e.g.
    `.last.tmp-1a2b3c4d5e6f` for `last`; unlike `tempfile`, what is created under it gets the
    usual permissions (the umask's), not private ones."""
    return path.with_name(f".{path.name}.tmp-{secrets.token_hex(6)}")


def write_bytes_durable(path: str | os.PathLike[str], data: bytes) -> None:
    """Create the file `path` (which must not exist yet) with `data` and fsync it.

    Not atomic by itself: for files in a staging directory or under a temporary name.
    """
    with open(path, "xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace `path` with `data` atomically (temp file in the same directory + `os.replace`)."""
    target = Path(path)
    tmp = temp_sibling(target)
    try:
        write_bytes_durable(tmp, data)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Replace `path` with the UTF-8 encoded `text` atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))


def json_text(obj: Any) -> str:
    """The JSON text rnnkit writes for a whole file: indented, UTF-8, newline-terminated."""
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def write_json_atomic(path: str | os.PathLike[str], obj: Mapping[str, Any] | list[Any]) -> None:
    """Replace `path` with `obj` as indented JSON, atomically."""
    write_text_atomic(path, json_text(obj))


def append_line(path: str | os.PathLike[str], line: str) -> None:
    """Append one line to a log file and make it durable (flush + fsync).

    A crash during the append can leave a partial last line; readers of such logs ignore a last
    line that does not end in a newline, and this function first cuts such a fragment off, so
    it never glues a new record onto it.
    """
    if "\n" in line:
        raise ValueError("a log record must be a single line")
    with open(path, "ab+") as f:
        _drop_partial_last_line(f)
        f.write(line.encode("utf-8") + b"\n")
        f.flush()
        os.fsync(f.fileno())


def _drop_partial_last_line(f: io.BufferedRandom) -> None:
    """Truncate an append-mode file after its last newline if it does not end with one."""
    size = f.seek(0, os.SEEK_END)
    if size == 0:
        return
    f.seek(size - 1)
    if f.read(1) == b"\n":
        return
    f.seek(0)
    content = f.read()  # only after a crash mid-append, so the cost is rare
    f.truncate(content.rfind(b"\n") + 1)
