"""Train word2vec on the user's own text, with gensim's reference implementation.

word2vec (Mikolov et al., 2013, "Efficient Estimation of Word Representations in Vector Space"
and "Distributed Representations of Words and Phrases and their Compositionality") learns a
vector per word from the words around it: *skip-gram* predicts each context word from the
centre word, *CBOW* the centre word from the average of its context; both are trained here with
negative sampling. `corpus_sentences` splits text the way rnnkit's `WordTokenizer` does, so the
words learnt are the ones a classifier using that tokenizer will look up.

Reproducibility: with ``workers=1`` the same corpus, settings and seed give the same vectors,
in any process. gensim 4.4 draws the initial vectors of the whole vocabulary from
``numpy.random.default_rng(seed)`` and its negative sampling and down-sampling from its own
seeded generator, so Python's randomised ``hash`` (``PYTHONHASHSEED``) is not involved; its
``hashfxn`` argument (default: ``hash``) is still replaced by a fixed CRC-32 here so that no
code path of gensim can bring it back. With several workers the order in which threads update
the vectors varies, and so do the results.
"""

from __future__ import annotations

import logging
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from gensim.models import Word2Vec

from rnnkit.data.embeddings import WordVectors
from rnnkit.data.readers import read_text
from rnnkit.data.tokenizers import WordTokenizer
from rnnkit.errors import UserError

Architecture = Literal["skipgram", "cbow"]
ARCHITECTURES: tuple[Architecture, ...] = ("skipgram", "cbow")


def corpus_sentences(paths: Sequence[str | Path], *, lowercase: bool) -> list[list[str]]:
    """One sentence per non-empty line of the UTF-8 files `paths`, as rnnkit's word tokens.

    Tokens are what `WordTokenizer` splits (runs of letters and digits, and each punctuation
    mark on its own), lower-cased first with `lowercase`; a line without any token is dropped.
    A file holding ``The cat, the mat.``, a blank line and ``Dogs bark`` gives
    ``[["The", "cat", ",", "the", "mat", "."], ["Dogs", "bark"]]``.
    """
    tokenizer = WordTokenizer(lowercase=lowercase, keep_newlines=False)
    sentences = (tokenizer.split(line) for line in read_text(list(paths)).split("\n"))
    return [sentence for sentence in sentences if sentence]


def train_word2vec(
    sentences: Iterable[list[str]],
    *,
    architecture: Architecture = "skipgram",
    dim: int = 100,
    window: int = 5,
    min_count: int = 5,
    epochs: int = 5,
    negative: int = 5,
    seed: int = 0,
    workers: int = 1,
) -> WordVectors:
    """Word vectors learnt from `sentences` (lists of tokens) by word2vec.

    `sentences` is read once per epoch and once more to count words, so it must be restartable
    (a list; an iterator is copied into one). Words occurring fewer than `min_count` times are
    left out; the words of the result come most frequent first. `window` is the largest
    distance between a word and its context words, `negative` the number of noise words per
    positive example. With ``workers=1`` the result depends only on the arguments (see the
    module docstring).

    Raises:
        UserError: a setting is out of range, the corpus holds no words, or no word occurs
            `min_count` times.
    """
    _check_settings(architecture, dim, window, min_count, epochs, negative, workers)
    if isinstance(sentences, Iterator):
        sentences = list(sentences)
    model = Word2Vec(
        vector_size=dim,
        window=window,
        min_count=min_count,
        sg=1 if architecture == "skipgram" else 0,
        hs=0,
        negative=negative,
        seed=seed,
        workers=workers,
        epochs=epochs,
        hashfxn=_stable_hash,
    )
    with _quiet_gensim():
        model.build_vocab(sentences)
        if len(model.wv) == 0:
            raise UserError(_empty_vocabulary_message(sentences, min_count))
        model.train(sentences, total_examples=model.corpus_count, epochs=epochs)
    return WordVectors(list(model.wv.index_to_key), model.wv.vectors.copy())


def _stable_hash(text: str) -> int:
    """A hash of `text` that, unlike ``hash``, is the same in every Python process."""
    return zlib.crc32(text.encode("utf-8"))


def _check_settings(
    architecture: str,
    dim: int,
    window: int,
    min_count: int,
    epochs: int,
    negative: int,
    workers: int,
) -> None:
    if architecture not in ARCHITECTURES:
        raise UserError(f"unknown architecture {architecture!r}; choose skipgram or cbow")
    settings = {
        "dim": dim,
        "window": window,
        "min_count": min_count,
        "epochs": epochs,
        "negative": negative,
        "workers": workers,
    }
    for name, value in settings.items():
        if value < 1:
            raise UserError(f"{name} must be at least 1, got {value}")


def _empty_vocabulary_message(sentences: Iterable[list[str]], min_count: int) -> str:
    counts = Counter(token for sentence in sentences for token in sentence)
    if not counts:
        return "the corpus is empty: it holds no words to learn vectors for"
    (word, count), *_ = counts.most_common(1)
    return (
        f"no word occurs at least {min_count} times (the most frequent, {word!r}, occurs "
        f"{count} times): lower min_count (--min-count) or give more text"
    )


@contextmanager
def _quiet_gensim() -> Iterator[None]:
    """Silence gensim's log below errors: its warnings about small corpora (``under 10 jobs per
    worker``) would otherwise reach stderr through logging's last-resort handler."""
    logger = logging.getLogger("gensim")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
