"""Tests for rnnkit.data.vocab: ids, special tokens, frequency cut-offs, serialisation."""

from __future__ import annotations

import doctest
import json

import pytest

from rnnkit.data import vocab as vocab_module
from rnnkit.data.vocab import SPECIAL_TOKENS, Vocab
from rnnkit.errors import UserError

TOKENS = ["b", "a", "c", "a", "b", "a", "d"]  # a 3, b 2, c 1, d 1; c appears before d


def test_docstring_examples() -> None:
    assert doctest.testmod(vocab_module).failed == 0


def test_special_tokens_take_the_first_ids() -> None:
    vocab = Vocab(["a", "b"])
    assert vocab.tokens == ["<pad>", "<unk>", "<bos>", "<eos>", "a", "b"]
    assert (vocab.pad_id, vocab.unk_id, vocab.bos_id, vocab.eos_id) == (0, 1, 2, 3)
    assert vocab.specials == SPECIAL_TOKENS
    assert len(vocab) == 6


def test_custom_specials_and_missing_ones_are_none() -> None:
    vocab = Vocab(["x"], specials=("<pad>",))
    assert vocab.pad_id == 0
    assert vocab.unk_id is None and vocab.bos_id is None and vocab.eos_id is None
    assert vocab.index("x") == 1
    with pytest.raises(KeyError, match="nope"):
        vocab.index("nope")


def test_build_orders_by_count_then_first_appearance() -> None:
    vocab = Vocab.build(TOKENS)
    assert vocab.tokens[4:] == ["a", "b", "c", "d"]
    # all counts equal: first-appearance order, not alphabetical
    assert Vocab.build(["z", "y", "x"]).tokens[4:] == ["z", "y", "x"]


def test_build_from_counts() -> None:
    vocab = Vocab.build({"x": 1, "y": 5, "z": 5})
    assert vocab.tokens[4:] == ["y", "z", "x"]


def test_min_freq_and_max_size() -> None:
    assert Vocab.build(TOKENS, min_freq=2).tokens[4:] == ["a", "b"]
    assert Vocab.build(TOKENS, min_freq=3).tokens[4:] == ["a"]
    assert Vocab.build(TOKENS, max_size=3).tokens[4:] == ["a", "b", "c"]
    assert len(Vocab.build(TOKENS, max_size=0)) == len(SPECIAL_TOKENS)
    assert Vocab.build(TOKENS, min_freq=2, max_size=1).tokens[4:] == ["a"]


def test_bad_limits_are_user_errors() -> None:
    with pytest.raises(UserError, match="min_freq"):
        Vocab.build(["a"], min_freq=0)
    with pytest.raises(UserError, match="max_size"):
        Vocab.build(["a"], max_size=-1)


def test_special_tokens_in_the_corpus_are_not_added_twice() -> None:
    vocab = Vocab.build(["<unk>", "a", "<eos>", "<eos>"])
    assert vocab.tokens == [*SPECIAL_TOKENS, "a"]


def test_duplicate_tokens_are_rejected() -> None:
    with pytest.raises(ValueError, match="unique"):
        Vocab(["a", "b", "a"])
    with pytest.raises(ValueError, match="unique"):
        Vocab(["<pad>"])


def test_lookup_encode_decode() -> None:
    vocab = Vocab(["the", "cat"])
    assert "cat" in vocab and "dog" not in vocab
    assert vocab.index("cat") == 5
    assert vocab.index("dog") == vocab.unk_id == 1
    assert vocab.encode(["the", "dog", "cat"]) == [4, 1, 5]
    assert vocab.decode([5, 4, 0]) == ["cat", "the", "<pad>"]
    assert vocab.token(4) == "the"
    for bad in (-1, len(vocab)):
        with pytest.raises(IndexError):
            vocab.token(bad)


def test_dict_round_trip_through_json() -> None:
    vocab = Vocab.build(TOKENS, specials=("<pad>", "<unk>"))
    restored = Vocab.from_dict(json.loads(json.dumps(vocab.to_dict())))
    assert restored == vocab
    assert restored.tokens == vocab.tokens
    assert restored.specials == ("<pad>", "<unk>")
    assert restored != Vocab.build(TOKENS)
