"""What an exported ONNX graph is: a module, its named inputs and outputs with their dynamic
axes, and how to make example inputs of any batch size and length for tracing and checking.

Each task says which graphs make up its exported model (`rnnkit.export.task_graphs`); the
exporter (`rnnkit.export.exporter`) writes them, checks them against the PyTorch module with
ONNX Runtime, and describes them in a JSON file beside them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

# Dynamic axes are named; these are the names every graph uses.
BATCH = "batch"
TIME = "time"

Example = Callable[[int, int, torch.Generator], tuple[Tensor, ...]]


@dataclass(frozen=True)
class Port:
    """One input or output of a graph: its ``name``, its ``shape`` (an axis is a size, or the
    name of a dynamic axis such as ``"batch"``), its ``dtype`` as ONNX names it, and what it
    holds (``doc``, one line, written to the JSON description)."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str
    doc: str

    def describe(self) -> dict[str, Any]:
        """The port as the JSON description lists it."""
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype, "doc": self.doc}


@dataclass
class Graph:
    """One ONNX graph of an exported model.

    ``module.forward(*inputs)`` takes the tensors of ``inputs`` in order and returns a tuple of
    those of ``outputs``. ``example(batch, length, generator)`` makes valid inputs of that batch
    size and (where the graph has a time axis) length; where a graph takes ``lengths``, the
    first row is ``length`` long and the others are random in ``[1, length]``, so every check
    covers a padded batch of mixed lengths.
    """

    name: str
    doc: str
    module: nn.Module
    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]
    example: Example

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        """``{port: {axis: name}}`` for ``torch.onnx.export``: every named axis is dynamic."""
        return {
            port.name: {i: size for i, size in enumerate(port.shape) if isinstance(size, str)}
            for port in (*self.inputs, *self.outputs)
        }

    def describe(self, file: str) -> dict[str, Any]:
        """The graph as the JSON description lists it."""
        return {
            "file": file,
            "doc": self.doc,
            "inputs": [port.describe() for port in self.inputs],
            "outputs": [port.describe() for port in self.outputs],
        }


@dataclass
class ExportPlan:
    """Everything a task exports: its graphs (the first is written to the ``--out`` file, the
    others beside it as ``STEM.NAME.onnx``) and the facts a runtime needs beside them
    (``facts``: labels, special token ids, a CRF's transitions, ... — JSON-ready)."""

    graphs: list[Graph]
    facts: dict[str, Any] = field(default_factory=dict)


def random_lengths(batch: int, length: int, generator: torch.Generator) -> Tensor:
    """``(batch,)`` int64 lengths in ``[1, length]``: the first exactly ``length``, the last (of
    two or more, when ``length > 1``) shorter, so that the batch is padded, and the others
    random. A trace of an unpadded batch would record the layers' unpadded path."""
    lengths = torch.randint(1, length + 1, (batch,), generator=generator)
    if batch > 1 and length > 1:
        lengths[-1] = torch.randint(1, length, (), generator=generator)
    lengths[0] = length
    return lengths


def random_tokens(
    batch: int, length: int, vocab_size: int, generator: torch.Generator, lengths: Tensor | None
) -> Tensor:
    """``(batch, length)`` int64 token ids in ``[1, vocab_size)``, 0 (padding) past ``lengths``."""
    tokens = torch.randint(1, max(vocab_size, 2), (batch, length), generator=generator)
    if lengths is not None:
        tokens[torch.arange(length).expand(batch, -1) >= lengths.unsqueeze(1)] = 0
    return tokens
