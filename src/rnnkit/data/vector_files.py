"""Pretrained word vectors on disk: read them (`read_vectors`) and write them (word2vec text or
binary).

Three file formats are read (`read_vectors`):

- word2vec text (Mikolov et al., 2013): a header ``COUNT DIM``, then one word and its values
  per line::

      3 2
      the 0.1 -0.2
      cat 0.5 0.25
      sat -1 3e-2

- GloVe text (Pennington et al., 2014): the same lines without the header; a file is taken to be
  GloVe when its first line does not hold exactly two integers, and ``DIM`` is the number of
  values on that first line.
- word2vec binary (the suffix ``.bin``, or ``binary=True``): the header line ``COUNT DIM\\n``,
  then per word its UTF-8 bytes, a space, ``DIM`` little-endian float32 values and an optional
  ``\\n``.

Rules shared by the formats: blank lines are skipped; a word that occurs again keeps its first
vector and later ones are dropped silently (GloVe's 840B file repeats some words), though they
still count as entries against the header's ``COUNT``; in text files the values are the last
``DIM`` fields of a line and the word is what precedes them, so the few GloVe words that hold
spaces (``". . ."``) read correctly. Text is read line by line, binary files in chunks, so files
of several GB never sit in memory as text. Every problem is a `UserError` naming the file and the
line (text) or the entry number (binary).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np

from rnnkit.checkpoint.atomic import fsync_dir, temp_sibling
from rnnkit.data.embeddings import WordVectors
from rnnkit.data.readers import PathArg, iter_lines, open_binary
from rnnkit.errors import UserError

_FIELD_SEPARATOR = re.compile(r"[ \t]+")
_BLOCK_ROWS = 65536  # rows parsed into one array before starting the next
_CHUNK_BYTES = 1 << 20


def read_vectors(path: PathArg, *, binary: bool | None = None) -> WordVectors:
    """Read word vectors in word2vec text, GloVe text or word2vec binary format.

    `binary` chooses the format; ``None`` (the default) means binary exactly when the file name
    ends in ``.bin``. Text files are told apart by their first line (see the module docstring).

    Raises:
        UserError: the file is missing, empty or malformed (a line with the wrong number of
            values, a value that is not a number, fewer or more entries than the header says,
            a truncated binary file); the message names the line or the entry.
    """
    if binary is None:
        binary = Path(path).suffix == ".bin"
    return _read_binary(path) if binary else _read_text(path)


class _Rows:
    """Collects parsed vectors block by block, keeping the first vector of a repeated word."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.words: list[str] = []
        self.index: set[str] = set()
        self.entries = 0  # words seen, repeats included
        self._blocks: list[np.ndarray] = []
        self._pending: list[np.ndarray] = []

    def add(self, word: str, values: np.ndarray) -> None:
        self.entries += 1
        if word in self.index:
            return
        self.index.add(word)
        self.words.append(word)
        self._pending.append(values)
        if len(self._pending) == _BLOCK_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._blocks.append(np.stack(self._pending).astype(np.float32, copy=False))
            self._pending = []

    def result(self, path: PathArg) -> WordVectors:
        self._flush()
        if not self.words:
            raise UserError("holds no word vectors", path=path)
        return WordVectors(self.words, np.concatenate(self._blocks))


def _parse_header(text: str) -> tuple[int, int] | None:
    """``(count, dim)`` when `text` holds exactly two integers, else ``None``."""
    fields = text.split()
    if len(fields) != 2 or not all(re.fullmatch(r"[+-]?\d+", f) for f in fields):
        return None
    return int(fields[0]), int(fields[1])


def _check_header(count: int, dim: int, path: PathArg) -> None:
    if count < 0 or dim < 1:
        raise UserError(
            f"bad header {count} {dim}: expected the number of words (>= 0) and the "
            "dimension (>= 1)",
            path=path,
            line=1,
        )


def _read_text(path: PathArg) -> WordVectors:
    rows: _Rows | None = None
    count: int | None = None  # what the header announces; None for GloVe
    for number, line in enumerate(iter_lines(path), start=1):
        if number == 1 and (header := _parse_header(line)) is not None:
            count, dim = header
            _check_header(count, dim, path)
            rows = _Rows(dim)
            continue
        fields = _split_fields(line)
        if fields == [""]:
            continue  # a blank line
        if rows is None:  # GloVe: the first entry sets the dimension
            if len(fields) < 2:
                raise UserError("expected a word and its values", path=path, line=number)
            rows = _Rows(len(fields) - 1)
        if count is not None and rows.entries == count:
            raise UserError(
                f"more entries than the {count:,} the header (line 1) announces",
                path=path,
                line=number,
            )
        rows.add(*_parse_entry(fields, rows.dim, path, number))
    if rows is None:
        raise UserError("holds no word vectors", path=path)
    if count is not None and rows.entries < count:
        raise UserError(
            f"the header announces {count:,} entries but the file holds {rows.entries:,}",
            path=path,
            line=1,
        )
    return rows.result(path)


def _parse_entry(fields: list[str], dim: int, path: PathArg, number: int) -> tuple[str, np.ndarray]:
    """The word and values of one text line, split into `fields`."""
    found = len(fields) - 1
    # Fields between the first and the last `dim` are part of the word (GloVe's ". . ."), unless
    # one of them is a number: then the line simply has too many values.
    if found < dim or (found > dim and any(_is_number(f) for f in fields[1:-dim])):
        raise UserError(
            f"expected {dim} values after the word, found {found}", path=path, line=number
        )
    word = " ".join(fields[:-dim])
    try:
        values = np.array(fields[-dim:], dtype=np.float32)
    except ValueError:
        bad = next(f for f in fields[-dim:] if not _is_number(f))
        raise UserError(f"value {bad!r} is not a number", path=path, line=number) from None
    return word, values


def _split_fields(line: str) -> list[str]:
    """The fields of `line`, separated by runs of spaces and tabs (only: a word may hold other
    whitespace, such as a non-breaking space)."""
    stripped = line.strip(" \t")
    fields = stripped.split(" ")  # the common case, several times faster than the regex
    if "\t" in stripped or "" in fields:
        fields = _FIELD_SEPARATOR.split(stripped)
    return fields


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class _Chunks:
    """Reads a binary file in large chunks: up to a separator byte, or a number of bytes."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._buffer = b""
        self._start = 0

    def _fill(self) -> bool:
        data = self._file.read(_CHUNK_BYTES)
        if not data:
            return False
        self._buffer = self._buffer[self._start :] + data
        self._start = 0
        return True

    def until(self, separator: bytes) -> bytes | None:
        """The bytes before the next `separator` (which is consumed); ``None`` if none is left."""
        searched = self._start
        while (end := self._buffer.find(separator, searched)) < 0:
            searched = len(self._buffer) - self._start
            if not self._fill():
                return None
            # _fill moved the unread bytes to the front of the buffer
        result = self._buffer[self._start : end]
        self._start = end + 1
        return result

    def take(self, size: int) -> bytes:
        """The next `size` bytes (fewer at the end of the file)."""
        while len(self._buffer) - self._start < size and self._fill():
            pass
        result = self._buffer[self._start : self._start + size]
        self._start += len(result)
        return result

    def rest(self) -> bytes:
        """Whatever is left unread (the tail of a file, so small in any well-formed one)."""
        while self._fill():
            pass
        return self._buffer[self._start :]


def _read_binary(path: PathArg) -> WordVectors:
    with open_binary(path) as file:
        chunks = _Chunks(file)
        first = chunks.until(b"\n")
        if first is None and not chunks.rest():
            raise UserError("file is empty", path=path)
        header = None if first is None else _parse_header(first.decode("latin-1"))
        if header is None:
            raise UserError(
                "not a word2vec binary file: the first line must be 'COUNT DIM'",
                path=path,
                line=1,
            )
        count, dim = header
        _check_header(count, dim, path)
        rows = _Rows(dim)
        for entry in range(1, count + 1):
            rows.add(*_binary_entry(chunks, dim, entry, count, path))
        if chunks.rest().strip():
            raise UserError(
                f"more data after the {count:,} entries the header announces", path=path
            )
    return rows.result(path)


def _binary_entry(
    chunks: _Chunks, dim: int, entry: int, count: int, path: PathArg
) -> tuple[str, np.ndarray]:
    where = f"entry {entry:,} of {count:,}"
    raw = chunks.until(b" ")
    if raw is None:
        raise UserError(f"{where}: the file ends before it (truncated?)", path=path)
    raw = raw.lstrip(b"\n")
    try:
        word = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{where}: the word {raw!r} is not valid UTF-8", path=path) from None
    data = chunks.take(4 * dim)
    if len(data) < 4 * dim:
        raise UserError(
            f"{where} ({word!r}): truncated: expected {4 * dim} bytes of values, found {len(data)}",
            path=path,
        )
    return word, np.frombuffer(data, dtype="<f4").astype(np.float32)


# --- writing -----------------------------------------------------------------------------------
def write_word2vec_text(path: PathArg, vectors: WordVectors) -> None:
    """Write `vectors` in word2vec text format, atomically (a temporary file, then a rename).

    Values are written with 9 significant digits, which read back as the same float32 exactly.
    """
    _check_words(vectors, forbidden="\n\r")
    with _atomic_writer(path) as out:
        out.write(f"{len(vectors)} {vectors.dim}\n".encode())
        for word, row in zip(vectors.words, vectors.vectors, strict=True):
            values = " ".join(f"{value:.9g}" for value in row.tolist())
            out.write(f"{word} {values}\n".encode())


def write_word2vec_binary(path: PathArg, vectors: WordVectors) -> None:
    """Write `vectors` in word2vec binary format (what ``read_vectors`` reads from ``.bin``)."""
    _check_words(vectors, forbidden=" \n")
    with _atomic_writer(path) as out:
        out.write(f"{len(vectors)} {vectors.dim}\n".encode())
        little_endian = vectors.vectors.astype("<f4", copy=False)
        for word, row in zip(vectors.words, little_endian, strict=True):
            out.write(word.encode() + b" " + row.tobytes() + b"\n")


def _check_words(vectors: WordVectors, forbidden: str) -> None:
    for word in vectors.words:
        if not word or any(c in word for c in forbidden):
            raise ValueError(f"cannot write the word {word!r}: empty or holds {forbidden!r}")


@contextmanager
def _atomic_writer(path: PathArg) -> Iterator[BinaryIO]:
    """A binary file at a temporary name next to `path`, renamed over `path` if all went well.

    Streams to disk (unlike `write_bytes_atomic`), so a large file never sits in memory.
    """
    target = Path(path)
    temp = temp_sibling(target)
    try:
        with temp.open("xb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    fsync_dir(target.parent)
