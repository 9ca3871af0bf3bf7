"""What the tasks that learn from labelled examples (``classify``, ``tag``) share: a stratified
validation split, padded batches of similar length, predictions in input order, and pretrained
embeddings aligned to the vocabulary."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from rnnkit.data.bucketing import bucket_batches, padding_fraction, sorted_batches
from rnnkit.data.embeddings import align_to_vocab, read_vectors
from rnnkit.data.vocab import Vocab

Batch = dict[str, Any]
EVAL_BATCH_SIZE = 64


def stratified_split(
    keys: Sequence[str], fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    """Indices ``(train, valid)``: ``fraction`` of the examples of every key (class) held out,
    chosen at random under ``seed``; a class with one example stays in training."""
    by_key: dict[str, list[int]] = defaultdict(list)
    for index, key in enumerate(keys):
        by_key[key].append(index)
    rng = random.Random(seed)
    valid: list[int] = []
    for key in sorted(by_key):
        members = by_key[key]
        rng.shuffle(members)
        take = min(len(members) - 1, math.ceil(len(members) * fraction))
        valid += members[:take]
    held = set(valid)
    return [i for i in range(len(keys)) if i not in held], sorted(valid)


def pad(sequences: Sequence[Sequence[int]], value: int = 0) -> tuple[Tensor, Tensor]:
    """``(padded (N, T) long, lengths (N,))`` of id sequences, each at least one long."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    padded = torch.full((len(sequences), int(lengths.max())), value, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        padded[row, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
    return padded, lengths


class Batches:
    """The batches of one epoch, built on demand: ``collate(indices) -> batch`` for each list of
    example indices. Sized, so the trainer knows the epoch's length."""

    def __init__(self, batches: list[list[int]], collate: Callable[[list[int]], Batch]) -> None:
        self.batches, self.collate = batches, collate

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[Batch]:
        return (self.collate(batch) for batch in self.batches)


def training_batches(
    lengths: Sequence[int],
    batch_size: int,
    collate: Callable[[list[int]], Batch],
    *,
    seed: int,
    epoch: int,
    shard: int,
    num_shards: int,
) -> Batches:
    """Shuffled batches of similar length for one epoch (`rnnkit.data.bucketing`)."""
    indices = bucket_batches(
        lengths, batch_size, seed=seed, epoch=epoch, shard=shard, num_shards=num_shards
    )
    return Batches(indices, collate)


def bucketing_summary(lengths: Sequence[int], batch_size: int, seed: int) -> str:
    """e.g. ``"padding 4.1% (length-bucketed batches; 38.0% unsorted)"`` for the log."""
    bucketed = bucket_batches(lengths, batch_size, seed=seed, epoch=0)
    shuffled = random.Random(seed).sample(range(len(lengths)), len(lengths))
    unsorted = [shuffled[i : i + batch_size] for i in range(0, len(shuffled), batch_size)]
    return (
        f"padding {padding_fraction(bucketed, lengths):.1%} (length-bucketed batches; "
        f"{padding_fraction(unsorted, lengths):.1%} unsorted)"
    )


def in_input_order(
    lengths: Sequence[int], run: Callable[[list[int]], list[Any]], batch_size: int = EVAL_BATCH_SIZE
) -> list[Any]:
    """``run`` over batches of similar length (each returns one result per index), the results
    put back in input order."""
    results: list[Any] = [None] * len(lengths)
    for batch in sorted_batches(lengths, batch_size):
        for index, result in zip(batch, run(batch), strict=True):
            results[index] = result
    return results


def pretrained_rows(path: str | Path, vocab: Vocab) -> tuple[Tensor, str]:
    """The rows of the vectors in ``path`` for the tokens of ``vocab`` (special tokens zero),
    and the coverage line for the log."""
    alignment = align_to_vocab(read_vectors(path), vocab.tokens, skip=range(len(vocab.specials)))
    return alignment.weights, alignment.summary()
