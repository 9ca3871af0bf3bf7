"""Locked (variational) dropout between stacked layers, and torch's kernel run layer by layer.

AWD-LSTM (Merity et al. 2018) drops the outputs of every layer but the last with one mask per
sequence, shared by all its steps (Gal & Ghahramani 2016):

    m ~ Bernoulli(1 - p) of shape (N, D),    x_t <- x_t ⊙ m / (1 - p)    at every step t,

where ``dropout=`` in torch (and `torch.nn.functional.dropout`) draws a fresh mask at every
step. torch's kernels know only the latter, so with locked dropout in training a stacked layer
runs its kernel one layer at a time (both directions of a layer in one call, `run_by_layer`)
and drops between the calls; the kernel stays torch's own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import overload

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from rnnkit.nn.native import NativeConfig
from rnnkit.nn.time_loop import dropout_mask as locked_mask  # one (N, D) mask per sequence

Sequences = Tensor | PackedSequence
Stack = tuple[Sequences, tuple[Tensor, ...]]  # (output, final state)
# one native run of a configuration: (config, input, state, flat weights) -> (output, final)
NativeRun = Callable[[NativeConfig, Sequences, tuple[Tensor, ...], list[Tensor]], Stack]


@overload
def locked_dropout(x: Tensor, p: float) -> Tensor: ...
@overload
def locked_dropout(x: PackedSequence, p: float) -> PackedSequence: ...
def locked_dropout(x: Sequences, p: float) -> Sequences:
    """``x`` ``(T, N, D)``, or packed, times one mask ``(N, D)`` per sequence for all its
    steps (`locked_mask`, drawn in the batch's original order; padded steps of 0 stay 0).
    Training only: the caller decides when it applies."""
    if isinstance(x, Tensor):
        return x * locked_mask(x[0], p)  # (T, N, D) * (N, D)
    batch = int(x.batch_sizes[0])
    mask = locked_mask(x.data[:batch], p)  # (N, D), row n for sequence n
    rows = _packed_rows(x)
    return PackedSequence(x.data * mask[rows], x.batch_sizes, x.sorted_indices, x.unsorted_indices)


def _packed_rows(packed: PackedSequence) -> Tensor:
    """The sequence (its index in the original batch order) of each row of ``packed.data``."""
    sizes = packed.batch_sizes  # (T,) on the CPU
    positions = torch.arange(int(sizes[0])).expand(len(sizes), -1)  # (T, N)
    rows = positions[positions < sizes.unsqueeze(1)]  # sorted positions, step after step
    if packed.sorted_indices is None:
        return rows.to(packed.data.device)
    return packed.sorted_indices[rows.to(packed.sorted_indices.device)]


def run_by_layer(
    config: NativeConfig,
    run: NativeRun,
    x: Sequences,
    state: tuple[Tensor, ...],
    weights: Sequence[Tensor],
    p: float,
) -> Stack:
    """``config``'s stack through ``run`` one layer at a time, with `locked_dropout` of ``p``
    on the input of every layer but the first.

    Args:
        config: the whole stack (``num_layers`` layers; its ``dropout`` is not used).
        run: runs a one-layer configuration over ``x``'s kind of input (dense, padded with
            its lengths bound, or packed), without dropout.
        x: ``(T, N, F)`` time-major, or a `PackedSequence`.
        state: ``(h0,)`` or ``(h0, c0)``, each ``(D * num_layers, N, size)``.
        weights: the flat weight list in torch's order, layer after layer.

    Returns:
        The last layer's output, like ``x``, and the final state of every layer, like
        ``state``.
    """
    directions = 2 if config.bidirectional else 1
    per_layer = len(weights) // config.num_layers
    one_layer = replace(config, num_layers=1, dropout=0.0)
    finals: list[tuple[Tensor, ...]] = []
    for layer in range(config.num_layers):
        if layer:
            x = locked_dropout(x, p)
        rows = slice(layer * directions, (layer + 1) * directions)
        layer_weights = list(weights[layer * per_layer : (layer + 1) * per_layer])
        x, final = run(one_layer, x, tuple(s[rows] for s in state), layer_weights)
        finals.append(final)
    return x, tuple(torch.cat(parts) for parts in zip(*finals, strict=True))
