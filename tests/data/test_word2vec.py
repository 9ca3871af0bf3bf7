"""Tests for rnnkit.data.word2vec: the corpus as rnnkit's word tokens, and word2vec training that
is reproducible and learns which words go together."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnkit.data.word2vec import corpus_sentences, train_word2vec
from rnnkit.errors import UserError

ANIMALS = ["cat", "dog", "horse", "cow", "sheep", "goat", "mouse", "duck", "pig", "hen"]
VEHICLES = ["car", "bus", "train", "plane", "boat", "truck", "bike", "tram", "ship", "taxi"]


def two_topics(seed: int = 0, sentences: int = 2000) -> list[list[str]]:
    """Sentences of five words, all animals or all vehicles: the topics never share a context."""
    rng = random.Random(seed)
    return [rng.sample(rng.choice([ANIMALS, VEHICLES]), 5) for _ in range(sentences)]


def test_corpus_sentences_split_like_the_word_tokenizer(tmp_path: Path) -> None:
    first = tmp_path / "a.txt"
    first.write_text("The cat's mat, 3 times!\n\n   \nDogs  bark", encoding="utf-8")
    second = tmp_path / "b.txt"
    second.write_text("Ünïcode wörds\r\n", encoding="utf-8")
    expected = [
        ["The", "cat", "'", "s", "mat", ",", "3", "times", "!"],
        ["Dogs", "bark"],
        ["Ünïcode", "wörds"],
    ]
    assert corpus_sentences([first, str(second)], lowercase=False) == expected
    lowered = [[token.lower() for token in sentence] for sentence in expected]
    assert corpus_sentences([first, second], lowercase=True) == lowered


def test_corpus_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such file"):
        corpus_sentences([tmp_path / "absent.txt"], lowercase=False)


@pytest.mark.parametrize("architecture", ["skipgram", "cbow"])
def test_topic_mates_are_nearer_than_the_other_topic(architecture: str) -> None:
    vectors = train_word2vec(
        two_topics(), architecture=architecture, dim=16, window=4, min_count=1, epochs=20
    )
    assert sorted(vectors.words) == sorted(ANIMALS + VEHICLES)
    assert vectors.dim == 16 and vectors.vectors.dtype == np.float32
    for word in ANIMALS + VEHICLES:
        mates = set(ANIMALS if word in ANIMALS else VEHICLES) - {word}
        nearest = {other for other, _ in vectors.most_similar(word, k=len(mates))}
        assert nearest == mates, word


def test_same_seed_same_vectors_other_seed_other_vectors() -> None:
    corpus = two_topics(sentences=300)
    first = train_word2vec(corpus, dim=8, min_count=1, epochs=2, seed=7)
    again = train_word2vec(corpus, dim=8, min_count=1, epochs=2, seed=7)
    other = train_word2vec(corpus, dim=8, min_count=1, epochs=2, seed=8)
    assert first.words == again.words
    np.testing.assert_array_equal(first.vectors, again.vectors)
    assert not np.array_equal(first.vectors, other.vectors)


DIGEST = """
import hashlib, random
from rnnkit.data.word2vec import train_word2vec
rng = random.Random(0)
words = [f"w{i}" for i in range(40)]
corpus = [rng.sample(words, 6) for _ in range(300)]
vectors = train_word2vec(corpus, dim=8, min_count=1, epochs=2, seed=3)
digest = " ".join(vectors.words) + " " + hashlib.sha256(vectors.vectors.tobytes()).hexdigest()
"""


def run_python(script: str, hash_seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    command = [sys.executable, "-c", script]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_reproducible_whatever_the_python_hash_seed() -> None:
    """Python randomises ``hash`` of strings per process, and gensim's default ``hashfxn`` is
    ``hash``: a run in a process with another hash seed must still give the same vectors."""
    other_seed = "54321" if os.environ.get("PYTHONHASHSEED") == "12345" else "12345"
    assert str(hash("w1")) != run_python("print(hash('w1'))", other_seed)  # the seeds differ
    namespace: dict[str, object] = {}
    exec(DIGEST, namespace)
    assert run_python(DIGEST + "print(digest)", other_seed) == namespace["digest"]


@pytest.mark.parametrize("corpus", [[], [[]], [[], []]])
def test_empty_corpus(corpus: list[list[str]]) -> None:
    with pytest.raises(UserError, match="the corpus is empty"):
        train_word2vec(corpus, min_count=1)


def test_no_word_reaches_min_count() -> None:
    corpus = [["a", "b", "a"], ["c", "a"]]  # "a" occurs 3 times, the others once
    message = r"no word occurs at least 4 times \(the most frequent, 'a', occurs 3 times\)"
    with pytest.raises(UserError, match=message) as error:
        train_word2vec(corpus, min_count=4)
    assert "--min-count" in str(error.value)
    assert train_word2vec(corpus, min_count=3, dim=4, epochs=1).words == ["a"]


@pytest.mark.parametrize(
    ("setting", "value"),
    [("dim", 0), ("window", 0), ("min_count", 0), ("epochs", 0), ("negative", 0)],
)
def test_settings_below_one_are_errors(setting: str, value: int) -> None:
    with pytest.raises(UserError, match=f"{setting} must be at least 1, got {value}"):
        train_word2vec([["a"]], **{setting: value})  # type: ignore[arg-type]


def test_unknown_architecture() -> None:
    with pytest.raises(UserError, match="unknown architecture 'glove'"):
        train_word2vec([["a"]], architecture="glove")  # type: ignore[arg-type]
