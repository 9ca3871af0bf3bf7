"""Backpropagation through time over one direction of one layer, for `rnnkit.bptt.backward`.

`forward_direction` steps a cell of `rnnkit.bptt.cell_backward` through time and keeps its tape;
`backward_direction` walks back from the last step to the first, applying the cell's backward
at every step and accumulating the parameter gradients.

The gradient of the state is kept as a *band* ``(B, N, H)``: row ``b`` holds the loss terms
whose gradient has crossed ``b`` recurrent transitions. Without truncation there is one row
and every term is summed into it. With truncation ``k`` there are ``k + 1`` rows: after each
step back the band shifts down one row, and the row that reaches ``k`` is counted in ∂L/∂h of
the state it arrived at but goes no further (see `rnnkit.bptt.backward` for the definition).

Shapes: ``T`` steps, ``N`` batch, ``F`` input features, ``H`` hidden size, ``G`` = gates × H.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from rnnkit.bptt.cell_backward import CellBackprop, Tape
from rnnkit.nn.recurrent_cell import CellWeights, State, input_projection


class DirectionTape(NamedTuple):
    """The forward pass of one direction of one layer, in that direction's time order."""

    x: Tensor  # (T, N, F)   its input, 0 at padded positions
    prev: State  # (T, N, H) each: the state every step started from
    tape: Tape  # (T, N, ·) each: the cell's tape of every step
    output: Tensor  # (T, N, H) h after every step (carried over at padded positions)


class DirectionGrads(NamedTuple):
    """The backward pass of one direction of one layer."""

    params: dict[str, Tensor]  # by `CellWeights` field: weight_ih, weight_hh, bias_ih, bias_hh
    d_x_proj: Tensor  # (T, B, N, G)  by band row, to send the gradient to the layer below
    hidden: Tensor  # (T, N, H)      ∂L/∂h_t
    initial: State  # (N, H) each    ∂L/∂(initial state)


def forward_direction(
    cell: CellBackprop, w: CellWeights, x: Tensor, state: State, mask: Tensor | None
) -> tuple[DirectionTape, State]:
    """Run one direction over ``x`` ``(T, N, F)`` from ``state``, keeping the tape.

    ``mask`` ``(T, N, 1)`` is False at padded steps, where the state is carried over.
    Returns the tape and the state after each sequence's last real step.
    """
    x_proj = input_projection(w, x, fold_bias_hh=cell.fold_bias_hh)  # (T, N, G)
    prevs, tapes, outputs = [], [], []
    for t, x_t in enumerate(x_proj.unbind(0)):
        new, tape = cell.forward(w, x_t, state)
        if mask is not None:
            new = tuple(torch.where(mask[t], n, s) for n, s in zip(new, state, strict=True))
        prevs.append(state)
        tapes.append(tape)
        outputs.append(new[0])
        state = new
    stacked = DirectionTape(x, _stack(prevs), _stack(tapes), torch.stack(outputs))
    return stacked, state


def backward_direction(
    cell: CellBackprop,
    w: CellWeights,
    recorded: DirectionTape,
    grad_out: Tensor,
    grad_final: State,
    last: Tensor,
    mask: Tensor | None,
    window: int | None,
) -> DirectionGrads:
    """Backward through time over one direction (module doc), band row ``b`` = the loss
    terms that have crossed ``b`` transitions (one row, all terms, without truncation).

    Args:
        grad_out: ``(T, B, N, H)``, the gradient reaching each step's output from outside the
            recurrence (the loss, the layer above), by band row; ``B = window or 1``.
        grad_final: ``(N, H)`` each, ∂L/∂(final state). last: ``(N, 1)``, each last real step.
        mask: ``(T, N, 1)``, False at padded steps. window: ``k`` of truncated BPTT, or None.
    """
    rows = grad_out.shape[1]
    depth = rows if window is None else rows + 1  # + the terms that have crossed k transitions
    d = tuple(p.new_zeros(depth, *p.shape[1:]) for p in recorded.prev)  # ∂L/∂s_t, (depth, N, H)
    hidden, d_x_proj, d_hh = [], [], []
    for t in reversed(range(grad_out.shape[0])):
        d = _add_incoming(d, grad_out[t], grad_final, last == t)
        hidden.append(d[0].sum(0))  # (N, H)  ∂L/∂h_t, every term that reaches it
        tape, prev = tuple(a[t] for a in recorded.tape), tuple(s[t] for s in recorded.prev)
        step = cell.backward(w, tape, prev, tuple(part[:rows] for part in d))
        real = None if mask is None else mask[t]  # padded steps get no gradient
        d_x_proj.append(_zero_where_padded(real, step.d_x_proj))  # (B, N, G)
        d_hh.append(_zero_where_padded(real, step.d_hh).sum(0))  # (N, G)
        d = tuple(_zero_where_padded(real, part) for part in step.d_prev)  # ∂L/∂s_{t-1}
        if window is not None:  # one more transition crossed: row b -> b + 1
            d = tuple(torch.cat([part.new_zeros(1, *part.shape[1:]), part]) for part in d)
    dx = torch.stack(d_x_proj[::-1])  # (T, B, N, G)
    return DirectionGrads(
        _param_grads(w, recorded, dx.sum(1), torch.stack(d_hh[::-1])),
        dx,
        torch.stack(hidden[::-1]),
        tuple(part.sum(0) for part in d),
    )


def _zero_where_padded(real: Tensor | None, grad: Tensor) -> Tensor:
    """``grad`` where ``real`` ``(N, 1)`` is True, else 0 (all of it when ``real`` is None)."""
    return grad if real is None else torch.where(real, grad, 0.0)


def _add_incoming(d: State, grad_out: Tensor, grad_final: State, at_last: Tensor) -> State:
    """Add to ∂L/∂s_t what reaches step t from outside the recurrence: ``grad_out`` ``(B, N, H)``
    to rows ``:B`` of ``h``, and ``grad_final`` to row 0 where ``at_last`` ``(N, 1)`` is True."""
    d = tuple(part.clone() for part in d)
    d[0][: grad_out.shape[0]] += grad_out
    for part, grad in zip(d, grad_final, strict=True):
        part[0] += torch.where(at_last, grad, 0.0)
    return d


def _param_grads(
    w: CellWeights, recorded: DirectionTape, dx: Tensor, dhh: Tensor
) -> dict[str, Tensor]:
    """∂L/∂θ from ``dx`` = ∂L/∂(x W_ih^T + b) and ``dhh`` = ∂L/∂(h W_hh^T + b_hh), ``(T, N, G)``."""
    dx, dhh = dx.flatten(0, 1), dhh.flatten(0, 1)  # (T*N, G)
    grads = {
        "weight_ih": dx.t() @ recorded.x.flatten(0, 1),  # Σ_t dx_t^T x_t        (G, F)
        "weight_hh": dhh.t() @ recorded.prev[0].flatten(0, 1),  # Σ_t dhh_t^T h_{t-1}  (G, H)
    }
    if w.bias_ih is not None:
        grads |= {"bias_ih": dx.sum(0), "bias_hh": dhh.sum(0)}  # (G,)
    return grads


def _stack(steps: list[tuple[Tensor, ...]]) -> tuple[Tensor, ...]:
    """Per-step tuples of tensors as one tuple of ``(T, ...)`` tensors."""
    return tuple(torch.stack(parts) for parts in zip(*steps, strict=True))
