"""What every cell shares: its weights as one record, initialisation, the input and recurrent
projections, and the `RecurrentCell` base class (registration, input checks, unbatched input).

Every cell splits its step into two pure functions of explicit weights (a `CellWeights`):

* ``project_input(w, x)`` — the part that depends on the input only, ``x W_ih^T + b``; a layer
  runs it once for all time steps as one matrix multiply;
* ``step(w, x_proj, state)`` — the recurrence, one time step.

``forward(input, hx)`` is ``step(w, project_input(w, input), hx)`` and returns what the matching
torch cell returns. The layers in `rnnkit.nn.layers` call the same two functions with their own
parameters, so a cell and a layer can never disagree.

State is always a tuple of tensors inside rnnkit (``(h,)``, ``(h, c)``, ``(y,)``); its first
element is the cell's output.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.nn.errors import ShapeError

State = tuple[Tensor, ...]
Device = torch.device | str | None
Shapes = dict[str, tuple[int, ...]]


class CellWeights(NamedTuple):
    """The parameters of one cell (or one layer and direction); absent ones are None.

    Shapes for hidden size ``H``, input size ``I``, ``G`` gates, projection ``P``, output ``O``.
    """

    weight_ih: Tensor  # (G*H, I)
    weight_hh: Tensor | None = None  # (G*H, H) or (G*H, P)
    bias_ih: Tensor | None = None  # (G*H,)
    bias_hh: Tensor | None = None  # (G*H,)
    weight_hr: Tensor | None = None  # (P, H)     LSTM projection
    weight_ch: Tensor | None = None  # (3*H,)     LSTM peepholes for i, f, o
    weight_ln_ih: Tensor | None = None  # (G*H,)  layer-norm gain on the input projection
    weight_ln_hh: Tensor | None = None  # (G*H,)  layer-norm gain on the recurrent projection
    weight_ln_c: Tensor | None = None  # (H,)     LSTM layer norm of the cell state
    bias_ln_c: Tensor | None = None  # (H,)
    weight_yh: Tensor | None = None  # (H, O)     Jordan: previous output -> hidden
    weight_hy: Tensor | None = None  # (O, H)     Jordan: hidden -> output
    bias_hy: Tensor | None = None  # (O,)


ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {"tanh": torch.tanh, "relu": torch.relu}


def activation(nonlinearity: str) -> Callable[[Tensor], Tensor]:
    """The elementwise function for ``nonlinearity`` ('tanh' or 'relu')."""
    if nonlinearity not in ACTIVATIONS:
        raise ValueError(f"unknown nonlinearity {nonlinearity!r}; expected 'tanh' or 'relu'")
    return ACTIVATIONS[nonlinearity]


def gate_shapes(
    gates: int, input_size: int, hidden_size: int, bias: bool, *, recurrent_size: int | None = None
) -> Shapes:
    """Shapes of torch's ``weight_ih, weight_hh, bias_ih, bias_hh`` for a ``gates``-gate cell."""
    shapes: Shapes = {
        "weight_ih": (gates * hidden_size, input_size),
        "weight_hh": (gates * hidden_size, recurrent_size or hidden_size),
    }
    if bias:
        shapes |= {"bias_ih": (gates * hidden_size,), "bias_hh": (gates * hidden_size,)}
    return shapes


def layer_norm_shapes(gates: int, hidden_size: int) -> Shapes:
    """Shapes of the layer-norm gains applied to the input and recurrent projections."""
    return {"weight_ln_ih": (gates * hidden_size,), "weight_ln_hh": (gates * hidden_size,)}


def reset_weights(params: dict[str, Tensor], hidden_size: int) -> None:
    """Initialise as torch does: every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)).

    Layer-norm gains start at 1 and layer-norm biases at 0 (Ba et al. 2016).
    """
    bound = 1.0 / math.sqrt(hidden_size) if hidden_size > 0 else 0.0
    with torch.no_grad():
        for name, tensor in params.items():
            if name.startswith("weight_ln"):
                tensor.fill_(1.0)
            elif name.startswith("bias_ln"):
                tensor.zero_()
            else:
                tensor.uniform_(-bound, bound)


def set_forget_bias(
    bias_ih: Tensor | None, bias_hh: Tensor | None, gate: slice, value: float
) -> None:
    """Fill the forget-gate slice of ``bias_ih`` with ``value`` and zero it in ``bias_hh``.

    The sum of the two biases is what the gate sees, so this sets it to exactly ``value``.
    """
    with torch.no_grad():
        if bias_ih is not None:
            bias_ih[gate] = value
        if bias_hh is not None:
            bias_hh[gate] = 0.0


def input_bias(w: CellWeights, fold_bias_hh: bool) -> Tensor | None:
    """The bias of the input term: ``b_ih``, plus ``b_hh`` with ``fold_bias_hh`` (for cells
    where ``b_hh`` only ever adds to the input term: Elman, LSTM), which saves one addition
    per time step; None without biases."""
    bias = w.bias_ih
    if fold_bias_hh and w.bias_hh is not None:
        bias = w.bias_hh if bias is None else bias + w.bias_hh
    return bias


def input_projection(w: CellWeights, x: Tensor, fold_bias_hh: bool) -> Tensor:
    """``x W_ih^T`` plus `input_bias`, layer-normalised before the bias when configured."""
    bias = input_bias(w, fold_bias_hh)
    if w.weight_ln_ih is None:
        return F.linear(x, w.weight_ih, bias)
    # the biases as layer norm's own shift: g ⊙ LN(x W_ih^T) + b in one pass
    return F.layer_norm(F.linear(x, w.weight_ih), w.weight_ln_ih.shape, w.weight_ln_ih, bias)


def add_recurrent_term(w: CellWeights, x_proj: Tensor, h: Tensor) -> Tensor:
    """``x_proj + h W_hh^T``, with layer norm on ``h W_hh^T`` when configured (biases folded)."""
    assert w.weight_hh is not None
    if w.weight_ln_hh is None:
        return torch.addmm(x_proj, h, w.weight_hh.t())
    hh = h @ w.weight_hh.t()
    return x_proj + F.layer_norm(hh, w.weight_ln_hh.shape, w.weight_ln_hh)


class RecurrentCell(nn.Module):
    """What every cell shares: parameter registration, input checks, unbatched inputs.

    A subclass defines ``parameter_shapes()``, ``state_sizes()``, the static math
    ``project_input`` / ``step``, and how the state tuple is returned (``public_state``).
    """

    input_size: int
    hidden_size: int
    bias: bool
    nonlinearity: str = "tanh"  # the Elman and Jordan cells set their own
    forget_bias: float | None = None
    # rnnkit's options, printed after torch's arguments when they differ from these defaults
    REPR_EXTRAS: ClassVar[dict[str, Any]] = dict(
        output_size=None, proj_size=0, layer_norm=False, peephole=False, forget_bias=None
    )

    def _register(self, shapes: Shapes, device: Device, dtype: torch.dtype | None) -> None:
        """Create the parameters in ``shapes`` (in that order); without biases, ``bias_ih`` and
        ``bias_hh`` are registered as None, as torch does."""
        for name, shape in shapes.items():
            self.register_parameter(
                name, nn.Parameter(torch.empty(shape, device=device, dtype=dtype))
            )
        for name in ("bias_ih", "bias_hh"):
            if name not in shapes:
                self.register_parameter(name, None)

    def to_torch(self) -> nn.RNNCellBase:
        """This cell as ``torch.nn.LSTMCell`` / ``GRUCell`` / ``RNNCell`` with the same
        parameters (a copy), or a ValueError naming what torch's cell lacks
        (`rnnkit.nn.torch_modules`)."""
        from rnnkit.nn.torch_modules import to_torch

        converted = to_torch(self)
        assert isinstance(converted, nn.RNNCellBase)
        return converted

    def weights(self) -> CellWeights:
        """This cell's parameters as a `CellWeights`."""
        present = {name: p for name, p in self.named_parameters(recurse=False)}
        return CellWeights(**present)

    def _check_forget_bias(self) -> None:
        """``forget_bias`` needs a bias to initialise (ValueError otherwise)."""
        if self.forget_bias is not None and not self.bias:
            raise ValueError("forget_bias needs bias=True: it initialises the forget-gate bias")

    def extra_repr(self) -> str:
        """torch's ``input_size, hidden_size[, bias=False][, nonlinearity=relu]``, then the
        rnnkit options that are set."""
        text = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            text += f", bias={self.bias}"
        if self.nonlinearity != "tanh":
            text += f", nonlinearity={self.nonlinearity}"
        for name, default in self.REPR_EXTRAS.items():
            value = getattr(self, name, default)
            if value != default:
                text += f", {name}={value!r}"
        return text

    def reset_parameters(self) -> None:
        """torch's initialisation (see `reset_weights`), then ``forget_bias`` if given."""
        reset_weights(dict(self.named_parameters(recurse=False)), self.hidden_size)
        if self.forget_bias is not None:
            gate = self.forget_gate(self.hidden_size)
            assert gate is not None
            w = self.weights()
            set_forget_bias(w.bias_ih, w.bias_hh, gate, self.forget_bias)

    @staticmethod
    def forget_gate(hidden_size: int) -> slice | None:
        """The forget gate's rows in ``bias_ih`` / ``bias_hh``; None for cells without one."""
        return None

    def state_sizes(self) -> tuple[int, ...]:
        """The width of each part of the state, e.g. ``(H,)`` or ``(P, H)``."""
        raise NotImplementedError

    @staticmethod
    def project_input(w: CellWeights, x: Tensor) -> Tensor:
        """The input's share of a step, for any number of steps: ``(..., I) -> (..., G)``."""
        raise NotImplementedError

    @staticmethod
    def step(w: CellWeights, x_proj: Tensor, state: State) -> State:
        """One step of the recurrence from the projected input ``(N, G)``."""
        raise NotImplementedError

    def advance(self, x: Tensor, state: State) -> State:
        """One time step on a batch: ``x`` is ``(N, I)``, each state part ``(N, size)``."""
        w = self.weights()
        return self.step(w, self.project_input(w, x), state)

    def public_state(self, state: State) -> Tensor | tuple[Tensor, ...]:
        """The step's result as the torch cell returns it (one tensor unless overridden)."""
        return state[0]

    def _parse_state(self, hx: Tensor | tuple[Tensor, ...] | None, batch: int, x: Tensor) -> State:
        sizes = self.state_sizes()
        if hx is None:
            return tuple(x.new_zeros(batch, size) for size in sizes)
        parts = (hx,) if isinstance(hx, Tensor) else tuple(hx)
        if len(parts) != len(sizes):
            raise ShapeError(f"{type(self).__name__}: expected hx with {len(sizes)} tensors")
        for part, size in zip(parts, sizes, strict=True):
            if part.shape != (batch, size):
                raise ShapeError(
                    f"{type(self).__name__}: expected hx of shape {(batch, size)}, "
                    f"got {tuple(part.shape)}"
                )
        return parts

    def forward(
        self, input: Tensor, hx: Tensor | tuple[Tensor, ...] | None = None
    ) -> Tensor | tuple[Tensor, ...]:
        if input.dim() not in (1, 2) or input.shape[-1] != self.input_size:
            raise ShapeError(
                f"{type(self).__name__}: expected input of shape (N, {self.input_size}) or "
                f"({self.input_size},), got {tuple(input.shape)}"
            )
        batched = input.dim() == 2
        x = input if batched else input.unsqueeze(0)
        if hx is not None and not batched:
            hx = hx.unsqueeze(0) if isinstance(hx, Tensor) else tuple(h.unsqueeze(0) for h in hx)
        state = self.advance(x, self._parse_state(hx, x.shape[0], x))
        if not batched:
            state = tuple(s.squeeze(0) for s in state)
        return self.public_state(state)
