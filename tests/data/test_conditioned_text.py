"""Conditioned texts: one file per category, tables with a column per field, the built-in
syllable names, and the errors that name file and line."""

from __future__ import annotations

import pytest

from conftest import raised, write
from rnnkit.data.builtin_conditioned import ALPHABETS, builtin_conditioned_texts
from rnnkit.data.conditioned_text import ConditionedText, read_conditioned_texts


def test_a_txt_file_is_one_category_named_by_its_stem(tmp_path):
    path = write(tmp_path, "female.txt", "Anna\n\n  Maria \nZoe\n")
    assert read_conditioned_texts(path) == [
        ConditionedText("Anna", ("female",), 1),
        ConditionedText("Maria", ("female",), 3),
        ConditionedText("Zoe", ("female",), 4),
    ]


def test_a_txt_file_of_fasttext_lines_keeps_its_labels(tmp_path):
    path = write(tmp_path, "names.txt", "__label__male Tom\n__label__female Ann\n")
    records = read_conditioned_texts(path)
    assert [(r.text, r.conditions) for r in records] == [("Tom", ("male",)), ("Ann", ("female",))]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("n.csv", "name,gender,language\nIvan,male,Russian\nMei,female,Chinese\n"),
        ("n.tsv", "name\tgender\tlanguage\nIvan\tmale\tRussian\nMei\tfemale\tChinese\n"),
        (
            "n.jsonl",
            '{"name": "Ivan", "gender": "male", "language": "Russian"}\n'
            '{"name": "Mei", "gender": "female", "language": "Chinese"}\n',
        ),
    ],
)
def test_a_table_gives_one_value_per_field(tmp_path, name, text):
    path = write(tmp_path, name, text)
    records = read_conditioned_texts(path, text_field="name", fields=("gender", "language"))
    assert [(r.text, r.conditions, r.line) for r in records] == [
        ("Ivan", ("male", "Russian"), 2 if name != "n.jsonl" else 1),
        ("Mei", ("female", "Chinese"), 3 if name != "n.jsonl" else 2),
    ]


def test_mistakes_name_file_and_line(tmp_path):
    two = write(
        tmp_path,
        "n.jsonl",
        '{"text": "Ivan", "label": "a"}\n{"text": "Mei", "label": ["a", "b"]}\n',
    )
    assert f"{two}:2: field 'label' holds 2 values" in raised(lambda: read_conditioned_texts(two))
    missing = write(tmp_path, "n.csv", "text,gender\nIvan,male\nMei,\n")
    message = raised(lambda: read_conditioned_texts(missing, fields=("gender",)))
    assert f"{missing}:3: missing label in field 'gender'" in message
    no_column = raised(lambda: read_conditioned_texts(missing, fields=("language",)))
    assert "has no column 'language'" in no_column
    stem = write(tmp_path, "male.txt", "Tom\n")
    several = raised(lambda: read_conditioned_texts(stem, fields=("gender", "language")))
    assert f"{stem}: a .txt file gives one condition" in several


def test_builtin_syllables_are_deterministic_and_follow_their_kind():
    records = builtin_conditioned_texts("builtin:syllables")
    assert records == builtin_conditioned_texts("builtin:syllables")
    assert {r.conditions for r in records} == {("soft",), ("sharp",)}
    for record in records:
        consonants, vowels = ALPHABETS[record.conditions[0]]
        assert set(record.text.lower()) <= set(consonants + vowels)
    test = {r.text for r in builtin_conditioned_texts("builtin:syllables-test")}
    assert test != {r.text for r in records}
    assert "choose builtin:syllables" in raised(lambda: builtin_conditioned_texts("builtin:x"))
