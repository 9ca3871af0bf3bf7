"""Tests for rnnkit.data.labeled_text: labelled texts from CSV, TSV, JSONL and fastText files."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import raised, write
from rnnkit.data.labeled_text import (
    LabeledText,
    read_labeled_texts,
    read_labeled_texts_from_text,
    read_text_lines,
)

# ---- CSV and TSV ----------------------------------------------------------------------------


def test_csv_with_quoted_commas_and_newlines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "train.csv",
        'id,text,label\n1,"Great film, would watch again",pos\n2,"line one\nline two",neg\n'
        '3,"She said ""hi""",pos\n',
    )
    assert read_labeled_texts(path) == [
        LabeledText("Great film, would watch again", ("pos",), 2),
        LabeledText("line one\nline two", ("neg",), 3),
        LabeledText('She said "hi"', ("pos",), 5),
    ]


def test_csv_crlf_bom_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"\xef\xbb\xbftext,label\r\n\r\ngood,pos\r\nbad , neg \r\n")
    assert read_labeled_texts(path) == [
        LabeledText("good", ("pos",), 3),
        LabeledText("bad ", ("neg",), 4),  # the text is kept as written, the label stripped
    ]


def test_tsv_other_field_names_and_multi_label(tmp_path: Path) -> None:
    path = write(tmp_path, "a.tsv", "label\tsentence\npos|funny\ta, b\nneg|\tc\n")
    texts = read_labeled_texts(path, text_field="sentence", label_separator="|")
    assert texts == [LabeledText("a, b", ("pos", "funny"), 2), LabeledText("c", ("neg",), 3)]
    whole = read_labeled_texts(path, text_field="sentence")
    assert [t.labels for t in whole] == [("pos|funny",), ("neg|",)]


def test_csv_without_labels_for_prediction(tmp_path: Path) -> None:
    no_column = write(tmp_path, "a.csv", "text\nfirst\nsecond\n")
    assert read_labeled_texts(no_column, require_labels=False) == [
        LabeledText("first", (), 2),
        LabeledText("second", (), 3),
    ]
    empty_label = write(tmp_path, "b.csv", "text,label\nfirst,\nsecond,pos\n")
    labels = [t.labels for t in read_labeled_texts(empty_label, require_labels=False)]
    assert labels == [(), ("pos",)]


def test_csv_header_lacking_a_field(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "sentence,label\nx,pos\n")
    assert raised(lambda: read_labeled_texts(path)) == (
        f"{path}:1: header has no column 'text' (columns found: 'sentence', 'label')"
    )
    path = write(tmp_path, "b.csv", "text,tag\nx,pos\n")
    message = raised(lambda: read_labeled_texts(path))
    assert message.startswith(f"{path}:1: header has no column 'label'")
    assert "'text', 'tag'" in message


def test_csv_row_with_wrong_column_count(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", 'text,label\nok,pos\n"multi\nline",pos,extra\n')
    assert raised(lambda: read_labeled_texts(path)) == (
        f"{path}:3: row has 3 columns but the header (line 1) has 2"
    )


def test_csv_empty_text_and_missing_label(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "text,label\nok,pos\n  ,neg\n")
    assert raised(lambda: read_labeled_texts(path)) == f"{path}:3: empty text in field 'text'"
    path = write(tmp_path, "b.csv", "text,label\nok,pos\n\nno label, \n")
    assert raised(lambda: read_labeled_texts(path)) == f"{path}:4: missing label in field 'label'"
    path = write(tmp_path, "c.tsv", "text\tlabel\nok\t|\n")
    message = raised(lambda: read_labeled_texts(path, label_separator="|"))
    assert message == f"{path}:2: missing label in field 'label'"


def test_csv_unclosed_quote_names_the_line_where_the_record_starts(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", 'text,label\nok,pos\n"never closed,pos\nmore,neg\n')
    message = raised(lambda: read_labeled_texts(path))
    assert message.startswith(f"{path}:3: malformed CSV record: unexpected end of data")


def test_header_only_and_empty_files(tmp_path: Path) -> None:
    header_only = write(tmp_path, "a.csv", "text,label\n")
    assert raised(lambda: read_labeled_texts(header_only)) == f"{header_only}: file has no texts"
    empty = write(tmp_path, "b.jsonl", "")
    assert raised(lambda: read_labeled_texts(empty)) == f"{empty}: file is empty"
    blank = write(tmp_path, "c.txt", "\n  \n")
    assert raised(lambda: read_labeled_texts(blank)) == f"{blank}: file has no texts"


def test_unknown_suffix_lists_the_supported_ones(tmp_path: Path) -> None:
    path = tmp_path / "data.xlsx"  # not created: the suffix is checked first
    assert raised(lambda: read_labeled_texts(path)) == (
        f"{path}: cannot tell the format from suffix '.xlsx'; use one of "
        ".csv, .tsv, .jsonl, .txt, .ft"
    )


# ---- JSONL ----------------------------------------------------------------------------------


def test_jsonl_strings_numbers_and_lists(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "a.jsonl",
        '{"text": "good", "label": "pos"}\n\n'
        '{"text": "rated", "label": 4}\n'
        '{"text": "scored", "label": 1.50}\n'
        '{"text": "both", "label": ["pos", "funny", 3]}\n',
    )
    assert read_labeled_texts(path) == [
        LabeledText("good", ("pos",), 1),
        LabeledText("rated", ("4",), 3),
        LabeledText("scored", ("1.50",), 4),  # a number keeps its JSON text
        LabeledText("both", ("pos", "funny", "3"), 5),
    ]


def test_jsonl_without_labels_for_prediction(tmp_path: Path) -> None:
    path = write(tmp_path, "a.jsonl", '{"text": "a"}\n{"text": "b", "label": null}\n')
    texts = read_labeled_texts(path, require_labels=False)
    assert texts == [LabeledText("a", (), 1), LabeledText("b", (), 2)]
    assert raised(lambda: read_labeled_texts(path)) == f"{path}:1: object lacks the field 'label'"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"text": "x", "label": "pos"', "invalid JSON: Expecting ',' delimiter at column 29"),
        ('{"text": "x", "label": NaN}', "invalid JSON: NaN is not a JSON value"),
        ('["x", "pos"]', "expected a JSON object, found a list"),
        ('{"label": "pos"}', "object lacks the field 'text'"),
        ('{"text": 5, "label": "pos"}', "field 'text' must be a string, not a number"),
        ('{"text": " ", "label": "pos"}', "empty text in field 'text'"),
        ('{"text": "x", "label": ""}', "missing label in field 'label'"),
        ('{"text": "x", "label": []}', "missing label in field 'label'"),
        (
            '{"text": "x", "label": true}',
            "field 'label' is a boolean; a label is a string, a number or a list",
        ),
        (
            '{"text": "x", "label": {"a": 1}}',
            "field 'label' is an object; a label is a string, a number or a list",
        ),
        (
            '{"text": "x", "label": ["a", ["b"]]}',
            "field 'label' holds a list in its list; a label is a string or a number",
        ),
        ('{"text": "x", "label": ["a", " "]}', "field 'label' holds an empty label"),
    ],
)
def test_jsonl_mistakes_name_the_line(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path, "a.jsonl", '{"text": "fine", "label": "pos"}\n\n' + line + "\n")
    assert raised(lambda: read_labeled_texts(path)) == f"{path}:3: {message}"


# ---- fastText -------------------------------------------------------------------------------


def test_fasttext_single_and_multi_label(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "a.txt",
        "__label__pos great film\n\n__label__pos  __label__funny\tgreat and funny\n"
        "__label__neg ends with __label__pos\n",
    )
    assert read_labeled_texts(path) == [
        LabeledText("great film", ("pos",), 1),
        LabeledText("great and funny", ("pos", "funny"), 3),
        LabeledText("ends with __label__pos", ("neg",), 4),  # only leading tokens are labels
    ]
    same = write(tmp_path, "a.ft", path.read_text(encoding="utf-8"))
    assert read_labeled_texts(same) == read_labeled_texts(path)


def test_fasttext_mistakes(tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", "__label__pos fine\nno label here\n")
    assert raised(lambda: read_labeled_texts(path)) == (
        f"{path}:2: line has no label: it must start with __label__LABEL"
    )
    assert read_labeled_texts(path, require_labels=False) == [
        LabeledText("fine", ("pos",), 1),
        LabeledText("no label here", (), 2),
    ]
    path = write(tmp_path, "b.txt", "__label__pos fine\n\n__label__neg\n")
    assert raised(lambda: read_labeled_texts(path)) == f"{path}:3: empty text after the labels"
    path = write(tmp_path, "c.txt", "__label__ text\n")
    assert raised(lambda: read_labeled_texts(path)) == f"{path}:1: __label__ with no label after it"


def test_invalid_utf8_is_reported_by_line(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"__label__a ok\n__label__b bad \xff\n")
    assert raised(lambda: read_labeled_texts(path)).startswith(f"{path}:2: not valid UTF-8")


# ---- plain lines and text entry points ------------------------------------------------------


def test_read_text_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "in.txt", "first text\n\n   \n__label__x stays text\n")
    assert read_text_lines(path) == [
        LabeledText("first text", (), 1),
        LabeledText("__label__x stays text", (), 4),
    ]
    blank = write(tmp_path, "blank.txt", "\n\n")
    assert raised(lambda: read_text_lines(blank)) == f"{blank}: file has no texts"


def test_from_text_takes_the_format_from_the_name_or_the_argument() -> None:
    text = '{"text": "x", "label": "pos"}\n'
    expected = [LabeledText("x", ("pos",), 1)]
    assert read_labeled_texts_from_text(text, "stdin.jsonl") == expected
    assert read_labeled_texts_from_text(text, "<stdin>", file_format="jsonl") == expected
    message = raised(lambda: read_labeled_texts_from_text(text, "<stdin>", file_format="xml"))
    assert message == (
        "unknown labelled-text format 'xml'; choose one of csv, fasttext, jsonl, tsv"
    )


def test_a_txt_file_without_fasttext_labels_is_one_class_named_by_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "positive.txt", "a fine film\n\n great fun \n")
    assert read_labeled_texts(path) == [
        LabeledText("a fine film", ("positive",), 1),
        LabeledText("great fun", ("positive",), 3),
    ]
    # input for prediction is plain lines, not a class
    assert read_labeled_texts(path, require_labels=False)[0].labels == ()
