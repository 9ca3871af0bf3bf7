"""Utterances for speech recognition: audio files and their transcripts.

Three ways to name them:

- a manifest CSV / TSV with a header naming a ``path`` (or ``audio``) column and a ``text``
  column, the paths relative to the manifest::

      path,text
      clips/a.wav,three nine one

- a JSON-lines manifest, one ``{"audio": PATH, "text": ...}`` per line;
- a folder of ``.wav`` files, each labelled by a regular expression on its file name
  (``label_pattern``, whose first group is the transcript: ``^(\\d)_`` reads ``3_jackson_7.wav``
  as ``3``).

Audio is read with soundfile (PCM 16 / 24 / 32-bit and float wav, and what else libsndfile
reads), mixed down to mono and resampled to ``sample_rate`` (polyphase, scipy's
``resample_poly``). A missing, unreadable or empty file is a `UserError` naming the manifest line
(or the file).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np

from rnnkit.data.readers import json_lines, read_text
from rnnkit.errors import UserError

PATH_COLUMNS = ("path", "audio")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")


@dataclass
class Utterance:
    """One recording: ``audio`` (S,) float32 mono at the reader's sample rate, its ``text``, its
    ``name`` (the audio file), and where it was named (``source`` file, ``line`` in a manifest
    or None)."""

    audio: np.ndarray
    text: str
    name: str
    source: str
    line: int | None = None


def load_audio(path: Path, sample_rate: int, where: str, line: int | None = None) -> np.ndarray:
    """The samples (S,) float32 of the audio file ``path``, mono, at ``sample_rate``;
    ``where`` / ``line`` locate the mention of the file for error messages."""
    import soundfile

    what = "no such audio file" if where == str(path) else f"no such audio file: {path}"
    if not path.is_file():
        raise UserError(what, path=where, line=line)
    name = "" if where == str(path) else f"{path} "
    try:
        samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as error:
        raise UserError(
            f"{name}is not a readable audio file ({error})", path=where, line=line
        ) from None
    if samples.shape[0] == 0:
        raise UserError(f"{name}has no samples", path=where, line=line)
    mono = samples.mean(axis=1)
    return resample(mono, rate, sample_rate)


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """``samples`` at ``rate`` Hz resampled to ``target`` Hz (float32)."""
    if rate == target:
        return samples.astype(np.float32)
    from scipy.signal import resample_poly

    common = gcd(rate, target)
    return resample_poly(samples, target // common, rate // common).astype(np.float32)


def read_utterances(
    source: str | Path,
    sample_rate: int,
    label_pattern: str | None = None,
    *,
    with_text: bool = True,
) -> list[Utterance]:
    """The utterances a manifest or folder names (see the module docstring); without
    ``with_text`` a manifest needs no text column (recordings to transcribe)."""
    path = Path(source)
    if path.is_dir():
        return _read_folder(path, sample_rate, label_pattern)
    if not path.is_file():
        raise UserError("no such file or folder", path=path)
    if path.suffix.lower() in AUDIO_SUFFIXES:
        raise UserError(
            "is an audio file; give a manifest (CSV / TSV / JSONL with the transcripts) or a "
            "folder of wav files with data.label_pattern",
            path=path,
        )
    text = read_text(path)
    if path.suffix == ".jsonl":
        rows = _jsonl_rows(text, path)
    else:
        rows = _table_rows(text, path, with_text)
    if not rows:
        raise UserError("names no recordings", path=path)
    return [
        Utterance(
            load_audio(path.parent / audio, sample_rate, str(path), line),
            words,
            str(path.parent / audio),
            str(path),
            line,
        )
        for audio, words, line in rows
    ]


def _read_folder(folder: Path, sample_rate: int, label_pattern: str | None) -> list[Utterance]:
    if not label_pattern:
        raise UserError(
            "is a folder: set data.label_pattern, a regular expression whose first group "
            r"is each file's transcript (e.g. '^(\d)_' for 3_jackson_7.wav)",
            path=folder,
        )
    try:
        pattern = re.compile(label_pattern)
    except re.error as error:
        raise UserError(f"data.label_pattern {label_pattern!r}: {error}") from None
    files = sorted(folder.glob("*.wav"))
    if not files:
        raise UserError("holds no .wav files", path=folder)
    utterances = []
    for file in files:
        found = pattern.search(file.name)
        if found is None or not found.groups():
            problem = "does not match the file name" if found is None else "has no group"
            raise UserError(f"data.label_pattern {label_pattern!r} {problem}", path=file)
        audio = load_audio(file, sample_rate, str(file))
        utterances.append(Utterance(audio, found.group(1), str(file), str(file)))
    return utterances


def _table_rows(text: str, path: Path, with_text: bool) -> list[tuple[str, str, int]]:
    """``(audio path, text, line)`` of a CSV / TSV manifest (column names in any case)."""
    delimiter = "\t" if path.suffix == ".tsv" else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader, [])]
    audio = next((header.index(c) for c in PATH_COLUMNS if c in header), None)
    if audio is None or (with_text and "text" not in header):
        needed = "a path (or audio) column and a text column" if with_text else "a path column"
        raise UserError(
            f"the header must name {needed}; it has: {', '.join(header) or 'nothing'}",
            path=path,
            line=1,
        )
    words = header.index("text") if "text" in header else None
    rows = []
    for row in reader:
        if not row or not "".join(row).strip():
            continue
        if len(row) != len(header):
            raise UserError(
                f"has {len(row)} fields where the header has {len(header)}",
                path=path,
                line=reader.line_num,
            )
        transcript = row[words] if words is not None else ""
        rows.append((row[audio].strip(), transcript, reader.line_num))
    return rows


def _jsonl_rows(text: str, path: Path) -> list[tuple[str, str, int]]:
    """``(audio path, text, line)`` of a JSON-lines manifest."""
    rows = []
    for number, record in json_lines(text.splitlines(), path):
        if not isinstance(record, dict) or not isinstance(record.get("audio"), str):
            raise UserError('expected {"audio": PATH, "text": ...}', path=path, line=number)
        rows.append((record["audio"], str(record.get("text", "")), number))
    return rows
