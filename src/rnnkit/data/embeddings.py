"""Pretrained word vectors in memory (`WordVectors`, with nearest neighbours) and their
alignment with a model's vocabulary (`align_to_vocab`); reading and writing the files is
`rnnkit.data.vector_files`."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch

from rnnkit.errors import UserError


@dataclass(eq=False)
class WordVectors:
    """Words and their vectors: ``vectors[i]`` belongs to ``words[i]``.

    `vectors` is a float32 array of shape ``(len(words), dim)``. Words should be unique; if
    they are not, lookups find the first occurrence.

    >>> wv = WordVectors(["a", "b"], np.array([[1, 0], [1, 1]], dtype=np.float32))
    >>> wv.dim, wv.index["b"], [(w, round(s, 3)) for w, s in wv.most_similar("a")]
    (2, 1, [('b', 0.707)])
    """

    words: list[str]
    vectors: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        self.vectors = np.asarray(self.vectors, dtype=np.float32)
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.words):
            raise ValueError(
                f"vectors must have shape ({len(self.words)}, dim), got {self.vectors.shape}"
            )

    @property
    def dim(self) -> int:
        """The number of values per vector."""
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    @cached_property
    def index(self) -> dict[str, int]:
        """Word -> row (the first row, for a repeated word)."""
        index: dict[str, int] = {}
        for i, word in enumerate(self.words):
            index.setdefault(word, i)
        return index

    def most_similar(self, word: str, k: int = 10) -> list[tuple[str, float]]:
        """The `k` words nearest to `word` by cosine similarity, nearest first, `word` excluded
        (all the other words when there are fewer than `k`; ties keep the file's order).

        Raises:
            UserError: `word` has no vector (the message suggests a word that matches it when
                both are lower-cased, if there is one).
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        row = self.index.get(word)
        if row is None:
            raise UserError(self._missing_message(word))
        norms = np.linalg.norm(self.vectors, axis=1)
        norms[norms == 0] = 1.0  # a zero vector has similarity 0 with everything
        similarities = (self.vectors @ self.vectors[row]) / (norms * norms[row])
        similarities[row] = -np.inf
        order = np.argsort(-similarities, kind="stable")[: min(k, len(self.words) - 1)]
        return [(self.words[i], float(similarities[i])) for i in order]

    def _missing_message(self, word: str) -> str:
        message = f"{word!r} is not in the word vectors"
        lowered = word.lower()
        match = next((w for w in self.words if w.lower() == lowered), None)
        return message if match is None else f"{message}; did you mean {match!r}?"


# --- reading -----------------------------------------------------------------------------------
# --- alignment with a vocabulary ---------------------------------------------------------------
@dataclass(eq=False)
class Alignment:
    """An embedding matrix for a vocabulary, and how much of it came from the vectors.

    `weights` has one float32 row per token. Of the `total` tokens that were looked up (the
    skipped ones not counted), `exact` were found as they are and `lowercase` only lower-cased.
    """

    weights: torch.Tensor
    exact: int
    lowercase: int
    total: int

    @property
    def found(self) -> int:
        """Tokens that got a pretrained vector."""
        return self.exact + self.lowercase

    def summary(self) -> str:
        """One line for a log, e.g. ``embeddings: 38,112 / 40,000 words found (37,010 exact,
        1,102 lower-cased)``."""
        return (
            f"embeddings: {self.found:,} / {self.total:,} words found "
            f"({self.exact:,} exact, {self.lowercase:,} lower-cased)"
        )


def align_to_vocab(
    vectors: WordVectors, tokens: Sequence[str], *, skip: Collection[int] = (), seed: int = 0
) -> Alignment:
    """The embedding matrix for `tokens` (row ``i`` for ``tokens[i]``) from pretrained `vectors`.

    Each row is the first of these that exists:

    1. the vector of the token itself (*exact*);
    2. *lower-cased*: the vector of ``token.lower()``, or else of the first word of the file
       (the most frequent, in files sorted by frequency as word2vec's and GloVe's are) whose
       lower-case form is ``token.lower()``: so ``"Paris"`` finds ``"paris"`` and ``"paris"``
       finds ``"Paris"``;
    3. random: normal with mean 0 and, per dimension, the standard deviation of the rows found
       (of all the file's vectors when fewer than two were found; 1 if the file holds only
       one), drawn in token order from a generator seeded with `seed`, so the same call gives
       the same matrix.

    Rows whose index is in `skip` (special tokens such as padding) are zero and are not counted.
    """
    skipped = set(skip)
    if any(not 0 <= i < len(tokens) for i in skipped):
        raise ValueError(f"skip holds indices outside 0..{len(tokens) - 1}: {sorted(skipped)}")
    weights = np.zeros((len(tokens), vectors.dim), dtype=np.float32)
    exact, lowercase, missing = 0, 0, []  # missing: row indices, in token order
    folded: dict[str, int] | None = None  # lower-cased word -> row, built on first need
    for i, token in enumerate(tokens):
        if i in skipped:
            continue
        row = vectors.index.get(token)
        if row is not None:
            exact += 1
        else:
            row = vectors.index.get(token.lower())
            if row is None:
                folded = _lowercase_index(vectors) if folded is None else folded
                row = folded.get(token.lower())
            if row is None:
                missing.append(i)
                continue
            lowercase += 1
        weights[i] = vectors.vectors[row]
    if missing:
        unfound = skipped.union(missing)
        found_rows = [i for i in range(len(tokens)) if i not in unfound]
        basis = weights[found_rows] if len(found_rows) >= 2 else vectors.vectors
        std = basis.std(axis=0) if len(basis) >= 2 else np.ones(vectors.dim, np.float32)
        noise = np.random.default_rng(seed).standard_normal((len(missing), vectors.dim))
        weights[missing] = noise * std
    total = len(tokens) - len(skipped)
    return Alignment(torch.from_numpy(weights), exact, lowercase, total)


def _lowercase_index(vectors: WordVectors) -> dict[str, int]:
    """Lower-cased word -> the row of the first word with that lower-case form."""
    folded: dict[str, int] = {}
    for i, word in enumerate(vectors.words):
        folded.setdefault(word.lower(), i)
    return folded
