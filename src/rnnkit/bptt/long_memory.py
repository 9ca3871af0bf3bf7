"""Small models on the long-memory problems of `rnnkit.data.synthetic`: any cell by name under a
linear readout, the problems' losses and metrics, and a plain training loop (Adam, clipping).

Used by ``rnnkit diagnose gradient-flow`` and ``benchmarks/memory.py``. Cells by name:

* ``rnn``, ``rnn_relu``: Elman (tanh, relu); ``rnn_relu_large_init``: relu Elman with
  ``W_hh = 1.5 × orthogonal`` (Saxe et al. 2014), whose gradients explode (Pascanu et al. 2013);
* ``lstm``; ``lstm_fb1``: LSTM with forget-gate bias 1 (Gers et al. 2000; Jozefowicz et al.
  2015); ``gru``; ``mingru``, ``minlstm`` (Feng et al. 2024); ``jordan`` (Jordan 1986).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import ClassVar, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data.synthetic import (
    COPY_CLASSES,
    COPY_LENGTH,
    Seed,
    adding_baseline_mse,
    adding_problem,
    copy_memory,
    copy_memory_baseline,
    make_generator,
)
from rnnkit.models.recurrent import CELLS, build_recurrent
from rnnkit.nn.recurrent_layer import RecurrentLayer

EXPLODING_GAIN = 1.5  # of the orthogonal W_hh of rnn_relu_large_init


def _exploding_relu(input_size: int, hidden_size: int) -> RecurrentLayer:
    layer = build_recurrent("rnn_relu", input_size, hidden_size)
    weight_hh = layer.cell_weights(0).weight_hh
    assert weight_hh is not None
    with torch.no_grad():
        nn.init.orthogonal_(weight_hh, gain=EXPLODING_GAIN)
    return layer


LAYERS: dict[str, Callable[[int, int], RecurrentLayer]] = {
    name: partial(build_recurrent, name) for name in CELLS
} | {
    "rnn_relu_large_init": _exploding_relu,
    "lstm_fb1": partial(build_recurrent, "lstm", forget_bias=1.0),
}


def build_layer(cell: str, input_size: int, hidden_size: int) -> RecurrentLayer:
    """A one-layer, batch-first layer of ``cell`` (a name of `LAYERS`)."""
    if cell not in LAYERS:
        raise ValueError(f"unknown cell {cell!r}; expected one of {', '.join(LAYERS)}")
    return LAYERS[cell](input_size, hidden_size)


class MemoryModel(nn.Module):
    """A recurrent layer and a linear readout of every step: ``(N, T, I) -> (N, T, O)``."""

    def __init__(self, cell: str, input_size: int, hidden_size: int, output_size: int) -> None:
        super().__init__()
        self.layer = build_layer(cell, input_size, hidden_size)
        self.readout = nn.Linear(hidden_size, output_size)

    def forward(self, x: Tensor) -> Tensor:
        output, _ = self.layer(x)
        return self.readout(output)


class MemoryProblem(Protocol):
    """A long-memory problem as a model sees it: float inputs, a loss, metrics, a baseline."""

    name: ClassVar[str]
    input_size: ClassVar[int]
    output_size: ClassVar[int]

    def sample(self, batch_size: int, seed: Seed) -> tuple[Tensor, Tensor]:
        """``(inputs (N, T, input_size), targets)``."""
        ...

    def loss(self, predictions: Tensor, targets: Tensor) -> Tensor:
        """The training loss, a mean over the batch, from ``predictions (N, T, output_size)``."""
        ...

    def metrics(self, predictions: Tensor, targets: Tensor) -> dict[str, float]: ...

    def baseline(self) -> float:
        """The error of the trivial strategy, in the unit of the first metric."""
        ...


@dataclass(frozen=True)
class AddingProblem:
    """The adding problem over ``length`` steps; the prediction is read at the last step."""

    length: int
    name: ClassVar[str] = "adding"
    input_size: ClassVar[int] = 2
    output_size: ClassVar[int] = 1

    def sample(self, batch_size: int, seed: Seed) -> tuple[Tensor, Tensor]:
        return adding_problem(batch_size, self.length, seed)

    def loss(self, predictions: Tensor, targets: Tensor) -> Tensor:
        return F.mse_loss(predictions[:, -1, 0], targets)

    def metrics(self, predictions: Tensor, targets: Tensor) -> dict[str, float]:
        return {"mse": float(self.loss(predictions, targets))}

    def baseline(self) -> float:
        return adding_baseline_mse()


@dataclass(frozen=True)
class CopyProblem:
    """Copy memory with a ``delay`` of T steps; inputs one-hot, a prediction at every step."""

    delay: int
    name: ClassVar[str] = "copy"
    input_size: ClassVar[int] = COPY_CLASSES
    output_size: ClassVar[int] = COPY_CLASSES

    def sample(self, batch_size: int, seed: Seed) -> tuple[Tensor, Tensor]:
        inputs, targets = copy_memory(batch_size, self.delay, seed)
        return F.one_hot(inputs, COPY_CLASSES).float(), targets

    def loss(self, predictions: Tensor, targets: Tensor) -> Tensor:
        return F.cross_entropy(predictions.flatten(0, 1), targets.flatten())

    def metrics(self, predictions: Tensor, targets: Tensor) -> dict[str, float]:
        """Cross-entropy per step (as Arjovsky et al. 2016) and accuracy on the copied symbols."""
        copied = predictions[:, -COPY_LENGTH:].argmax(-1) == targets[:, -COPY_LENGTH:]
        return {
            "cross_entropy": float(self.loss(predictions, targets)),
            "accuracy": float(copied.float().mean()),
        }

    def baseline(self) -> float:
        return copy_memory_baseline(self.delay)


def train(
    model: nn.Module,
    problem: MemoryProblem,
    *,
    steps: int,
    batch_size: int,
    lr: float = 1e-3,
    clip_norm: float | None = 1.0,
    seed: Seed = 0,
) -> list[float]:
    """Train ``model`` on fresh batches of ``problem`` with Adam; returns every step's loss.

    The gradient is clipped to total norm ``clip_norm`` (None: no clipping) before each step.
    """
    generator = make_generator(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses = []
    for _ in range(steps):
        inputs, targets = problem.sample(batch_size, generator)
        loss = problem.loss(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        if clip_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        losses.append(loss.item())
    return losses


def evaluate(
    model: nn.Module, problem: MemoryProblem, inputs: Tensor, targets: Tensor, chunk: int = 250
) -> dict[str, float]:
    """``problem.metrics`` of ``model`` on a fixed test set, run ``chunk`` sequences at a time."""
    model.eval()
    with torch.no_grad():
        predictions = torch.cat([model(part) for part in inputs.split(chunk)])
    return problem.metrics(predictions, targets)
