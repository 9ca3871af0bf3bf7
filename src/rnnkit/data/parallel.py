"""Parallel text for sequence-to-sequence tasks: sentence pairs read from two aligned files or
from one tab-separated file, with errors that name file and line.

Two layouts, as translation toolkits read them:

* **a prefix and two language suffixes**: ``read_parallel("data/train", "de", "en")`` reads
  ``data/train.de`` and ``data/train.en``; line ``i`` of one is the translation of line ``i``
  of the other. Files whose line counts differ are an error naming both files and both counts.
* **one TSV file**, one ``source<TAB>target`` pair per line (when no suffixes are given, or no
  file ``PREFIX.SRC`` exists but ``PREFIX`` does). A line without exactly one tab is an error
  naming the line.

Empty and over-long pairs are not errors here: the task drops them and reports how many.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rnnkit.data.readers import PathArg, read_text
from rnnkit.errors import UserError


@dataclass(frozen=True)
class SentencePair:
    """A source sentence, its target (``None`` when only sources are known, e.g. input to
    translate), and where it came from (``path``: the source file; ``line``: 1-based)."""

    source: str
    target: str | None
    path: str
    line: int


def parallel_files(prefix: PathArg, src: str | None, tgt: str | None) -> tuple[Path, Path] | None:
    """``(PREFIX.SRC, PREFIX.TGT)`` when both suffixes are given and ``PREFIX.SRC`` exists or
    ``PREFIX`` itself does not; None for the one-file (TSV) layout."""
    if not src or not tgt:
        return None
    source = Path(f"{prefix}.{src}")
    if not source.exists() and Path(prefix).is_file():
        return None
    return source, Path(f"{prefix}.{tgt}")


def read_parallel(
    prefix: PathArg, src: str | None = None, tgt: str | None = None
) -> list[SentencePair]:
    """The sentence pairs of ``PREFIX.SRC`` + ``PREFIX.TGT``, or of the TSV file ``PREFIX``.

    Raises:
        UserError: a file is missing or not UTF-8, the line counts differ (both files and both
            counts named), or a TSV line has no tab or more than one (file and line named).
    """
    files = parallel_files(prefix, src, tgt)
    if files is None:
        return read_tsv_pairs(prefix)
    source_path, target_path = files
    sources, targets = _lines(source_path), _lines(target_path)
    if len(sources) != len(targets):
        raise UserError(
            f"the parallel files differ in length: {source_path} has {len(sources):,} lines, "
            f"{target_path} has {len(targets):,}"
        )
    return [
        SentencePair(source, target, str(source_path), number)
        for number, (source, target) in enumerate(zip(sources, targets, strict=True), start=1)
    ]


def read_tsv_pairs(path: PathArg) -> list[SentencePair]:
    """The ``source<TAB>target`` pairs of a TSV file, one per line."""
    pairs = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        fields = line.split("\t")
        if len(fields) != 2:
            raise UserError(
                f"expected source<TAB>target, found {len(fields) - 1} tabs (for two files "
                "PREFIX.SRC and PREFIX.TGT, give --src and --tgt)",
                path=path,
                line=number,
            )
        pairs.append(SentencePair(fields[0].strip(), fields[1].strip(), str(path), number))
    return pairs


def read_source_lines(text: str, name: str) -> list[SentencePair]:
    """One source sentence per line of ``text`` (input to translate), read from ``name``; empty
    lines are kept, so the output lines stay aligned with the input."""
    lines = text.splitlines()
    return [SentencePair(line.strip(), None, name, number) for number, line in enumerate(lines, 1)]


def _lines(path: PathArg) -> list[str]:
    """The lines of a UTF-8 file, stripped of surrounding whitespace."""
    return [line.strip() for line in read_text(path).splitlines()]
