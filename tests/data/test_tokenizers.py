"""Tests for rnnkit.data.tokenizers: round trips, vocabularies, special ids, files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnkit.data.tokenizers import (
    MIN_BPE_VOCAB_SIZE,
    TOKENIZER_KINDS,
    BPETokenizer,
    CharTokenizer,
    Tokenizer,
    WhitespaceTokenizer,
    WordTokenizer,
    build_tokenizer,
    load_tokenizer,
)
from rnnkit.data.vocab import SPECIAL_TOKENS
from rnnkit.errors import UserError

CORPUS = (
    "The quick brown fox jumps over the lazy dog.\n"
    "Le cœur a ses raisons que la raison ne connaît point.\n"
    "Über den Wolken muss die Freiheit wohl grenzenlos sein!\n\n"
    "東京は日本の首都です。 42 + 17 = 59\ttab\n"
) * 8
PROBE = "The lazy fox, 42 times!\nÜber den Wolken.\n"  # only characters and words of CORPUS
KINDS = ["char", "word", "whitespace", "bpe"]


@pytest.fixture(scope="module")
def bpe() -> BPETokenizer:
    return BPETokenizer.train(CORPUS, vocab_size=320)


@pytest.fixture(scope="module")
def tokenizers(bpe: BPETokenizer) -> dict[str, Tokenizer]:
    return {
        "char": CharTokenizer.train(CORPUS),
        "word": WordTokenizer.train(CORPUS),
        "whitespace": WhitespaceTokenizer.train(CORPUS),
        "bpe": bpe,
    }


# --- shared behaviour -------------------------------------------------------------------------


def test_every_registered_kind_is_tested() -> None:
    assert sorted(KINDS) == sorted(TOKENIZER_KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_special_token_ids(tokenizers: dict[str, Tokenizer], kind: str) -> None:
    tokenizer = tokenizers[kind]
    ids = (tokenizer.pad_id, tokenizer.unk_id, tokenizer.bos_id, tokenizer.eos_id)
    assert ids == (0, 1, 2, 3)
    for token_id, token in enumerate(SPECIAL_TOKENS):
        assert tokenizer.token_to_id(token) == token_id
        assert tokenizer.id_to_token(token_id) == token


@pytest.mark.parametrize("kind", KINDS)
def test_ids_are_in_range_and_ids_outside_fail(tokenizers: dict[str, Tokenizer], kind: str) -> None:
    tokenizer = tokenizers[kind]
    ids = tokenizer.encode(PROBE)
    assert ids and all(0 <= i < tokenizer.vocab_size for i in ids)
    for bad in (-1, tokenizer.vocab_size):
        with pytest.raises(IndexError):
            tokenizer.decode([bad])
        with pytest.raises(IndexError):
            tokenizer.id_to_token(bad)


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_round_trip(tokenizers: dict[str, Tokenizer], kind: str, tmp_path: Path) -> None:
    tokenizer = tokenizers[kind]
    path = tmp_path / "tokenizer.json"
    path.write_text("old contents")  # save replaces an existing file
    tokenizer.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["tokenizer.json"]  # no temporary left
    assert json.loads(path.read_text(encoding="utf-8"))["type"] == kind
    restored = load_tokenizer(path)
    assert type(restored) is type(tokenizer)
    assert restored.vocab_size == tokenizer.vocab_size
    text = PROBE + "unseen ✓ text"
    assert restored.encode(text) == tokenizer.encode(text)
    assert restored.decode(tokenizer.encode(text)) == tokenizer.decode(tokenizer.encode(text))
    assert restored.to_dict() == tokenizer.to_dict()
    assert type(tokenizer).load(path).to_dict() == tokenizer.to_dict()


def test_load_checks_the_kind(tokenizers: dict[str, Tokenizer], tmp_path: Path) -> None:
    path = tmp_path / "char.json"
    tokenizers["char"].save(path)
    with pytest.raises(UserError, match="char tokenizer, not a word"):
        WordTokenizer.load(path)
    assert isinstance(Tokenizer.load(path), CharTokenizer)


@pytest.mark.parametrize(
    ("contents", "message"),
    [
        ('{"type": "morse", "format": 1}', "unknown tokenizer type 'morse'; choose one of"),
        ('{"type": "char", "format": 99}', "unsupported tokenizer format 99"),
        ('{"type": "char", "format": 1}', "not a valid char tokenizer file"),
        ('{"type": "bpe", "format": 1, "tokenizer": {}}', "not a valid bpe tokenizer file"),
        ("[1, 2]", "expected a JSON object"),
        ('{\n"type": "char",\n"format": 1,,\n}', ":3: not valid JSON"),
    ],
)
def test_load_errors_name_the_file(tmp_path: Path, contents: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(contents, encoding="utf-8")
    with pytest.raises(UserError, match=message) as caught:
        load_tokenizer(path)
    assert str(caught.value).startswith(str(path))


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such file"):
        load_tokenizer(tmp_path / "missing.json")


# --- characters -------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1))
def test_char_round_trip_is_exact(text: str) -> None:
    tokenizer = CharTokenizer.train(text)
    ids = tokenizer.encode(text)
    assert len(ids) == len(text)
    assert tokenizer.decode(ids) == text
    assert tokenizer.vocab_size == len(SPECIAL_TOKENS) + len(set(text))


def test_char_vocab_counted_by_hand() -> None:
    # "abracadabra": a 5, b 2, r 2, c 1, d 1 (b before r, c before d by first appearance)
    tokenizer = CharTokenizer.train("abracadabra")
    assert [tokenizer.id_to_token(i) for i in range(4, 9)] == ["a", "b", "r", "c", "d"]
    assert CharTokenizer.train("abracadabra", min_freq=2).vocab_size == 4 + 3
    limited = CharTokenizer.train("abracadabra", max_size=2)
    assert limited.decode(limited.encode("abrc")) == "ab<unk><unk>"


def test_unseen_characters_become_unk() -> None:
    tokenizer = CharTokenizer.train("ab\n")
    a, b = tokenizer.token_to_id("a"), tokenizer.token_to_id("b")
    assert tokenizer.encode("a\nbz") == [a, tokenizer.token_to_id("\n"), b, tokenizer.unk_id]


def test_char_lowercase() -> None:
    tokenizer = CharTokenizer.train("AbA", lowercase=True)
    assert tokenizer.vocab_size == 4 + 2
    assert tokenizer.decode(tokenizer.encode("BAC")) == "ba<unk>"


# --- words ------------------------------------------------------------------------------------


def test_word_split_keeps_words_numbers_punctuation_and_newlines() -> None:
    tokenizer = WordTokenizer()
    text = "Hello, world! 42 times.\n\nNext  line"
    expected = ["Hello", ",", "world", "!", "42", "times", ".", "\n", "\n", "Next", "line"]
    assert tokenizer.split(text) == expected
    no_newlines = WordTokenizer(keep_newlines=False)
    assert no_newlines.split(text) == [t for t in expected if t != "\n"]


def test_word_vocab_counted_by_hand() -> None:
    text = "the cat the dog the cat ."  # the 3, cat 2, dog 1, . 1
    tokenizer = WordTokenizer.train(text)
    assert [tokenizer.id_to_token(i) for i in range(4, 8)] == ["the", "cat", "dog", "."]
    frequent = WordTokenizer.train(text, min_freq=2)
    assert frequent.vocab_size == 4 + 2
    assert frequent.encode("the dog") == [4, frequent.unk_id]
    assert WordTokenizer.train(text, max_size=3).vocab_size == 4 + 3


_WORDY_TEXT = st.text(alphabet="ab1 ,.!?\n", max_size=40)


@settings(max_examples=60, deadline=None)
@given(_WORDY_TEXT)
def test_word_round_trip_gives_the_same_tokens(text: str) -> None:
    tokenizer = WordTokenizer.train(text)
    assert tokenizer.split(tokenizer.decode(tokenizer.encode(text))) == tokenizer.split(text)


def test_word_decode_puts_no_spaces_around_newlines() -> None:
    tokenizer = WordTokenizer.train("one two\nthree\n\nfour")
    assert tokenizer.decode(tokenizer.encode("one two\nthree\n\nfour")) == "one two\nthree\n\nfour"


def test_word_lowercase_and_custom_pattern() -> None:
    tokenizer = WordTokenizer.train("The THE the", lowercase=True)
    assert tokenizer.vocab_size == 4 + 1
    by_space = WordTokenizer(pattern=r"\S+", keep_newlines=False)
    assert by_space.split("it's a-b\nc") == ["it's", "a-b", "c"]
    with pytest.raises(UserError, match="invalid word pattern"):
        WordTokenizer(pattern="(")


# --- whitespace-separated tokens -------------------------------------------------------------


def test_whitespace_vocab_and_ids_counted_by_hand() -> None:
    tokenizer = WhitespaceTokenizer.train("a b <unk>\nc a\n")  # a 2, b 1, c 1; <unk> is not a type
    assert tokenizer.vocab.tokens[len(SPECIAL_TOKENS) :] == ["a", "b", "c"]
    a, b, c = (tokenizer.token_to_id(token) for token in "abc")
    unk, eos = tokenizer.unk_id, tokenizer.eos_id
    assert tokenizer.encode("a b <unk>\nc a\n") == [a, b, unk, eos, c, a, eos]


def test_whitespace_split_on_spaces_tabs_and_carriage_returns() -> None:
    tokenizer = WhitespaceTokenizer()
    text = " it 's\ta well-known ,  N.\r\n\nnext"
    assert tokenizer.split(text) == [
        "it",
        "'s",
        "a",
        "well-known",
        ",",
        "N.",
        "<eos>",
        "<eos>",
        "next",
    ]


def test_whitespace_special_token_text() -> None:
    tokenizer = WhitespaceTokenizer.train("x <unk> <eos> <pad> <bos> y\n<UNK>", lowercase=True)
    assert tokenizer.vocab.tokens[len(SPECIAL_TOKENS) :] == ["x", "y"]
    unk, eos = tokenizer.unk_id, tokenizer.eos_id
    assert tokenizer.encode("<unk> <eos> <pad> <bos>\n<UNK> z") == [
        unk,
        eos,
        unk,
        unk,
        eos,
        unk,
        unk,
    ]


def test_whitespace_decode_renders_eos_as_a_line_break() -> None:
    text = "the cat sat\n\non the mat\n"
    tokenizer = WhitespaceTokenizer.train(text)
    assert tokenizer.decode(tokenizer.encode(text)) == text
    assert (
        tokenizer.decode([tokenizer.eos_id, tokenizer.bos_id, tokenizer.pad_id]) == "\n<bos> <pad>"
    )


_PRETOKENISED_TEXT = st.lists(
    st.sampled_from(["a", "B", "1", *SPECIAL_TOKENS, " ", "\t", "\n", "\r\n"]), max_size=30
).map("".join)


@settings(max_examples=60, deadline=None)
@given(_PRETOKENISED_TEXT, st.booleans())
def test_whitespace_round_trip_gives_the_same_ids(text: str, lowercase: bool) -> None:
    tokenizer = WhitespaceTokenizer.train(text, lowercase=lowercase, max_size=1)  # others unknown
    ids = tokenizer.encode(text)
    assert tokenizer.encode(tokenizer.decode(ids)) == ids
    assert ids.count(tokenizer.eos_id) == text.count("\n") + text.split().count("<eos>")
    assert not {tokenizer.pad_id, tokenizer.bos_id} & set(ids)


def test_whitespace_lowercase_digits_and_limits() -> None:
    text = "The the THE cat 1999 2024\n"
    tokenizer = WhitespaceTokenizer.train(text, lowercase=True, normalize_digits=True)
    assert tokenizer.vocab.tokens[len(SPECIAL_TOKENS) :] == ["the", "0000", "cat"]
    assert WhitespaceTokenizer.train(text, min_freq=2).vocab.tokens[len(SPECIAL_TOKENS) :] == []
    assert WhitespaceTokenizer.train(text, max_size=1).vocab_size == len(SPECIAL_TOKENS) + 1


# --- byte-level BPE ---------------------------------------------------------------------------


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text())
def test_bpe_round_trip_is_exact_for_any_text(bpe: BPETokenizer, text: str) -> None:
    ids = bpe.encode(text)
    assert bpe.unk_id not in ids
    assert bpe.decode(ids) == text


def test_bpe_round_trip_examples(bpe: BPETokenizer) -> None:
    for text in ["héllo wörld\n\n\ttabs 日本語 🎉\r\n", " leading space", "\n", CORPUS]:
        assert bpe.decode(bpe.encode(text)) == text


def test_bpe_learns_merges_up_to_vocab_size(bpe: BPETokenizer) -> None:
    assert MIN_BPE_VOCAB_SIZE < bpe.vocab_size <= 320
    assert len(bpe.encode(CORPUS)) < len(CORPUS.encode())  # merges shorten the byte sequence


def test_bpe_special_token_text_is_not_special(bpe: BPETokenizer) -> None:
    text = "<pad><unk><bos><eos>"
    ids = bpe.encode(text)
    assert not set(ids) & {0, 1, 2, 3}
    assert bpe.decode(ids) == text
    assert bpe.decode([bpe.bos_id, *bpe.encode("x"), bpe.eos_id]) == "<bos>x<eos>"


def test_bpe_training_is_deterministic(bpe: BPETokenizer) -> None:
    assert BPETokenizer.train(CORPUS, vocab_size=320).to_dict() == bpe.to_dict()


def test_bpe_vocab_size_too_small() -> None:
    with pytest.raises(UserError, match=str(MIN_BPE_VOCAB_SIZE)):
        BPETokenizer.train(CORPUS, vocab_size=MIN_BPE_VOCAB_SIZE - 1)


# --- build_tokenizer --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        ("char", CharTokenizer),
        ("word", WordTokenizer),
        ("whitespace", WhitespaceTokenizer),
        ("bpe", BPETokenizer),
    ],
)
def test_build_tokenizer_kinds(kind: str, cls: type[Tokenizer]) -> None:
    tokenizer = build_tokenizer(kind, CORPUS, vocab_size=300)
    assert isinstance(tokenizer, cls)
    assert tokenizer.vocab_size <= 300


def test_build_tokenizer_vocab_size_counts_specials() -> None:
    # words of "the cat the dog the cat .": the 3, cat 2 are the two most frequent
    tokenizer = build_tokenizer("word", "the cat the dog the cat .", vocab_size=6)
    assert [tokenizer.id_to_token(i) for i in range(tokenizer.vocab_size)][4:] == ["the", "cat"]


def test_build_tokenizer_whitespace() -> None:
    text = "The cat , the dog .\nThe end .\n"  # the 3 (lowercased), . 2, then by first appearance
    tokenizer = build_tokenizer("whitespace", text, lowercase=True, vocab_size=7)
    assert isinstance(tokenizer, WhitespaceTokenizer)
    assert tokenizer.vocab.tokens[len(SPECIAL_TOKENS) :] == ["the", ".", "cat"]
    assert tokenizer.encode("the end\n") == [4, tokenizer.unk_id, tokenizer.eos_id]


def test_build_tokenizer_errors() -> None:
    with pytest.raises(UserError, match="'morse'; choose one of: bpe, char, whitespace, word"):
        build_tokenizer("morse", CORPUS)
    with pytest.raises(UserError, match="max_size"):
        build_tokenizer("bpe", CORPUS, max_size=10)
    with pytest.raises(UserError, match="not both"):
        build_tokenizer("char", CORPUS, vocab_size=10, max_size=10)
    with pytest.raises(UserError, match="vocab_size"):
        build_tokenizer("word", CORPUS, vocab_size=4)
