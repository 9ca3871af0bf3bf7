"""A recurrent model's state as graph inputs and outputs: names, shapes with the batch axis
named, and examples.

A state is one tensor (RNN, GRU) or a tuple (LSTM: ``h``, ``c``), each ``(L·D, N, H)``; graphs
take and give its tensors as separate ports, in order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from rnnkit.export.graph import BATCH, Port

State = Tensor | tuple[Tensor, ...]
NAMES = {1: ("h",), 2: ("h", "c")}


def as_tuple(state: State) -> tuple[Tensor, ...]:
    """The tensors of ``state`` in order."""
    return state if isinstance(state, tuple) else (state,)


def as_state(tensors: Sequence[Tensor]) -> State:
    """The inverse of `as_tuple`: one tensor stays a tensor."""
    return tensors[0] if len(tensors) == 1 else tuple(tensors)


class StatePorts:
    """The state of the model whose zero state for ``N`` rows is ``init_state(N)``, as ports
    named ``PREFIX + h`` (and ``PREFIX + c``), with the batch axis found by comparing the zero
    states for one and two rows."""

    def __init__(self, init_state: Callable[[int], State], prefix: str = "") -> None:
        self.init_state = init_state
        one, two = as_tuple(init_state(1)), as_tuple(init_state(2))
        names = NAMES.get(len(one), tuple(f"state{i}" for i in range(len(one))))
        self.names = tuple(prefix + name for name in names)
        self.shapes = [
            tuple(BATCH if a != b else a for a, b in zip(x.shape, y.shape, strict=True))
            for x, y in zip(one, two, strict=True)
        ]

    def ports(self, doc: str, suffix: str = "") -> tuple[Port, ...]:
        """One port per state tensor, named with ``suffix`` (``"_out"`` for outputs)."""
        return tuple(
            Port(name + suffix, shape, "float32", f"{doc} ({name})")
            for name, shape in zip(self.names, self.shapes, strict=True)
        )

    def example(self, batch: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        """A random state for ``batch`` rows (a state mid-sequence, not the zero one)."""
        return tuple(
            0.5 * torch.randn(x.shape, generator=generator)
            for x in as_tuple(self.init_state(batch))
        )
