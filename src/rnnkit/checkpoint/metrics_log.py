"""`RUN/metrics.jsonl`: one JSON object per evaluation, appended durably, read back in order."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rnnkit.checkpoint.atomic import append_line
from rnnkit.errors import UserError

METRICS_LOG_NAME = "metrics.jsonl"


def append_metrics(run_dir: str | os.PathLike[str], record: Mapping[str, Any]) -> None:
    """Append `record` as one JSON line to `RUN/metrics.jsonl`, durably (flush + fsync)."""
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    append_line(Path(run_dir) / METRICS_LOG_NAME, json.dumps(dict(record), ensure_ascii=False))


def read_metrics_log(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All records of `RUN/metrics.jsonl` (empty if there is none yet), oldest first.

    A last line cut short by a crash during an append is ignored; any other line that is not a
    JSON object raises `UserError` with its line number.
    """
    path = Path(run_dir) / METRICS_LOG_NAME
    try:
        lines = path.read_bytes().split(b"\n")
    except FileNotFoundError:
        return []
    complete, last = lines[:-1], lines[-1]  # `last` is b"" when the file ends with a newline
    records = [
        parse_json_object(line, path, number)
        for number, line in enumerate(complete, start=1)
        if line.strip()
    ]
    if last.strip():
        with contextlib.suppress(UserError):  # else a partial record from a crashed append
            records.append(parse_json_object(last, path, len(lines)))
    return records


def parse_json_object(text: str | bytes, path: Path, line: int | None = None) -> dict[str, Any]:
    """The JSON object in ``text``; a `UserError` naming ``path`` (and ``line``) otherwise."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UserError(f"not valid JSON ({exc})", path=path, line=line) from None
    if not isinstance(value, dict):
        raise UserError("expected a JSON object", path=path, line=line)
    return value
