"""The format of prediction input when its name does not tell it."""

from __future__ import annotations

import pytest

from rnnkit.data.input_formats import sentence_format, text_format
from rnnkit.errors import UserError

CONLLU = (
    "# text = Hi .\n1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_\n2\t.\t.\tPUNCT\t.\t_\t1\tpunct\t_\t_\n"
)


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        (CONLLU, "stdin", "conllu"),
        (CONLLU.split("\n", 1)[1], "stdin", "conllu"),  # no comment: ten tab-separated fields
        ("Kim NNP I-PER\nsaid VBD O\nhi UH O\n", "stdin", "conll"),  # one sentence, no blank
        ("Anna flew to Lima .\n", "stdin", "lines"),  # one tokenised sentence
        ("Kim\nsaid\n\nHi\n", "stdin", "conll"),  # tokens only, sentences apart
        ("Anna flew\n\n\nto Lima now\n", "stdin", "lines"),  # tokenised sentences
        ("Kim\tx\n", "in.conllu", "conllu"),  # the suffix decides
        ("Anna flew to Lima\n", "in.iob", "conll"),
    ],
)
def test_sentence_formats(text, name, expected):
    assert sentence_format(text, name) == expected


def test_text_formats():
    assert text_format("__label__a good\nbad\n", "stdin") == "fasttext"
    assert text_format("good film\n", "reviews.txt") == "lines"
    assert text_format("text,label\n", "x.CSV") == "csv"
    assert text_format("good film\n", "x.csv", "lines") == "lines"  # an explicit choice wins
    with pytest.raises(UserError, match="unknown input format 'xml'"):
        text_format("", "stdin", "xml")
