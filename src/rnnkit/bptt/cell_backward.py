"""One step of Elman, LSTM and GRU, forward and backward, derived by hand for
`rnnkit.bptt.backward`.

Each cell has two functions over explicit weights ``w`` (a `CellWeights`):

* ``forward(w, x_proj, state) -> (new_state, tape)``: the step of the cell's docstring in
  `rnnkit.nn.cells`, keeping on ``tape`` the activations its backward needs;
* ``backward(w, tape, prev, d_state) -> Backprop``: the chain rule through that step, given
  the gradient ``d_state`` of the loss with respect to the new state and ``prev``, the state
  the step started from.

Gradients carry a leading *band* dimension ``B`` that the forward tensors do not: row ``b``
holds the gradient of a different group of loss terms (truncated BPTT keeps the terms that have
crossed ``b`` transitions apart, see `rnnkit.bptt.backward`). Each step is linear in its
incoming gradient, so the rows never mix; the forward tensors ``(N, ·)`` broadcast over them.

Notation as in `rnnkit.nn.cells`: ``N`` batch, ``H`` hidden size, ``G`` = gates × ``H``; ``dX``
is ∂L/∂X; σ' = σ(1 - σ), tanh' = 1 - tanh².
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.nn.recurrent_cell import CellWeights, State, add_recurrent_term

Tape = tuple[Tensor, ...]


class Backprop(NamedTuple):
    """The gradients out of one step, each with the band dimension ``B`` first."""

    d_x_proj: Tensor  # (B, N, G)  ∂L/∂(x W_ih^T + b_ih [+ b_hh]): gives dW_ih, db_ih, dx
    d_hh: Tensor  # (B, N, G)      ∂L/∂(h W_hh^T + b_hh): gives dW_hh, db_hh
    d_prev: State  # (B, N, H) each  ∂L/∂(state the step started from)


class CellBackprop(Protocol):
    """A cell's step with its hand-derived backward (see the module docstring)."""

    fold_bias_hh: bool  # whether b_hh is part of the input projection (Elman, LSTM)

    def forward(self, w: CellWeights, x_proj: Tensor, state: State) -> tuple[State, Tape]: ...

    def backward(self, w: CellWeights, tape: Tape, prev: State, d_state: State) -> Backprop: ...


class ElmanBackprop:
    r"""Elman step ``h' = φ(a)``, ``a = x_proj + h W_hh^T`` (``x_proj = x W_ih^T + b_ih + b_hh``).

    Tape: ``(h',)``. Backward: ``da = dh' ⊙ φ'(a)``, ``dh = da W_hh``, where ``φ'(a)`` is
    ``1 - h'²`` for tanh and ``[h' > 0]`` for relu (0 at ``a = 0``, as torch).
    """

    fold_bias_hh = True

    def __init__(self, nonlinearity: str) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"unknown nonlinearity {nonlinearity!r}; expected 'tanh' or 'relu'")
        self.nonlinearity = nonlinearity

    def forward(self, w: CellWeights, x_proj: Tensor, state: State) -> tuple[State, Tape]:
        a = add_recurrent_term(w, x_proj, state[0])  # (N, H)  a = x_proj + h W_hh^T
        h = torch.tanh(a) if self.nonlinearity == "tanh" else torch.relu(a)  # h' = φ(a)
        return (h,), (h,)

    def backward(self, w: CellWeights, tape: Tape, prev: State, d_state: State) -> Backprop:
        assert w.weight_hh is not None
        (h,), (dh,) = tape, d_state  # h (N, H); dh (B, N, H)
        # φ'(a) from h' = φ(a): 1 - h'² for tanh; [h' > 0] for relu
        slope = 1 - h * h if self.nonlinearity == "tanh" else (h > 0).to(h.dtype)
        da = dh * slope  # (B, N, H)  da = dh' ⊙ φ'(a)
        return Backprop(da, da, (da @ w.weight_hh,))  # dh = da W_hh  (B, N, H)


class LSTMBackprop:
    r"""LSTM step (gate order i, f, g, o), from ``A = x_proj + h W_hh^T`` ``(N, 4H)``:
    ``i, f, o = σ(A_i), σ(A_f), σ(A_o)``, ``g = tanh(A_g)``, ``c' = f ⊙ c + i ⊙ g``,
    ``h' = o ⊙ tanh(c')``.

    Tape: ``(gates (N, 4H) = [i, f, g, o], tanh(c') (N, H))``.
    """

    fold_bias_hh = True

    def forward(self, w: CellWeights, x_proj: Tensor, state: State) -> tuple[State, Tape]:
        h, c = state
        pre = add_recurrent_term(w, x_proj, h)  # (N, 4H)  A = x_proj + h W_hh^T
        a_i, a_f, a_g, a_o = pre.chunk(4, dim=1)  # (N, H) each
        i, f, o = torch.sigmoid(a_i), torch.sigmoid(a_f), torch.sigmoid(a_o)
        g = torch.tanh(a_g)
        gates = torch.cat([i, f, g, o], dim=1)  # (N, 4H)
        c_new = f * c + i * g  # c' = f ⊙ c + i ⊙ g
        tanh_c = torch.tanh(c_new)
        return (o * tanh_c, c_new), (gates, tanh_c)  # h' = o ⊙ tanh(c')

    def backward(self, w: CellWeights, tape: Tape, prev: State, d_state: State) -> Backprop:
        assert w.weight_hh is not None
        (gates, tanh_c), (_, c), (dh, dc) = tape, prev, d_state  # dh, dc (B, N, H)
        i, f, g, o = gates.chunk(4, dim=1)  # (N, H) each
        do = dh * tanh_c  # ∂h'/∂o = tanh(c')
        dc = dc + dh * o * (1 - tanh_c * tanh_c)  # c' reaches L directly and through h'
        di, df, dg = dc * g, dc * c, dc * i  # c' = f ⊙ c + i ⊙ g
        d_pre = torch.cat(  # (B, N, 4H)  through σ' and tanh'
            [di * i * (1 - i), df * f * (1 - f), dg * (1 - g * g), do * o * (1 - o)], dim=-1
        )
        # dh = dA W_hh; dc = dc' ⊙ f
        return Backprop(d_pre, d_pre, (d_pre @ w.weight_hh, dc * f))


class GRUBackprop:
    r"""GRU step, torch's variant (gate order r, z, n), with ``hh = h W_hh^T + b_hh`` ``(N, 3H)``:
    ``r = σ(x_r + hh_r)``, ``z = σ(x_z + hh_z)``, ``n = tanh(x_n + r ⊙ hh_n)``,
    ``h' = (1 - z) ⊙ n + z ⊙ h``, where ``x_proj = x W_ih^T + b_ih = [x_r, x_z, x_n]``.

    Tape: ``(r, z, n, hh_n)``, each ``(N, H)``. Unlike Elman and LSTM the two projections get
    different gradients: ``r`` multiplies ``hh_n`` only.
    """

    fold_bias_hh = False

    def forward(self, w: CellWeights, x_proj: Tensor, state: State) -> tuple[State, Tape]:
        (h,) = state
        assert w.weight_hh is not None
        x_r, x_z, x_n = x_proj.chunk(3, dim=1)  # (N, H) each
        hh_r, hh_z, hh_n = F.linear(h, w.weight_hh, w.bias_hh).chunk(3, dim=1)
        r, z = torch.sigmoid(x_r + hh_r), torch.sigmoid(x_z + hh_z)
        n = torch.tanh(x_n + r * hh_n)
        return ((1 - z) * n + z * h,), (r, z, n, hh_n)

    def backward(self, w: CellWeights, tape: Tape, prev: State, d_state: State) -> Backprop:
        assert w.weight_hh is not None
        (r, z, n, hh_n), (h,), (dh_new,) = tape, prev, d_state  # dh_new (B, N, H)
        dz = dh_new * (h - n)  # h' = n + z ⊙ (h - n)
        d_an = dh_new * (1 - z) * (1 - n * n)  # ∂L/∂(x_n + r ⊙ hh_n), through tanh'
        dr = d_an * hh_n  # r multiplies hh_n
        d_ar, d_az = dr * r * (1 - r), dz * z * (1 - z)  # through σ'
        d_x_proj = torch.cat([d_ar, d_az, d_an], dim=-1)  # (B, N, 3H)
        d_hh = torch.cat([d_ar, d_az, d_an * r], dim=-1)  # (B, N, 3H)  hh_n enters as r ⊙ hh_n
        # dh = dh' ⊙ z (direct path) + d_hh W_hh (through the gates)
        return Backprop(d_x_proj, d_hh, (dh_new * z + d_hh @ w.weight_hh,))


def cell_backprop(kind: str) -> CellBackprop:
    """The step for ``kind``: ``'rnn_tanh'``, ``'rnn_relu'``, ``'lstm'`` or ``'gru'``."""
    if kind.startswith("rnn_"):
        return ElmanBackprop(kind.removeprefix("rnn_"))
    if kind == "lstm":
        return LSTMBackprop()
    if kind == "gru":
        return GRUBackprop()
    raise ValueError(f"no hand-derived backward for {kind!r}")
