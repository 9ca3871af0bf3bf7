"""Zoneout's training draws, from a counter-based hash rather than a stream of random numbers.

At every step of training each state unit keeps its previous value with probability ``p``
(`rnnkit.nn.time_loop`). Drawing those decisions with ``torch.rand``, a (T, N, 2H) tensor of
floats per LSTM layer, takes a third of a training step's time at the sizes CPUs train (11 ms
against torch.nn.LSTM's 28 ms at B = 64, T = 100, H = 128, two threads); the compiled loop
instead computes each decision where it uses it, from the unit's place alone:

    u(t, i) = L(L(i ⊕ k1) ⊕ L(k2 + t))      (32-bit arithmetic)
    unit i keeps its value at step t  ⇔  ⌊u / 2^8⌋ < ⌊p 2^24⌋

where ``i`` is the unit's index in the step's ``(parts, N, H)`` block (h's units, then c's for
an LSTM), ``k1, k2`` are two 32-bit words drawn from torch's generator once per forward pass
(so a seed fixes them, and every pass draws afresh), and ``L`` is the 32-bit integer hash
"lowbias32" (C. Wellons, "Prospecting for hash functions", 2018):

    x ⊕= x >> 16;  x *= 0x7feb352d;  x ⊕= x >> 15;  x *= 0x846ca68b;  x ⊕= x >> 16.

The Python loop computes the same function here with integer tensor operations, so a seed
gives the same training with or without the compiled loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import Tensor

IntOrTensor = TypeVar("IntOrTensor", int, Tensor)
MASK32 = 0xFFFFFFFF
LEVELS = 1 << 24  # a decision compares the hash's top 24 bits with ⌊p 2^24⌋


def _times(x: IntOrTensor, c: int) -> IntOrTensor:
    """``x c mod 2^32`` for ``0 <= x < 2^32`` without overflowing int64: c's two 16-bit
    halves multiply separately."""
    low, high = c & 0xFFFF, c >> 16
    return (x * low + (((x * high) & 0xFFFF) << 16)) & MASK32


def lowbias32(x: IntOrTensor) -> IntOrTensor:
    """The hash ``L`` of the module docstring, of int64 values in ``[0, 2^32)``."""
    x = x ^ (x >> 16)
    x = _times(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _times(x, 0x846CA68B)
    return x ^ (x >> 16)


@dataclass(frozen=True)
class ZoneoutDraws:
    """One forward pass's draws for states shaped ``shapes`` (`per_step`)."""

    keys: Tensor  # (k1, k2), int64 on the state's device: a tensor, so that torch.compile
    # and vmap see a random draw rather than constants
    threshold: int  # ⌊p 2^24⌋
    shapes: tuple[torch.Size, ...]  # each state tensor's, (N, size): i runs over them in turn

    @classmethod
    def draw(cls, p: float, state: tuple[Tensor, ...]) -> ZoneoutDraws:
        """New keys from torch's generator (of the state's device)."""
        keys = torch.randint(0, MASK32 + 1, (2,), device=state[0].device)
        return cls(keys, int(p * LEVELS), tuple(part.shape for part in state))

    def per_step(self, device: torch.device) -> Callable[[int], tuple[Tensor, ...]]:
        """``keeps(t)``: one bool tensor per state tensor, True where the unit keeps its value
        at step ``t``. ``L(i ⊕ k1)``, which no step changes, is computed here once."""
        sizes = [shape.numel() for shape in self.shapes]
        unit_hashes = self.unit_hashes(torch.arange(sum(sizes), device=device))

        def keeps(t: int) -> tuple[Tensor, ...]:
            parts = zip(self.kept(unit_hashes, t).split(sizes), self.shapes, strict=True)
            return tuple(part.view(shape) for part, shape in parts)

        return keeps

    def unit_hashes(self, units: Tensor) -> Tensor:
        """``L(i ⊕ k1)`` of the units' indices ``i`` (int64), which no step changes."""
        return lowbias32((units & MASK32) ^ self.keys[0])

    def kept(self, unit_hashes: Tensor, steps: int | Tensor) -> Tensor:
        """True where a unit keeps its value at step ``t`` (``steps``: one, or an int64 tensor
        that broadcasts against ``unit_hashes``)."""
        step = lowbias32((self.keys[1] + steps) & MASK32)
        return lowbias32(unit_hashes ^ step) >> 8 < self.threshold

    def as_tensor(self) -> Tensor:
        """``(k1, k2, threshold)`` as a CPU int64 tensor, as the compiled loop takes them."""
        threshold = torch.tensor([self.threshold], dtype=torch.int64)
        return torch.cat([self.keys.cpu(), threshold])
