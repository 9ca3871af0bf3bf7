"""Parallel text: two aligned files or one TSV, and errors that name the files, counts and lines."""

from __future__ import annotations

import pytest

from conftest import raised, write
from rnnkit.data.parallel import read_parallel, read_source_lines
from rnnkit.errors import UserError


def test_two_files_with_language_suffixes_pair_line_by_line(tmp_path):
    write(tmp_path, "train.de", "ein Hund\n\nzwei Katzen\n")
    write(tmp_path, "train.en", "a dog\nempty source\ntwo cats\n")
    pairs = read_parallel(tmp_path / "train", "de", "en")
    assert [(p.source, p.target, p.line) for p in pairs] == [
        ("ein Hund", "a dog", 1),
        ("", "empty source", 2),
        ("zwei Katzen", "two cats", 3),
    ]
    assert pairs[0].path == str(tmp_path / "train.de")


def test_files_of_different_length_name_both_files_and_counts(tmp_path):
    write(tmp_path, "train.de", "a\nb\nc\n")
    write(tmp_path, "train.en", "a\nb\n")
    message = raised(lambda: read_parallel(tmp_path / "train", "de", "en"))
    assert "train.de has 3 lines" in message and "train.en has 2" in message


def test_a_missing_target_file_is_named(tmp_path):
    write(tmp_path, "train.de", "a\n")
    assert "train.en" in raised(lambda: read_parallel(tmp_path / "train", "de", "en"))


def test_one_tsv_file_holds_source_and_target(tmp_path):
    path = write(tmp_path, "pairs.tsv", "3 March 2021\t2021-03-03\n  x \t y\n")
    pairs = read_parallel(path)
    assert [(p.source, p.target) for p in pairs] == [("3 March 2021", "2021-03-03"), ("x", "y")]
    # suffixes given but no PREFIX.SRC file: the TSV is still read
    assert read_parallel(path, "de", "en") == pairs


@pytest.mark.parametrize("line", ["no tab here", "one\ttwo\tthree"])
def test_a_tsv_line_without_exactly_one_tab_names_the_line(tmp_path, line):
    path = write(tmp_path, "pairs.tsv", f"a\tb\n{line}\n")
    with pytest.raises(UserError, match=r"pairs.tsv:2: expected source<TAB>target"):
        read_parallel(path)


def test_input_lines_are_kept_aligned_empty_ones_included():
    pairs = read_source_lines("eins\n\n drei \n", "stdin")
    assert [(p.source, p.target, p.line) for p in pairs] == [
        ("eins", None, 1),
        ("", None, 2),
        ("drei", None, 3),
    ]
