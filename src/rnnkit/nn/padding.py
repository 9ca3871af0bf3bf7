"""Batches of sequences as the layers see them: time-major padded tensors with lengths.

``x`` is ``(T, N, F)`` (time first), ``lengths`` a 1-D int64 tensor ``(N,)`` with
``1 <= lengths[n] <= T``, or None when every sequence is ``T`` steps long. Helpers here check
user input, build the padding mask, reverse each sequence within its own length (for the
backward direction of a bidirectional layer) and convert to and from `PackedSequence`.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import torch
import torch._C._functorch as functorch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence


def check_lengths(lengths: Tensor | list[int] | None, batch: int, steps: int) -> Tensor | None:
    """Validate ``lengths`` for ``batch`` sequences padded to ``steps``; None if none is short.

    Returns a CPU int64 tensor ``(N,)``.
    """
    if lengths is None:
        return None
    if isinstance(lengths, Tensor) and _batched_by_vmap(lengths):
        raise ValueError(
            "lengths cannot differ across torch.func.vmap: pass one lengths tensor for the "
            "whole batch (in_dims=None), or give each example without padding"
        )
    lengths = torch.as_tensor(lengths).cpu()
    if lengths.dim() != 1 or lengths.shape[0] != batch:
        raise ValueError(
            f"expected lengths of shape ({batch},) (one per sequence), got {tuple(lengths.shape)}"
        )
    if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
        raise ValueError(f"expected integer lengths, got dtype {lengths.dtype}")
    lengths = lengths.long()
    if bool((lengths < 1).any()) or bool((lengths > steps).any()):
        raise ValueError(
            f"lengths must lie in [1, {steps}] (the padded length), "
            f"got min {int(lengths.min())} and max {int(lengths.max())}"
        )
    if bool((lengths == steps).all()):
        if torch.jit.is_tracing():
            warnings.warn(
                f"every one of lengths= is the padded length {steps}: the trace records the "
                "path without padding and will ignore lengths= when it runs; to run padded "
                "batches, trace with an example whose lengths are not all the full length",
                torch.jit.TracerWarning,
                stacklevel=2,
            )
        return None
    return lengths


def _batched_by_vmap(tensor: Tensor) -> bool:
    """Whether ``tensor``, under any torch.func wrappers, varies across a ``vmap`` (never under
    `torch.compile`, which traces no functorch wrappers)."""
    if torch.compiler.is_compiling():
        return False
    while functorch.is_functorch_wrapped_tensor(tensor):
        if functorch.is_batchedtensor(tensor):
            return True
        tensor = functorch.get_unwrapped(tensor)
    return False


def padding_mask(lengths: Tensor, steps: int, device: torch.device) -> Tensor:
    """``(T, N, 1)`` bool mask, True at real (non-padded) positions."""
    positions = torch.arange(steps).unsqueeze(1)  # (T, 1)
    return (positions < lengths.unsqueeze(0)).unsqueeze(-1).to(device)


def reversal_index(lengths: Tensor, steps: int, device: torch.device) -> Tensor:
    """Time index ``(T, N)`` that reverses each sequence within its length; padding stays put.

    ``index[t, n] = lengths[n] - 1 - t`` for ``t < lengths[n]``, else ``t``.
    """
    t = torch.arange(steps).unsqueeze(1)  # (T, 1)
    last = lengths.unsqueeze(0) - 1  # (1, N)
    return torch.where(t <= last, last - t, t).to(device)


def reverse_time(x: Tensor, index: Tensor | None) -> Tensor:
    """Reverse ``x`` ``(T, N, F)`` along time, within each sequence's length given ``index``
    (from `reversal_index`; None when no sequence is padded)."""
    if index is None:
        return x.flip(0)
    return x.gather(0, index.unsqueeze(-1).expand_as(x))


def unpack(packed: PackedSequence) -> tuple[Tensor, Tensor | None]:
    """A `PackedSequence` as ``(x (T, N, F), lengths)`` in the batch's original order."""
    x, lengths = pad_packed_sequence(packed)
    return x, check_lengths(lengths, x.shape[1], x.shape[0])


def pack_like(x: Tensor, lengths: Tensor | None, template: PackedSequence) -> PackedSequence:
    """Pack ``x`` ``(T, N, F)`` with exactly the batch order and sizes of ``template``."""
    if lengths is None:
        lengths = torch.full((x.shape[1],), x.shape[0], dtype=torch.long)
    order = template.sorted_indices
    if order is not None:
        x, lengths = x.index_select(1, order.to(x.device)), lengths[order.cpu()]
    packed = pack_padded_sequence(x, lengths, enforce_sorted=True)
    return PackedSequence(
        packed.data, template.batch_sizes, template.sorted_indices, template.unsorted_indices
    )


class Padding(NamedTuple):
    """What a layer needs to know about a padded batch, computed once per forward pass."""

    lengths: Tensor  # (N,) int64, on the CPU
    mask: Tensor  # (T, N, 1) bool, True at real positions
    reverse_index: Tensor  # (T, N) int64, see `reversal_index`

    @classmethod
    def of(cls, lengths: Tensor | None, steps: int, device: torch.device) -> Padding | None:
        """The padding of a batch, or None when no sequence is shorter than ``steps``."""
        if lengths is None:
            return None
        return cls(
            lengths, padding_mask(lengths, steps, device), reversal_index(lengths, steps, device)
        )
