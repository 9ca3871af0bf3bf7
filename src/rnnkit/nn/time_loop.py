"""The time loop: one direction of one layer, stepped through time with a cell's ``step``.

The input projection of every step is computed beforehand in one matrix multiply (the cell's
``project_input``), so each iteration does only the recurrent part. Around the step sit the
options torch's kernels lack:

* recurrent (variational) dropout (Gal & Ghahramani 2016): ``h_{t-1}`` is multiplied by one
  dropout mask per sequence, the same at every step, before it enters the recurrence;
* zoneout (Krueger et al. 2017): in training each state unit keeps its previous value with
  probability ``p``, drawn afresh at every step (`rnnkit.nn.zoneout_draws`); in evaluation the
  state is the expectation ``p ⊙ s_{t-1} + (1 - p) ⊙ s_t``;
* padding: where ``mask`` is False the state is carried over unchanged, so a sequence's final
  state is its state at its own last step.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from rnnkit.nn.recurrent_cell import CellWeights, State
from rnnkit.nn.zoneout_draws import ZoneoutDraws

Step = Callable[[CellWeights, Tensor, State], State]
# a loop with its step bound: (w, x_proj, state, *, mask, recurrent_dropout, zoneout_p, training)
BoundLoop = Callable[..., tuple[Tensor, State]]


def dropout_mask(like: Tensor, p: float) -> Tensor:
    """A ``(N, H)`` mask like ``like``: 0 with probability ``p``, else ``1 / (1 - p)`` (all 0
    when ``p = 1``, as `torch.nn.functional.dropout` gives)."""
    keep = torch.empty_like(like).bernoulli_(1.0 - p)
    return keep if p == 1 else keep.div_(1.0 - p)


def zoneout(new: State, old: State, p: float, keeps: State | None) -> State:
    """Keep the units of ``old`` where ``keeps`` (one bool tensor per state tensor) is True
    (training), or mix in expectation with weight ``p`` (``keeps`` None: evaluation)."""
    if keeps is not None:
        return tuple(torch.where(k, o, n) for n, o, k in zip(new, old, keeps, strict=True))
    return tuple(torch.lerp(n, o, p) for n, o in zip(new, old, strict=True))


def time_loop(
    step: Step,
    w: CellWeights,
    x_proj: Tensor,
    state: State,
    *,
    mask: Tensor | None = None,
    recurrent_dropout: float = 0.0,
    zoneout_p: float = 0.0,
    training: bool = False,
) -> tuple[Tensor, State]:
    """Run ``step`` over all time steps.

    Args:
        step: the cell's ``step(w, x_proj_t, state) -> state``.
        w: the cell's weights.
        x_proj: ``(T, N, G)``, the projected inputs of all steps.
        state: the initial state, a tuple of ``(N, size)`` tensors.
        mask: ``(T, N, 1)`` bool, False at padded positions; None when nothing is padded.
        recurrent_dropout: ``p`` of variational dropout on ``h_{t-1}`` (training only).
        zoneout_p: zoneout probability.
        training: whether dropout / zoneout draw random masks.

    Returns:
        ``(outputs (T, N, H_out), final state)``; ``outputs[t]`` is ``state[0]`` after step
        ``t`` (the carried-over state at padded positions).
    """
    keep = dropout_mask(state[0], recurrent_dropout) if training and recurrent_dropout else None
    keeps_at = None
    if training and zoneout_p:
        keeps_at = ZoneoutDraws.draw(zoneout_p, state).per_step(x_proj.device)
    outputs = []
    # unbind, not x_proj[t]: the backward of T selects would build T full-size gradients
    for t, x_t in enumerate(x_proj.unbind(0)):
        visible = state if keep is None else (state[0] * keep, *state[1:])
        new = step(w, x_t, visible)
        if zoneout_p:
            new = zoneout(new, state, zoneout_p, None if keeps_at is None else keeps_at(t))
        if mask is not None:
            new = tuple(torch.where(mask[t], n, s) for n, s in zip(new, state, strict=True))
        state = new
        outputs.append(state[0])
    return torch.stack(outputs), state
