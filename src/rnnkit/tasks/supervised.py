"""What the tasks that learn from labelled examples (``classify``, ``tag``) share: the
`LabelledTask` base (reading, the held-out split, batches, evaluation), a stratified validation
split, padded batches of similar length, predictions in input order, and pretrained embeddings
aligned to the vocabulary."""

from __future__ import annotations

import math
import random
from abc import abstractmethod
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

import torch
from torch import Tensor, nn

from rnnkit.checkpoint import LoadedCheckpoint
from rnnkit.data.bucketing import bucket_batches, padding_fraction, sorted_batches
from rnnkit.data.embeddings import align_to_vocab
from rnnkit.data.vector_files import read_vectors
from rnnkit.data.vocab import Vocab
from rnnkit.errors import UserError
from rnnkit.tasks.encoder_config import LabelledRunConfig
from rnnkit.train.config import RunConfig
from rnnkit.train.task import DataSources, Task

Batch = dict[str, Any]
EVAL_BATCH_SIZE = 64
Record = TypeVar("Record")  # what a reader gives: (source, text or sentence)
Example = TypeVar("Example")  # its encoded form


class LabelledTask(Task, Generic[Record, Example]):
    """A task learning from labelled examples: reading and encoding them is the subclass's,
    the rest is here — the held-out split (stratified by `stratum`), length-bucketed training
    batches, evaluation of the prepared splits and of new files, pretrained embeddings."""

    config: LabelledRunConfig

    def __init__(self, config: RunConfig) -> None:
        super().__init__(config)
        self.pretrained: Tensor | None = None  # rows for the embedding, when model.embeddings
        self.examples: dict[str, list[Example]] = {}
        self.notes: list[str] = []  # lines for the log, e.g. the embeddings' coverage

    # --- what a subclass defines ---------------------------------------------------------------
    @abstractmethod
    def read_records(self, sources: Sequence[Path | str]) -> list[Record]:
        """The labelled records of data files (or ``builtin:NAME`` sets)."""

    @abstractmethod
    def fit(self, records: list[Record]) -> None:
        """Build the vocabularies (tokens, labels) from the training records."""

    @abstractmethod
    def encode(self, records: list[Record]) -> list[Example]:
        """The examples of ``records``; a label unseen in training is a `UserError`."""

    @abstractmethod
    def length(self, example: Example) -> int:
        """Tokens in ``example``, for batching."""

    @abstractmethod
    def collate(self, examples: list[Example]) -> Batch:
        """A padded batch of ``examples``."""

    @abstractmethod
    def token_vocab(self) -> Vocab:
        """The vocabulary the embedding rows follow."""

    @abstractmethod
    def metrics(self, model: nn.Module, examples: list[Example]) -> dict[str, Any]:
        """The metrics of ``model`` on ``examples``."""

    def stratum(self, example: Example) -> str:
        """The group the held-out split draws evenly from (e.g. the class)."""
        return "all"

    # --- the rest of the Task interface --------------------------------------------------------
    def prepare(self, sources: DataSources, saved: LoadedCheckpoint | None = None) -> None:
        train = self.read_records(sources.train)
        if saved is not None:
            self.load_assets(saved)
        else:
            self.fit(train)
        valid = self.encode(self.read_records(sources.valid)) if sources.valid else None
        config = self.config
        self.examples = train_and_valid(
            self.encode(train), valid, self.stratum, config.data.valid_fraction, config.train.seed
        )
        if sources.test:
            self.examples["test"] = self.encode(self.read_records(sources.test))
        if self.config.model.embeddings and saved is None:
            self._use_pretrained(self.config.model.embeddings)

    def _use_pretrained(self, path: str) -> None:
        """Start the embedding from the vectors in ``path``; their size is the embedding's."""
        rows, summary = pretrained_rows(path, self.token_vocab())
        model, dim = self.config.model, rows.shape[1]
        if model.embedding_dim != dim:
            if "embedding_dim" in model.model_fields_set:
                raise UserError(
                    f"model.embedding_dim is {model.embedding_dim}, but the vectors of "
                    f"model.embeddings have {dim} values each; leave embedding_dim unset or "
                    "make them agree",
                    path=path,
                )
            summary += f"; model.embedding_dim set to {dim}, the vectors' size"
            model.embedding_dim = dim
        self.pretrained = rows
        self.notes.append(summary)

    def padding_summary(self) -> str:
        """The padding of the training batches, for `summary`."""
        lengths = [self.length(e) for e in self.examples["train"]]
        config = self.config
        return bucketing_summary(
            lengths, config.train.batch_size, config.train.seed, by_length=config.data.bucket
        )

    def train_batches(self, epoch: int, shard: int, num_shards: int) -> Batches:
        train, config = self.examples["train"], self.config.train
        return training_batches(
            [self.length(e) for e in train],
            config.batch_size,
            lambda indices: self.collate([train[i] for i in indices]),
            seed=config.seed,
            epoch=epoch,
            shard=shard,
            num_shards=num_shards,
            by_length=self.config.data.bucket,
        )

    def splits(self) -> list[str]:
        return [split for split in ("valid", "test") if split in self.examples]

    def evaluate(self, model: nn.Module, split: str) -> dict[str, Any]:
        return self.metrics(model, self.examples[split])

    def evaluate_files(self, model: nn.Module, paths: Sequence[Path | str]) -> dict[str, Any]:
        return self.metrics(model, self.encode(self.read_records(paths)))


def train_and_valid(
    train: list[Example],
    valid: list[Example] | None,
    stratum: Callable[[Example], str],
    fraction: float,
    seed: int,
) -> dict[str, list[Example]]:
    """``{"train": ..., "valid": ...}``: the ``valid`` examples given, or ``fraction`` of
    ``train`` held out, drawn evenly from each ``stratum`` (`stratified_split`); no "valid"
    when nothing could be held out."""
    if valid is not None:
        return {"train": train, "valid": valid}
    kept, held = stratified_split([stratum(e) for e in train], fraction, seed)
    split = {"train": [train[i] for i in kept]}
    if held:
        split["valid"] = [train[i] for i in held]
    return split


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
    by_length: bool,
) -> Batches:
    """Shuffled batches for one epoch, of similar length if ``by_length``
    (`rnnkit.data.bucketing`)."""
    indices = bucket_batches(
        lengths,
        batch_size,
        seed=seed,
        epoch=epoch,
        shard=shard,
        num_shards=num_shards,
        by_length=by_length,
    )
    return Batches(indices, collate)


def bucketing_summary(lengths: Sequence[int], batch_size: int, seed: int, by_length: bool) -> str:
    """e.g. ``"padding 4.1% in length-bucketed batches (38.0% with data.bucket=false)"``."""
    fractions = {
        bucket: padding_fraction(
            bucket_batches(lengths, batch_size, seed=seed, epoch=0, by_length=bucket), lengths
        )
        for bucket in (True, False)
    }
    used = "length-bucketed" if by_length else "shuffled"
    return (
        f"padding {fractions[by_length]:.1%} in {used} batches "
        f"({fractions[not by_length]:.1%} with data.bucket={str(not by_length).lower()})"
    )


def in_input_order(
    lengths: Sequence[int],
    predict_batch: Callable[[list[int]], list[Any]],
    batch_size: int = EVAL_BATCH_SIZE,
) -> list[Any]:
    """``predict_batch`` over batches of similar length (each call returns one result per
    index), the results put back in input order."""
    results: list[Any] = [None] * len(lengths)
    for batch in sorted_batches(lengths, batch_size):
        for index, result in zip(batch, predict_batch(batch), strict=True):
            results[index] = result
    return results


def pretrained_rows(path: str | Path, vocab: Vocab) -> tuple[Tensor, str]:
    """The rows of the vectors in ``path`` for the tokens of ``vocab`` (special tokens zero),
    and the coverage line for the log."""
    alignment = align_to_vocab(read_vectors(path), vocab.tokens, skip=range(len(vocab.specials)))
    return alignment.weights, alignment.summary()
