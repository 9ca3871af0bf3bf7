"""Which format an input for prediction is in, when its name does not say (``stdin``, ``.txt``):
told from the text itself.

Classification: ``csv``, ``tsv``, ``jsonl`` by suffix; otherwise ``fasttext`` when a line starts
with ``__label__`` (the labels are then dropped, not read as words), else ``lines`` (one text
per line). Tagging: ``conllu`` by suffix or when the text opens with a ``#`` comment or a line of
ten tab-separated fields; ``conll`` by suffix, or when blank lines part groups of several lines,
or when three or more lines all have the same number (two or more) of fields; else ``lines``
(one tokenised sentence per line). ``rnnkit predict --format`` settles what this guesses wrong.
"""

from __future__ import annotations

import re
from pathlib import Path

from rnnkit.data.labeled_text import FASTTEXT_PREFIX
from rnnkit.errors import UserError

TEXT_FORMATS = ("auto", "lines", "csv", "tsv", "jsonl", "fasttext")
SENTENCE_FORMATS = ("auto", "lines", "conll", "conllu")
CONLL_SUFFIXES = (".conll", ".iob", ".iob1", ".iob2", ".bio", ".iobes", ".bioes")


def _check(choice: str, choices: tuple[str, ...]) -> None:
    if choice not in choices:
        raise UserError(f"unknown input format {choice!r}; choose one of: {', '.join(choices)}")


def text_format(text: str, name: str, choice: str = "auto") -> str:
    """The format of classification input ``text`` read from ``name``."""
    _check(choice, TEXT_FORMATS)
    if choice != "auto":
        return choice
    suffix = Path(name).suffix.lower()
    if suffix in (".csv", ".tsv", ".jsonl"):
        return suffix[1:]
    lines = text.split("\n")
    return "fasttext" if any(line.startswith(FASTTEXT_PREFIX) for line in lines) else "lines"


def sentence_format(text: str, name: str, choice: str = "auto") -> str:
    """The format of tagging input ``text`` read from ``name``."""
    _check(choice, SENTENCE_FORMATS)
    if choice != "auto":
        return choice
    suffix = Path(name).suffix.lower()
    if suffix == ".conllu":
        return "conllu"
    if suffix in CONLL_SUFFIXES:
        return "conll"
    lines = text.strip("\n").split("\n")
    first = lines[0] if lines else ""
    if first.startswith("#") or len(first.split("\t")) == 10:
        return "conllu"
    parts = re.split(r"\n[ \t]*\n", text.strip("\n"))
    groups = [part.strip("\n").split("\n") for part in parts if part.strip()]
    if len(groups) > 1 and any(len(group) > 1 for group in groups):
        return "conll"  # sentences of several lines, blank lines between them
    fields = {len(line.split()) for line in lines if line.strip()}
    if len(lines) >= 3 and len(fields) == 1 and min(fields) >= 2:
        return "conll"  # one sentence, each line the same columns
    return "lines"
