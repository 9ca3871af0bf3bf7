"""Read texts with labels, for sequence classification; every mistake names file and line.

The format is chosen by the file's suffix:

* ``.csv`` / ``.tsv`` — a header row naming the fields, then one record per row (comma or tab;
  quoting as the csv module writes it, so a quoted field may hold commas, tabs and newlines)::

      text,label
      "Great film, would watch again",pos
      Dull.,neg

  ``label_separator="|"`` reads ``pos|funny`` as two labels (multi-label).
* ``.jsonl`` — one JSON object per line (blank lines skipped); the label is a string, a number
  (kept as its JSON text) or a list of those for several labels::

      {"text": "Great film", "label": "pos"}
      {"text": "Great and funny", "label": ["pos", "funny"]}

* ``.txt`` / ``.ft`` — fastText lines: one or more leading ``__label__X`` tokens, then the
  text (only leading tokens are labels; one later in the line is part of the text)::

      __label__pos __label__funny great film

  A ``.txt`` file whose first text has no ``__label__`` is one class, named by the file: one
  text per line, labelled with the file's stem (``--data positive.txt --data negative.txt``).

Labels are stripped of surrounding whitespace. With ``require_labels=False`` (input for
prediction) a record without a label gets ``labels=()``. `read_text_lines` reads plain text, one
text per non-empty line, with no labels.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from rnnkit.data.readers import PathArg, read_text
from rnnkit.errors import UserError

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".txt": "fasttext", ".ft": "fasttext"}
FASTTEXT_PREFIX = "__label__"
_FIRST_TOKEN = re.compile(r"(\S+)\s*")


@dataclass(frozen=True)
class LabeledText:
    """One text and its labels; `line` is the 1-based line where the record starts."""

    text: str
    labels: tuple[str, ...]
    line: int


def read_labeled_texts(
    path: PathArg,
    *,
    text_field: str = "text",
    label_field: str = "label",
    label_separator: str | None = None,
    require_labels: bool = True,
) -> list[LabeledText]:
    """Read the labelled texts of a ``.csv``, ``.tsv``, ``.jsonl``, ``.txt`` or ``.ft`` file.

    Raises:
        UserError: an unknown suffix, an unreadable or empty file, or a malformed record (the
            message gives ``file:LINE``).
    """
    file_format = _format_of(path)  # before reading: a wrong suffix needs no file
    return read_labeled_texts_from_text(
        read_text(path),
        str(path),
        file_format=file_format,
        text_field=text_field,
        label_field=label_field,
        label_separator=label_separator,
        require_labels=require_labels,
    )


def read_labeled_texts_from_text(
    text: str,
    name: str,
    *,
    file_format: str | None = None,
    text_field: str = "text",
    label_field: str = "label",
    label_separator: str | None = None,
    require_labels: bool = True,
) -> list[LabeledText]:
    """`read_labeled_texts` on `text` already read; `name` is the file named in messages.

    `file_format` is ``"csv"``, ``"tsv"``, ``"jsonl"`` or ``"fasttext"``; None takes it from the
    suffix of `name`.
    """
    if file_format is None:
        file_format = _format_of(name)
    elif file_format not in FORMATS.values():
        choices = ", ".join(sorted(set(FORMATS.values())))
        raise UserError(f"unknown labelled-text format {file_format!r}; choose one of {choices}")
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    if require_labels and file_format == "fasttext" and _is_class_file(text, name):
        stem = PurePath(name).stem
        return [
            LabeledText(r.text.strip(), (stem,), r.line)
            for r in read_text_lines_from_text(text, name)
        ]
    if file_format == "jsonl":
        records = _read_jsonl(text, name, text_field, label_field, require_labels)
    elif file_format == "fasttext":
        records = _read_fasttext(text, name, require_labels)
    else:
        delimiter = "," if file_format == "csv" else "\t"
        records = _read_table(
            text, name, delimiter, text_field, label_field, label_separator, require_labels
        )
    if not records:
        raise UserError("file has no texts", path=name)
    return records


def read_text_lines(path: PathArg) -> list[LabeledText]:
    """One text per non-empty line, with no labels: plain input for prediction."""
    return read_text_lines_from_text(read_text(path), str(path))


def read_text_lines_from_text(text: str, name: str) -> list[LabeledText]:
    """`read_text_lines` on `text` already read; `name` is the file named in messages."""
    records = [
        LabeledText(line, (), number)
        for number, line in enumerate(text.split("\n"), start=1)
        if line.strip()
    ]
    if not records:
        raise UserError("file has no texts", path=name)
    return records


def _is_class_file(text: str, name: str) -> bool:
    """Whether ``text`` read from ``name`` is a ``.txt`` file of one class (its first text
    carries no ``__label__``)."""
    first = next((line for line in text.split("\n") if line.strip()), "")
    return PurePath(name).suffix.lower() == ".txt" and not first.lstrip().startswith(
        FASTTEXT_PREFIX
    )


def _format_of(name: PathArg) -> str:
    suffix = PurePath(name).suffix.lower()
    if suffix not in FORMATS:
        supported = ", ".join(FORMATS)
        found = f"suffix {suffix!r}" if suffix else "no suffix"
        raise UserError(f"cannot tell the format from {found}; use one of {supported}", path=name)
    return FORMATS[suffix]


def _read_table(
    text: str,
    name: str,
    delimiter: str,
    text_field: str,
    label_field: str,
    label_separator: str | None,
    require_labels: bool,
) -> list[LabeledText]:
    """CSV or TSV with a header row; a record's line is the line where it starts."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    header_line = 0
    text_index = label_index = -1
    records = []
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader, None)
        except csv.Error as error:
            message = f"malformed {'CSV' if delimiter == ',' else 'TSV'} record: {error}"
            hint = ' (a field that starts with " is quoted: end it with " and double any " inside)'
            raise UserError(message + hint, path=name, line=start) from None
        if row is None:
            break
        if len(row) <= 1 and not "".join(row).strip():
            continue  # a blank line
        if header is None:
            header, header_line = [field.strip() for field in row], start
            text_index = _column(header, text_field, name, start)
            if label_field in header or require_labels:
                label_index = _column(header, label_field, name, start)
            continue
        if len(row) != len(header):
            raise UserError(
                f"row has {len(row)} columns but the header (line {header_line}) has {len(header)}",
                path=name,
                line=start,
            )
        if not row[text_index].strip():
            raise UserError(f"empty text in field {text_field!r}", path=name, line=start)
        raw = row[label_index] if label_index >= 0 else ""
        parts = raw.split(label_separator) if label_separator else [raw]
        labels = tuple(part.strip() for part in parts if part.strip())
        if require_labels and not labels:
            raise UserError(f"missing label in field {label_field!r}", path=name, line=start)
        records.append(LabeledText(row[text_index], labels, start))
    return records


def _column(header: list[str], field: str, name: str, line: int) -> int:
    """The index of `field` in the header row, which must name it exactly once."""
    count = header.count(field)
    if count != 1:
        problem = "has no column" if count == 0 else f"names {count} columns"
        found = ", ".join(repr(column) for column in header)
        message = f"header {problem} {field!r} (columns found: {found})"
        raise UserError(message, path=name, line=line)
    return header.index(field)


class _JsonNumber(str):
    """A JSON number kept as its text, so a label ``1.0`` stays ``"1.0"``."""

    __slots__ = ()


def _read_jsonl(
    text: str, name: str, text_field: str, label_field: str, require_labels: bool
) -> list[LabeledText]:
    records = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(
                line,
                parse_int=_JsonNumber,
                parse_float=_JsonNumber,
                parse_constant=_reject_constant,
            )
        except ValueError as error:
            detail = error.msg if isinstance(error, json.JSONDecodeError) else str(error)
            column = f" at column {error.colno}" if isinstance(error, json.JSONDecodeError) else ""
            raise UserError(f"invalid JSON: {detail}{column}", path=name, line=number) from None
        if not isinstance(obj, dict):
            kind = _json_kind(obj)
            raise UserError(f"expected a JSON object, found {kind}", path=name, line=number)
        if text_field not in obj:
            raise UserError(f"object lacks the field {text_field!r}", path=name, line=number)
        value = obj[text_field]
        if not isinstance(value, str) or isinstance(value, _JsonNumber):
            kind = _json_kind(value)
            message = f"field {text_field!r} must be a string, not {kind}"
            raise UserError(message, path=name, line=number)
        if not value.strip():
            raise UserError(f"empty text in field {text_field!r}", path=name, line=number)
        if label_field not in obj and require_labels:
            raise UserError(f"object lacks the field {label_field!r}", path=name, line=number)
        labels = _json_labels(obj.get(label_field), label_field, name, number)
        if require_labels and not labels:
            raise UserError(f"missing label in field {label_field!r}", path=name, line=number)
        records.append(LabeledText(value, labels, number))
    return records


def _reject_constant(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


def _json_labels(value: object, field: str, name: str, line: int) -> tuple[str, ...]:
    """The labels in a JSON field: a string, a number, a list of those, or null for none."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value.strip(),) if value.strip() else ()
    if isinstance(value, list):
        labels = []
        for item in value:
            if not isinstance(item, str):
                message = f"field {field!r} holds {_json_kind(item)} in its list; "
                raise UserError(message + "a label is a string or a number", path=name, line=line)
            if not item.strip():
                raise UserError(f"field {field!r} holds an empty label", path=name, line=line)
            labels.append(item.strip())
        return tuple(labels)
    message = f"field {field!r} is {_json_kind(value)}; a label is a string, a number or a list"
    raise UserError(message, path=name, line=line)


def _json_kind(value: object) -> str:
    if isinstance(value, _JsonNumber):
        return "a number"
    kinds = {str: "a string", bool: "a boolean", list: "a list", dict: "an object"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def _read_fasttext(text: str, name: str, require_labels: bool) -> list[LabeledText]:
    records = []
    for number, line in enumerate(text.split("\n"), start=1):
        rest = line.strip()
        if not rest:
            continue
        labels = []
        while rest.startswith(FASTTEXT_PREFIX):
            match = _FIRST_TOKEN.match(rest)
            assert match is not None  # rest starts with the prefix, so with a token
            label = match.group(1)[len(FASTTEXT_PREFIX) :]
            if not label:
                message = f"{FASTTEXT_PREFIX} with no label after it"
                raise UserError(message, path=name, line=number)
            labels.append(label)
            rest = rest[match.end() :]
        if require_labels and not labels:
            message = f"line has no label: it must start with {FASTTEXT_PREFIX}LABEL"
            raise UserError(message, path=name, line=number)
        if not rest:
            raise UserError("empty text after the labels", path=name, line=number)
        records.append(LabeledText(rest, tuple(labels), number))
    return records
