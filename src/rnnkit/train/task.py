"""`Task`: what the trainer needs to know about a job, and nothing more.

The trainer (`rnnkit.train.trainer`) knows no task. Each task — language modelling,
classification, tagging, ... — subclasses `Task` to say how to read its data, build its model,
compute its training loss and evaluate its metrics, and is registered by name in
`rnnkit.tasks.registry`. Adding a task adds files; it never edits the trainer. What a task can
do beyond training (generate text, predict labels, ...) is declared by the protocols of
`rnnkit.tasks.capabilities`, which the CLI checks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from torch import Tensor, nn

from rnnkit.checkpoint import LoadedCheckpoint
from rnnkit.train.config import RunConfig


@dataclass(frozen=True)
class DataSources:
    """The files a run reads: training data, and optional validation and test data (paths, or
    names such as ``builtin:python-docs`` that a task understands)."""

    train: Sequence[Path | str] = ()
    valid: Sequence[Path | str] = ()
    test: Sequence[Path | str] = ()


class Task(ABC):
    """A job the trainer can train, e.g. language modelling.

    Lifecycle: ``task = TaskClass(config)``; then either ``task.prepare(sources)`` (training:
    read the data, fit tokenizers on the training split) or ``task.load_assets(checkpoint)``
    (inference: the tokenizers a run saved); then ``task.build_model()``.
    """

    name: ClassVar[str]
    config_class: ClassVar[type[RunConfig]]
    metric: ClassVar[str] = "loss"  # the validation metric that picks the best model
    higher_is_better: ClassVar[bool] = False
    unit: ClassVar[str] = "tokens"  # what `loss` counts, for throughput: tokens, sentences, ...

    def __init__(self, config: RunConfig) -> None:
        self.config = config

    # --- data and vocabularies -----------------------------------------------------------
    @abstractmethod
    def prepare(self, sources: DataSources, saved: LoadedCheckpoint | None = None) -> None:
        """Read the data of every split; fit tokenizers on the training data, or reuse those
        of ``saved`` (a checkpoint being resumed) so token ids do not change."""

    @abstractmethod
    def load_assets(self, checkpoint: LoadedCheckpoint) -> None:
        """Take the tokenizers / vocabularies a saved run holds, for inference."""

    @abstractmethod
    def assets(self) -> dict[str, bytes | str]:
        """The files saved with every checkpoint besides the weights (e.g. tokenizer.json)."""

    @abstractmethod
    def build_model(self) -> nn.Module:
        """A freshly initialised model for this task's config and vocabularies."""

    @abstractmethod
    def summary(self) -> str:
        """One line on the data, for the log (e.g. tokens and vocabulary size)."""

    # --- training ------------------------------------------------------------------------
    @abstractmethod
    def train_batches(self, epoch: int, shard: int, num_shards: int) -> Iterable[Any]:
        """The training batches of one epoch for data shard ``shard`` of ``num_shards``.

        Must be deterministic given ``epoch`` (and the config's seed), so that a resumed run
        sees the same batches."""

    @abstractmethod
    def loss(self, model: nn.Module, batch: Any, carry: Any) -> tuple[Tensor, int, Any]:
        """``(mean loss over the batch, its size in `unit`, carry for the next batch)``.

        The carry is state passed from one batch to the next within an epoch, e.g. an LM's
        hidden state; it is None at the start of every epoch, and tasks without one return
        None. ``model`` may be wrapped (DistributedDataParallel): call it, do not reach inside.
        The trainer detaches the carry from the graph (`detach_carry`)."""

    def lr_factor(self, batch: Any) -> float:
        """The share of the scheduled learning rate that a step on ``batch`` takes: 1 unless a
        task's batches differ in how much they should count (a language model's variable
        BPTT windows)."""
        return 1.0

    def detach_carry(self, carry: Any) -> Any:
        """``carry`` cut from the autograd graph (truncated backpropagation through time)."""
        return carry

    # --- evaluation ----------------------------------------------------------------------
    @abstractmethod
    def splits(self) -> list[str]:
        """The evaluation splits the prepared data has, among "valid" and "test"."""

    @abstractmethod
    def evaluate(self, model: nn.Module, split: str) -> dict[str, Any]:
        """The metrics of ``model`` on a prepared split ("valid" or "test"): numbers, `metric`
        among them, and optionally tables (dicts, e.g. per-class scores) kept in
        ``metrics.json`` but not in the log."""

    @abstractmethod
    def evaluate_files(self, model: nn.Module, paths: Sequence[Path | str]) -> dict[str, Any]:
        """The metrics of ``model`` on new data files (for ``rnnkit evaluate``)."""
