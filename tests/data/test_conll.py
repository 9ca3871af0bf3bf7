"""Tests for rnnkit.data.conll: token-per-line files (CoNLL, CoNLL-U) and tokenised lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import raised, write
from rnnkit.data.conll import (
    TaggedSentence,
    read_conll,
    read_conll_from_text,
    read_conllu,
    read_tokenized_lines,
)

CONLL2003 = """\
-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER
-DOCSTART- -X- -X- O

BRUSSELS NNP B-NP B-LOC"""  # no final newline, no blank line before the second -DOCSTART-


# ---- CoNLL ----------------------------------------------------------------------------------


def test_conll2003_with_docstart_and_four_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "train.conll", CONLL2003)
    sentences = read_conll(path)
    assert sentences == [
        TaggedSentence(
            ("EU", "rejects", "German"),
            ("B-ORG", "O", "B-MISC"),
            (3, 4, 5),
            ("EU NNP B-NP B-ORG", "rejects VBZ B-VP O", "German JJ B-NP B-MISC"),
        ),
        TaggedSentence(
            ("Peter", "Blackburn"),
            ("B-PER", "I-PER"),
            (7, 8),
            ("Peter NNP B-NP B-PER", "Blackburn NNP I-NP I-PER"),
        ),
        TaggedSentence(("BRUSSELS",), ("B-LOC",), (11,), ("BRUSSELS NNP B-NP B-LOC",)),
    ]


def test_conll_other_columns_and_without_tags(tmp_path: Path) -> None:
    path = write(tmp_path, "train.conll", CONLL2003)
    pos = read_conll(path, tag_column=1)
    assert pos[0].tags == ("NNP", "VBZ", "JJ")
    chunks = read_conll(path, token_column=-4, tag_column=2)
    assert chunks[1].tokens == ("Peter", "Blackburn")
    assert chunks[1].tags == ("B-NP", "I-NP")
    untagged = read_conll(path, with_tags=False, tag_column=99)  # tag_column is ignored
    assert [s.tokens for s in untagged] == [
        ("EU", "rejects", "German"),
        ("Peter", "Blackburn"),
        ("BRUSSELS",),
    ]
    assert all(s.tags == () for s in untagged)


def test_conll_tabs_spaces_blank_runs_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "a.tsv"
    path.write_bytes(b"New York\tB-LOC\r\nis\tO\r\n\r\n\r\n  \r\nhi   O\r\n\r\n")
    assert read_conll(path) == [
        TaggedSentence(("New York", "is"), ("B-LOC", "O"), (1, 2), ("New York\tB-LOC", "is\tO")),
        TaggedSentence(("hi",), ("O",), (6,), ("hi   O",)),
    ]


def test_conll_tokens_only(tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", "one\ntwo\n\nthree\n")
    sentences = read_conll(path, with_tags=False)
    assert [(s.tokens, s.tags, s.lines) for s in sentences] == [
        (("one", "two"), (), (1, 2)),
        (("three",), (), (4,)),
    ]
    assert raised(lambda: read_conll(path)) == (
        f"{path}:1: token and tag are the same column (0) of 1; "
        "read a file of tokens only without tags"
    )


def test_conll_column_count_differs_from_the_first_token_line(tmp_path: Path) -> None:
    path = write(tmp_path, "a.conll", "-DOCSTART- O\n\nEU B-ORG\nrejects\tVBZ\tO\n")
    assert raised(lambda: read_conll(path)) == (
        f"{path}:4: line has 3 columns but line 3, the first token line, has 2"
    )


@pytest.mark.parametrize(
    ("token_column", "tag_column", "message"),
    [
        (2, -1, "token column 2 is out of range: the line has 2 columns"),
        (0, -3, "tag column -3 is out of range: the line has 2 columns"),
        (0, 2, "tag column 2 is out of range: the line has 2 columns"),
    ],
)
def test_conll_column_out_of_range(
    tmp_path: Path, token_column: int, tag_column: int, message: str
) -> None:
    path = write(tmp_path, "a.conll", "\n\nEU B-ORG\n")
    error = raised(lambda: read_conll(path, token_column=token_column, tag_column=tag_column))
    assert error == f"{path}:3: {message}"


def test_conll_empty_token_and_tag(tmp_path: Path) -> None:
    path = write(tmp_path, "a.conll", "a\tO\n\n\tO\n")
    assert raised(lambda: read_conll(path)) == f"{path}:3: empty token in column 0"
    path = write(tmp_path, "b.conll", "a\tO\nb\t \n")
    assert raised(lambda: read_conll(path)) == f"{path}:2: empty tag in column 1"


def test_conll_without_sentences(tmp_path: Path) -> None:
    path = write(tmp_path, "a.conll", "-DOCSTART- -X- -X- O\n\n\n")
    assert raised(lambda: read_conll(path)) == f"{path}: file has no sentences"
    empty = write(tmp_path, "b.conll", "")
    assert raised(lambda: read_conll(empty)) == f"{empty}: file is empty"


def test_conll_from_text_names_the_source() -> None:
    assert read_conll_from_text("a O\n", "<stdin>")[0].tags == ("O",)
    assert raised(lambda: read_conll_from_text("a O\nb\n", "<stdin>")) == (
        "<stdin>:2: line has 1 columns but line 1, the first token line, has 2"
    )


# ---- CoNLL-U --------------------------------------------------------------------------------

CONLLU = """\
# sent_id = 1
# text = I really don't know.
1\tI\tI\tPRON\tPRP\tCase=Nom\t5\tnsubj\t_\t_
2\treally\treally\tADV\tRB\t_\t5\tadvmod\t_\t_
3-4\tdon't\t_\t_\t_\t_\t_\t_\t_\t_
3\tdo\tdo\tAUX\tVBP\t_\t5\taux\t_\t_
4\tn't\tnot\tPART\tRB\t_\t5\tadvmod\t_\t_
5\tknow\tknow\tVERB\tVB\t_\t0\troot\t_\t_
5.1\tknew\tknow\tVERB\tVBD\t_\t_\t_\t0:root\t_
6\t.\t.\tPUNCT\t.\t_\t5\tpunct\t_\t_

# sent_id = 2
1\tYes\tyes\tINTJ\tUH\t_\t0\troot\t_\t_
"""


def test_conllu_comments_multiword_tokens_and_empty_nodes(tmp_path: Path) -> None:
    path = write(tmp_path, "en.conllu", CONLLU)
    first, second = read_conllu(path)
    assert first.tokens == ("I", "really", "do", "n't", "know", ".")
    assert first.tags == ("PRON", "ADV", "AUX", "PART", "VERB", "PUNCT")
    assert first.lines == (3, 4, 6, 7, 8, 10)
    assert first.rows[3] == "4\tn't\tnot\tPART\tRB\t_\t5\tadvmod\t_\t_"
    assert first.comments == ("# sent_id = 1", "# text = I really don't know.")
    assert second == TaggedSentence(
        ("Yes",),
        ("INTJ",),
        (13,),
        ("1\tYes\tyes\tINTJ\tUH\t_\t0\troot\t_\t_",),
        ("# sent_id = 2",),
    )


def test_conllu_xpos_and_without_tags(tmp_path: Path) -> None:
    path = write(tmp_path, "en.conllu", CONLLU)
    assert read_conllu(path, tag_field="xpos")[0].tags == ("PRP", "RB", "VBP", "RB", "VB", ".")
    untagged = read_conllu(path, with_tags=False)
    assert untagged[0].tags == ()
    assert untagged[1].tokens == ("Yes",)


def test_conllu_unknown_tag_field_lists_the_choices(tmp_path: Path) -> None:
    path = write(tmp_path, "en.conllu", CONLLU)
    assert raised(lambda: read_conllu(path, tag_field="deprel")) == (
        "CoNLL-U tag field must be 'upos' or 'xpos', not 'deprel'"
    )


ROW = "1\tI\tI\tPRON\tPRP\t_\t0\troot\t_\t_"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            "2\tgo\tgo\tVERB\tVB\t_\t0\troot\t_",
            "line has 9 tab-separated columns, CoNLL-U has 10 "
            "(ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC)",
        ),
        ("2 go go VERB VB _ 0 root _ _", "are the columns separated by spaces instead of tabs?"),
        ("two\tgo\tgo\tVERB\tVB\t_\t0\troot\t_\t_", "ID 'two' is not a word index (1), a range"),
        ("2-\tgo\tgo\tVERB\tVB\t_\t0\troot\t_\t_", "ID '2-' is not a word index (1), a range"),
        ("2\t\tgo\tVERB\tVB\t_\t0\troot\t_\t_", "empty FORM"),
        ("2\tgo\tgo\t_\tVB\t_\t0\troot\t_\t_", "UPOS is unspecified ('_') but tags are read"),
        ("# late\t_", "comment inside a sentence: comments go before its first word line"),
    ],
)
def test_conllu_mistakes_name_the_line(tmp_path: Path, bad: str, message: str) -> None:
    path = write(tmp_path, "a.conllu", f"# c\n{ROW}\n\n{ROW}\n{bad}\n")
    error = raised(lambda: read_conllu(path))
    assert error.startswith(f"{path}:5: ")
    assert message in error


def test_conllu_unspecified_tag_is_fine_without_tags_or_in_the_other_field(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "a.conllu", "1\tgo\tgo\tVERB\t_\t_\t0\troot\t_\t_\n")
    assert read_conllu(path)[0].tags == ("VERB",)
    assert read_conllu(path, with_tags=False)[0].tokens == ("go",)
    message = raised(lambda: read_conllu(path, tag_field="xpos"))
    assert message == f"{path}:1: XPOS is unspecified ('_') but tags are read from it"


def test_conllu_without_sentences(tmp_path: Path) -> None:
    path = write(tmp_path, "a.conllu", "# only a comment\n\n")
    assert raised(lambda: read_conllu(path)) == f"{path}: file has no sentences"


# ---- tokenised lines ------------------------------------------------------------------------


def test_read_tokenized_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "in.txt", "EU rejects  German\tcall\n\n  \nPeter\n")
    assert read_tokenized_lines(path) == [
        TaggedSentence(
            ("EU", "rejects", "German", "call"),
            (),
            (1, 1, 1, 1),
            ("EU", "rejects", "German", "call"),
        ),
        TaggedSentence(("Peter",), (), (4,), ("Peter",)),
    ]
    blank = write(tmp_path, "blank.txt", "\n \n")
    assert raised(lambda: read_tokenized_lines(blank)) == f"{blank}: file has no sentences"
