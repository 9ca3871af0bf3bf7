r"""Backpropagation through time by hand: the gradients of an Elman, LSTM or GRU layer.

`bptt` runs a layer forward, keeping what the backward needs (gate activations and states, see
`rnnkit.bptt.cell_backward`), then applies the chain rule backward through time, layer by layer and
direction by direction, without autograd. It computes what ``loss.backward()`` computes for

    L = Σ_t ⟨grad_output_t, output_t⟩ + ⟨grad_final_state, final_state⟩,

that is, it turns the gradient with respect to the layer's outputs into the gradients with
respect to its parameters, its input and its initial state, and reports ∂L/∂h_t on the way.

For one direction of one layer, with state ``s_t`` (``h_t``, plus ``c_t`` for the LSTM) and
``s_t = f(s_{t-1}, x_t)``, going from ``t = T - 1`` down to 0:

    δ_t     = ∂L/∂s_t = (gradient from the output and the layer above at t)
                        + (∂s_{t+1}/∂s_t)^T δ_{t+1}          # the recurrence
    ∂L/∂θ  += (∂s_t/∂θ)^T δ_t                               # θ: W_ih, W_hh, b_ih, b_hh
    ∂L/∂x_t = (∂s_t/∂x_t)^T δ_t                             # sent to the layer below

**Padding.** A step past a sequence's length leaves the state unchanged and its output is 0, so
no gradient reaches it; the gradient of the final state enters at each sequence's own last step.
A backward direction runs over each sequence reversed within its length, as the layers do.

**Truncation** (``truncate=k``). Each loss term is followed back through at most ``k``
recurrent transitions ``s_{t-1} -> s_t``: a loss term at step ``s`` (the output at ``s``, or the
final state, which counts as a term at the sequence's last step) reaches the parameters and
inputs of the ``k`` steps ``s-k+1 .. s`` and the states ``s_s .. s_{s-k}``; ``s_{s-k}`` is
treated as a constant (where ``detach()`` would cut). Equivalently, for every ``s``: rerun
steps ``s-k+1 .. s`` from the detached ``s_{s-k}`` (from ``hx`` if ``s-k < 0``), differentiate
the term at ``s``, and sum over ``s``. Transitions are counted along every path, in any layer
and direction. This is the per-term truncation of BPTT(h) (Williams & Peng 1990); it differs
from the chunked scheme of language-model training (detach every ``k`` steps,
`rnnkit.data.StreamBatches`), where a term early in a chunk sees fewer than ``k`` steps. Because
each term has its own cut, the backward keeps the gradients of the last ``k`` terms apart (a
band of ``k`` rows) and costs ``k`` times the untruncated one. ``k >= T`` is full BPTT, except
in a stacked bidirectional layer: there a path can run down the time axis in one layer and back
up it in the backward direction of a layer below, crossing up to ``num_layers * T``
transitions.

**Clipping** acts on the parameter gradients only, after they are complete, as
`torch.nn.utils.clip_grad_norm_` (scale all of them by ``min(1, clip_norm / (‖g‖ + 1e-6))``,
``‖g‖`` the 2-norm of all of them together) and `torch.nn.utils.clip_grad_value_` (clamp each
element to ``[-clip_value, clip_value]``); with both, the norm is clipped first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from rnnkit.bptt.cell_backward import CellBackprop, cell_backprop
from rnnkit.bptt.direction_backward import DirectionTape, backward_direction, forward_direction
from rnnkit.nn.layers import GRU, LSTM, RNN
from rnnkit.nn.padding import Padding, check_lengths, reverse_time
from rnnkit.nn.recurrent_cell import CellWeights, State
from rnnkit.nn.recurrent_layer import RecurrentLayer

# options of rnnkit's layers that the hand-derived backward does not cover, with their "off"
UNSUPPORTED: dict[str, object] = {
    "layer_norm": False,
    "peephole": False,
    "proj_size": 0,
    "recurrent_dropout": 0.0,
    "zoneout": 0.0,
}
PublicState = Tensor | tuple[Tensor, ...]
Layer = RecurrentLayer | nn.RNNBase  # rnnkit's layers, or torch's with the same parameters


@dataclass
class BPTTResult:
    """What `bptt` returns; tensors are laid out as the layer lays out its own (``batch_first``).

    Attributes:
        output: ``(T, N, D*H)``, as the layer's output (0 at padded positions).
        final_state: ``h_n`` or ``(h_n, c_n)``, each ``(D*num_layers, N, H)``.
        grads: ∂L/∂θ for every parameter, keyed and shaped as ``layer.named_parameters()``,
            after clipping.
        grad_input: ``(T, N, H_in)``, ∂L/∂x (0 at padded positions).
        grad_hx: ∂L/∂hx, shaped like ``final_state`` (also when ``hx`` was not given: the
            gradient with respect to the zero initial state).
        grad_hidden: one ``(T, N, D*H)`` tensor per layer: ∂L/∂h_t, the total gradient that
            reaches the layer's output at each step (from the loss, the layers above and the
            recurrence; with truncation, the sum of what each loss term sends there). 0 at
            padded positions.
        grad_norm: the 2-norm of all parameter gradients together, before clipping.
    """

    output: Tensor
    final_state: PublicState
    grads: dict[str, Tensor]
    grad_input: Tensor
    grad_hx: PublicState
    grad_hidden: list[Tensor]
    grad_norm: float


def bptt(
    layer: Layer,
    x: Tensor,
    grad_output: Tensor | None = None,
    *,
    hx: PublicState | None = None,
    lengths: Tensor | list[int] | None = None,
    grad_final_state: PublicState | None = None,
    truncate: int | None = None,
    clip_norm: float | None = None,
    clip_value: float | None = None,
) -> BPTTResult:
    """Gradients of ``layer`` over the batch ``x`` by hand-derived BPTT (see the module doc).

    Args:
        layer: a plain `rnnkit.RNN` (tanh or relu), `rnnkit.LSTM` or `rnnkit.GRU`, any number
            of layers, either direction (the `torch.nn` layers work too). Layer norm, peepholes,
            projection, zoneout, recurrent dropout, and dropout between layers in training
            mode are a ValueError.
        x: ``(T, N, H_in)``, ``(N, T, H_in)`` if ``layer.batch_first``.
        grad_output: ∂L/∂output, shaped like the output; None for zeros.
        hx: the initial state as the layer takes it; None for zeros.
        lengths: ``(N,)`` true lengths of a padded batch.
        grad_final_state: ∂L/∂(final state), shaped like it; None for zeros.
        truncate: ``k >= 1`` for truncated BPTT, None for full BPTT.
        clip_norm, clip_value: clip the parameter gradients (module doc).
    """
    cell = cell_backprop(layer_kind(layer))  # checks the layer first
    _check_positive(truncate=truncate, clip_norm=clip_norm, clip_value=clip_value)
    with torch.no_grad():
        xt = _time_major(layer, x)
        steps, batch = xt.shape[:2]
        padding = Padding.of(check_lengths(lengths, batch, steps), steps, xt.device)
        parts = 2 if isinstance(layer, LSTM | nn.LSTM) else 1
        shape = (layer.num_layers * _directions(layer), batch, layer.hidden_size)
        state = _state_arg(hx, parts, shape, xt, "hx")
        tapes, output, final = _forward(layer, cell, xt, state, padding)
        grad_out = xt.new_zeros(output.shape) if grad_output is None else grad_output
        grad_out = _time_major(layer, grad_out, output.shape[-1])
        grad_final = _state_arg(grad_final_state, parts, shape, xt, "grad_final_state")
        window = None if truncate is None else min(int(truncate), _longest_path(layer, steps))
        grads, grad_input, grad_hx, hidden = _backward(
            layer, cell, tapes, grad_out, grad_final, padding, window
        )
        norm = clip_gradients(grads, clip_norm, clip_value)
    return BPTTResult(
        output=_layout(layer, output),
        final_state=final if parts == 2 else final[0],
        grads=grads,
        grad_input=_layout(layer, grad_input),
        grad_hx=grad_hx if parts == 2 else grad_hx[0],
        grad_hidden=[_layout(layer, h) for h in hidden],
        grad_norm=norm,
    )


def backward_into(layer: Layer, result: BPTTResult) -> None:
    """Add ``result.grads`` to the layer's ``param.grad``, as ``loss.backward()`` would."""
    params = dict(layer.named_parameters())
    for name, grad in result.grads.items():
        param = params[name]
        param.grad = grad.clone() if param.grad is None else param.grad + grad


def layer_kind(layer: nn.Module) -> str:
    """``'rnn_tanh'``, ``'rnn_relu'``, ``'lstm'`` or ``'gru'``; ValueError for other layers and
    for options the hand-derived backward does not cover."""
    used = [
        f"{name}={getattr(layer, name)!r}"
        for name, off in UNSUPPORTED.items()
        if getattr(layer, name, off) != off
    ]
    if used:
        raise ValueError(f"bptt supports plain layers only; unsupported: {', '.join(used)}")
    if isinstance(layer, LSTM | nn.LSTM):
        kind = "lstm"
    elif isinstance(layer, GRU | nn.GRU):
        kind = "gru"
    elif isinstance(layer, RNN | nn.RNN):
        kind = f"rnn_{layer.nonlinearity}"
    else:
        raise ValueError(f"bptt supports RNN, LSTM and GRU layers, not {type(layer).__name__}")
    if layer.training and layer.dropout and layer.num_layers > 1:
        raise ValueError(
            f"bptt does not support dropout={layer.dropout!r} between layers in training mode; "
            "call layer.eval()"
        )
    return kind


def clip_gradients(
    grads: dict[str, Tensor], clip_norm: float | None, clip_value: float | None
) -> float:
    """Clip ``grads`` in place by total norm, then by value; returns the norm before."""
    norms = [torch.linalg.vector_norm(grad) for grad in grads.values()]
    total = torch.linalg.vector_norm(torch.stack(norms)) if norms else torch.tensor(0.0)
    if clip_norm is not None:
        scale = (clip_norm / (total + 1e-6)).clamp(max=1.0)  # as clip_grad_norm_
        for grad in grads.values():
            grad.mul_(scale)
    if clip_value is not None:
        for grad in grads.values():
            grad.clamp_(-clip_value, clip_value)
    return float(total)


# --- the whole layer -------------------------------------------------------------------------
def _forward(
    layer: Layer, cell: CellBackprop, x: Tensor, state: State, padding: Padding | None
) -> tuple[list[DirectionTape], Tensor, State]:
    """All layers and directions forward, as `rnnkit.nn.layers` runs them, keeping the tapes.

    Returns the tapes (index ``layer * D + direction``), the output ``(T, N, D*H)`` and the
    final state, ``(D*num_layers, N, H)`` each.
    """
    mask = None if padding is None else padding.mask
    index = None if padding is None else padding.reverse_index
    if mask is not None:
        x = x.masked_fill(~mask, 0.0)  # padding may hold anything
    tapes, finals = [], []
    for layer_index in range(layer.num_layers):
        outputs = []
        for direction in range(_directions(layer)):
            k = layer_index * _directions(layer) + direction
            w = _weights(layer, layer_index, direction)
            x_in = x if direction == 0 else reverse_time(x, index)
            recorded, final = forward_direction(cell, w, x_in, tuple(s[k] for s in state), mask)
            tapes.append(recorded)
            finals.append(final)
            outputs.append(
                recorded.output if direction == 0 else reverse_time(recorded.output, index)
            )
        x = torch.cat(outputs, dim=-1)  # (T, N, D*H), the next layer's input
    if mask is not None:
        x = x.masked_fill(~mask, 0.0)
    return tapes, x, tuple(torch.stack(parts) for parts in zip(*finals, strict=True))


class LayerGrads(NamedTuple):
    """The backward pass of one layer, both directions."""

    grads: dict[str, Tensor]  # by parameter name
    band: Tensor  # (T, B, N, F)  ∂L/∂(this layer's input), by band row
    hidden: Tensor  # (T, N, D*H)  ∂L/∂h_t
    initial: list[State]  # ∂L/∂(initial state), one per direction


def _backward(
    layer: Layer,
    cell: CellBackprop,
    tapes: list[DirectionTape],
    grad_out: Tensor,
    grad_final: State,
    padding: Padding | None,
    window: int | None,
) -> tuple[dict[str, Tensor], Tensor, State, list[Tensor]]:
    """All layers backward, top layer first; ``grad_out`` ``(T, N, D*H)`` is ∂L/∂output.

    Returns the parameter gradients by name, ∂L/∂x ``(T, N, H_in)``, ∂L/∂(initial state) and
    ∂L/∂h_t per layer.
    """
    steps, batch = grad_out.shape[:2]
    if padding is None:
        last = torch.full((batch, 1), steps - 1, device=grad_out.device)
    else:
        grad_out = grad_out.masked_fill(~padding.mask, 0.0)  # padded outputs are constant 0
        last = (padding.lengths.view(-1, 1) - 1).to(grad_out.device)
    band = grad_out.new_zeros(steps, window or 1, *grad_out.shape[1:])  # (T, B, N, D*H)
    band[:, 0] = grad_out  # the loss terms at t have crossed no transition yet
    grads: dict[str, Tensor] = {}
    hidden: list[Tensor] = []
    initial: list[State] = []
    for layer_index in reversed(range(layer.num_layers)):
        result = _backward_layer(
            layer, layer_index, cell, tapes, band, grad_final, last, padding, window
        )
        grads |= result.grads
        band = result.band
        hidden.insert(0, result.hidden)
        initial = result.initial + initial
    grad_hx = tuple(torch.stack(parts) for parts in zip(*initial, strict=True))
    return grads, band.sum(1), grad_hx, hidden


def _backward_layer(
    layer: Layer,
    layer_index: int,
    cell: CellBackprop,
    tapes: list[DirectionTape],
    band: Tensor,
    grad_final: State,
    last: Tensor,
    padding: Padding | None,
    window: int | None,
) -> LayerGrads:
    """One layer backward, from ``band`` ``(T, B, N, D*H)``, ∂L/∂output by band row.

    The gradient sent to the layer below keeps its rows: a term that has crossed ``b``
    transitions above has crossed ``b`` when it arrives below.
    """
    mask = None if padding is None else padding.mask
    index = None if padding is None else padding.reverse_index
    grads: dict[str, Tensor] = {}
    below, hidden, initial = [], [], []
    width, directions = layer.hidden_size, _directions(layer)
    for direction in range(directions):
        k = layer_index * directions + direction
        w = _weights(layer, layer_index, direction)
        g = band[..., direction * width : (direction + 1) * width]  # (T, B, N, H)
        g = g if direction == 0 else _reverse_band(g, index)  # in this direction's time order
        final = tuple(s[k] for s in grad_final)
        result = backward_direction(cell, w, tapes[k], g, final, last, mask, window)
        suffix = f"_l{layer_index}" + ("_reverse" if direction else "")
        grads |= {name + suffix: grad for name, grad in result.params.items()}
        g_x = result.d_x_proj @ w.weight_ih  # (T, B, N, F)  ∂L/∂x = ∂L/∂x_proj W_ih
        below.append(g_x if direction == 0 else _reverse_band(g_x, index))
        hidden.append(result.hidden if direction == 0 else reverse_time(result.hidden, index))
        initial.append(result.initial)
    return LayerGrads(grads, sum(below[1:], below[0]), torch.cat(hidden, dim=-1), initial)


def _reverse_band(x: Tensor, index: Tensor | None) -> Tensor:
    """`reverse_time` for ``(T, B, N, F)``: each sequence reversed within its length."""
    if index is None:
        return x.flip(0)
    return x.gather(0, index[:, None, :, None].expand_as(x))


# --- arguments -------------------------------------------------------------------------------
def _check_positive(**values: float | None) -> None:
    for name, value in values.items():
        if value is not None and not value > 0:
            raise ValueError(f"{name} must be positive, got {value!r}")


def _longest_path(layer: Layer, steps: int) -> int:
    """The most transitions a gradient path can cross: ``T``, or ``num_layers * T`` when a
    lower layer's backward direction can take it back up the time axis."""
    return steps * layer.num_layers if layer.bidirectional else steps


def _directions(layer: Layer) -> int:
    return 2 if layer.bidirectional else 1


def _weights(layer: Layer, layer_index: int, direction: int) -> CellWeights:
    """One layer-direction's parameters, read by torch's names (so torch.nn layers work too)."""
    suffix = f"_l{layer_index}" + ("_reverse" if direction else "")
    weight_ih, weight_hh = (
        getattr(layer, "weight_ih" + suffix),
        getattr(layer, "weight_hh" + suffix),
    )
    bias_ih, bias_hh = (
        getattr(layer, "bias_ih" + suffix, None),
        getattr(layer, "bias_hh" + suffix, None),
    )
    return CellWeights(weight_ih, weight_hh, bias_ih, bias_hh)


def _time_major(layer: Layer, x: Tensor, features: int | None = None) -> Tensor:
    """``x`` as ``(T, N, F)``, checking it is a batch of ``features`` (default: input size)."""
    features = layer.input_size if features is None else features
    if x.dim() != 3 or x.shape[-1] != features:
        layout = "(N, T, {})" if layer.batch_first else "(T, N, {})"
        raise ValueError(
            f"expected a tensor of shape {layout.format(features)}, got {tuple(x.shape)}"
        )
    return x.transpose(0, 1) if layer.batch_first else x


def _layout(layer: Layer, x: Tensor) -> Tensor:
    """A time-major ``(T, N, F)`` result in the layer's layout."""
    return x.transpose(0, 1) if layer.batch_first else x


def _state_arg(
    value: PublicState | None, parts: int, shape: tuple[int, ...], like: Tensor, name: str
) -> State:
    """``value`` (a state as the layer takes it, or None for zeros) as a tuple of tensors."""
    if value is None:
        return tuple(like.new_zeros(shape) for _ in range(parts))
    state = (value,) if isinstance(value, Tensor) else tuple(value)
    if len(state) != parts or any(tuple(s.shape) != shape for s in state):
        raise ValueError(f"expected {name} as {parts} tensor(s) of shape {shape}")
    return state
