r"""Vanishing and exploding gradients, measured: ‖∂L/∂h_t‖ against the distance from the loss.

`gradient_flow` runs any unidirectional rnnkit (or torch.nn) layer one step at a time, feeding
its state back, so that every step's state is a tensor of its own, then asks autograd for
∂L/∂h_t and ∂L/∂x_t. With the loss taken at the last step ``T - 1``, the gradient at distance
``d`` is the one at step ``T - 1 - d``: it is the loss's gradient carried back through ``d``
recurrent Jacobians ∂h_t/∂h_{t-1}, whose product shrinks or grows geometrically in an Elman
network (Bengio et al. 1994; Pascanu et al. 2013) and is kept near 1 by the LSTM's additive
cell state (Hochreiter & Schmidhuber 1997).

The experiment behind ``rnnkit diagnose gradient-flow`` is `rnnkit.bptt.flow_experiment`;
this module is the measuring tool alone and knows no experiment.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

Loss = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class GradientFlow:
    """Gradient norms by distance from the loss, each the mean over the batch of the norm of
    one sequence's gradient; index ``d`` is step ``T - 1 - d``."""

    distances: list[int]  # 0 .. T-1
    hidden: list[float]  # ‖∂L/∂h_t‖, h the top layer's state (its output; not an LSTM's c)
    input: list[float]  # ‖∂L/∂x_t‖


def gradient_flow(layer: nn.Module, x: Tensor, *, loss: str | Loss = "last") -> GradientFlow:
    """Measure how the gradient of a loss at the last step reaches earlier steps.

    Args:
        layer: a unidirectional recurrent layer taking ``(input, hx)`` and returning
            ``(output, state)``; any rnnkit layer, or torch.nn.RNN / LSTM / GRU.
        x: ``(T, N, I)``, or ``(N, T, I)`` if ``layer.batch_first``.
        loss: ``"last"``: ``L = Σ_n ⟨u, y_{T-1}⟩`` with ``u`` the unit vector ``1/√H``, so the
            gradient at distance 0 has norm 1; or a function of the outputs ``(T, N, H)``
            (batch first if the layer is) returning a scalar. Make it a *sum* over the batch
            of each sequence's loss, so each sequence's gradient is its own.
    """
    if getattr(layer, "bidirectional", False):
        raise ValueError("gradient_flow steps the layer forward; it cannot be bidirectional")
    time_dim = 1 if getattr(layer, "batch_first", False) else 0
    x = x.detach().clone().requires_grad_()
    state, hidden = None, []
    for x_t in x.split(1, dim=time_dim):  # one step at a time, the state fed back
        _, state = layer(x_t, state)
        state, top = _expose_top(state)
        hidden.append(top)
    outputs = torch.stack(hidden, dim=time_dim)
    value = last_step_loss(outputs, time_dim) if loss == "last" else _as_loss(loss)(outputs)
    *grad_hidden, grad_x = torch.autograd.grad(value, [*hidden, x], allow_unused=True)
    norms = [0.0 if grad is None else float(_norms(grad).mean()) for grad in grad_hidden]
    assert grad_x is not None
    input_norms = _norms(grad_x).mean(dim=1 - time_dim)  # (T,)
    return GradientFlow(list(range(len(norms))), norms[::-1], input_norms.flip(0).tolist())


def _norms(grad: Tensor) -> Tensor:
    """Euclidean norms over the last dimension, in float64: squaring a float32 gradient of
    1e-23 underflows, and the curve would fall to 0 long before the gradient itself does."""
    return grad.double().norm(dim=-1)


def _expose_top(state: Tensor | tuple[Tensor, ...]) -> tuple[Any, Tensor]:
    """The top layer's ``h`` ``(N, H)`` as a tensor of its own, and the state rebuilt from it,
    so that both the loss and the next step read that very tensor."""
    parts = state if isinstance(state, tuple) else (state,)
    top = parts[0][-1]  # (N, H)
    h = torch.cat([parts[0][:-1], top[None]])  # (layers, N, H)
    return ((h, *parts[1:]) if isinstance(state, tuple) else h), top


def last_step_loss(outputs: Tensor, time_dim: int = 0) -> Tensor:
    """``Σ_n ⟨u, y_{T-1}⟩`` with ``u = (1, ..., 1) / √H``: a loss whose gradient at the last
    step has norm 1 for every sequence."""
    last = outputs.select(time_dim, -1)  # (N, H)
    return last.sum() / math.sqrt(last.shape[-1])


def _as_loss(loss: str | Loss) -> Loss:
    if isinstance(loss, str):
        raise ValueError(f"unknown loss {loss!r}; expected 'last' or a function of the outputs")
    return loss
