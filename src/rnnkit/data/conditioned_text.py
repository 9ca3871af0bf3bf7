"""Read texts with the condition they were written under, for conditional generation.

Two layouts:

* **one file per category** — a ``.txt`` file holds one text per non-empty line and its stem is
  the category (``--data male.txt --data female.txt``: condition ``male`` / ``female``); one
  whose first text starts with ``__label__`` is read as fastText lines instead
  (`rnnkit.data.labeled_text`).
* **a table** — ``.csv`` / ``.tsv`` / ``.jsonl`` as for classification
  (`rnnkit.data.labeled_text`), with one column (key) per condition field: ``fields=("gender",
  "language")`` reads both for each text. Each field holds exactly one value per text.

Every record is a `ConditionedText`: the text, one value per field, and its line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath

from rnnkit.data.labeled_text import LabeledText, read_labeled_texts_from_text
from rnnkit.data.readers import PathArg, read_text
from rnnkit.errors import UserError


@dataclass(frozen=True)
class ConditionedText:
    """One text, the value of each condition field, and the 1-based line it starts on."""

    text: str
    conditions: tuple[str, ...]
    line: int


def read_conditioned_texts(
    path: PathArg, *, text_field: str = "text", fields: Sequence[str] = ("label",)
) -> list[ConditionedText]:
    """The texts of ``path`` with their values of the condition ``fields`` (see the module
    docstring for the layouts).

    Raises:
        UserError: an unreadable file, a malformed record, a text without a value (or with
            several) for a field, or a one-file-per-category ``.txt`` with several ``fields``;
            the message names file and line.
    """
    name, text = str(path), read_text(path)
    if PurePath(name).suffix.lower() == ".txt" and len(fields) != 1:
        raise UserError(
            f"a .txt file gives one condition (its name), but data.fields has {len(fields)}; "
            "give a CSV, TSV or JSONL file with a column per field",
            path=name,
        )
    columns = [
        read_labeled_texts_from_text(text, name, text_field=text_field, label_field=field)
        for field in fields
    ]
    return [
        ConditionedText(records[0].text, _values(records, fields, name), records[0].line)
        for records in zip(*columns, strict=True)
    ]


def _values(records: Sequence[LabeledText], fields: Sequence[str], name: str) -> tuple[str, ...]:
    """The one value of each field in a record read once per field."""
    for record, field in zip(records, fields, strict=True):
        if len(record.labels) != 1:
            raise UserError(
                f"field {field!r} holds {len(record.labels)} values; a condition has one",
                path=name,
                line=record.line,
            )
    return tuple(record.labels[0] for record in records)
