"""`RecurrentLayer`: what every layer shares — stacking, directions, padding, state, dispatch.

A layer holds its parameters flat, under torch's names (``weight_ih_l0``,
``weight_hh_l0_reverse``, ...), and runs one of two paths over the same tensors:

* **native** — torch's own kernel (`rnnkit.nn.native`), for the configurations torch implements;
  a batch of different lengths stays padded where the kernel is fused and the padding not
  excessive (`rnnkit.nn.native_padding`), and is packed otherwise;
* **loop** — the cell's ``project_input`` for all steps at once, then its ``step`` through time
  (`rnnkit.nn.time_loop`), for everything else, or when ``backend="loop"``.

Inside, sequences are time-major ``(T, N, F)`` with optional lengths (`rnnkit.nn.padding`).
A subclass names its ``cell`` class and says which parameter shapes a layer needs and, where
torch has one, which native kernel runs it.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.nn.errors import ShapeError
from rnnkit.nn.layer_arguments import (
    check_backend,
    check_bool,
    check_dropout,
    check_layer_arguments,
)
from rnnkit.nn.locked_dropout import Stack, locked_dropout, run_by_layer
from rnnkit.nn.native import NativeConfig, autocast_dtypes, run_native, transform_without_rule
from rnnkit.nn.native_padding import run_native_padded, runs_padded
from rnnkit.nn.padding import Padding, check_lengths, pack_like, reverse_time, unpack
from rnnkit.nn.recurrent_cell import (
    CellWeights,
    Device,
    RecurrentCell,
    Shapes,
    State,
    reset_weights,
    set_forget_bias,
)
from rnnkit.nn.time_loop import BoundLoop, time_loop
from rnnkit.nn.traced_loop import traced_time_loop

REPR_DEFAULTS: dict[str, Any] = dict(
    num_layers=1, nonlinearity="tanh", bias=True, batch_first=False, dropout=0.0,
    bidirectional=False, proj_size=0, layer_norm=False, peephole=False, recurrent_dropout=0.0,
    zoneout=0.0, weight_drop=0.0, locked_dropout=False, forget_bias=None, backend="auto",
)  # fmt: skip

Output = tuple[Tensor | PackedSequence, Tensor | tuple[Tensor, ...]]


class RecurrentLayer(nn.Module):
    """Base of the layers in `rnnkit.nn.layers`; see `rnnkit.nn.layers.LSTM` for the arguments."""

    cell: ClassVar[type[RecurrentCell]]
    proj_size: int = 0  # torch's attribute; only `rnnkit.nn.layers.LSTM` sets another

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        bias: bool,
        batch_first: bool,
        dropout: float,
        bidirectional: bool,
        *,
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
        weight_drop: float = 0.0,
        locked_dropout: bool = False,
        backend: str = "auto",
        forget_bias: float | None = None,
    ) -> None:
        super().__init__()
        check_layer_arguments(input_size, hidden_size, num_layers, bias, batch_first)
        check_dropout(dropout, num_layers)
        check_bool("locked_dropout", locked_dropout)
        probabilities = {
            "recurrent_dropout": recurrent_dropout,
            "zoneout": zoneout,
            "weight_drop": weight_drop,
        }
        for name, p in probabilities.items():
            if not (isinstance(p, int | float) and not isinstance(p, bool) and 0 <= p < 1):
                raise ValueError(f"{name} must be a probability in [0, 1), got {p!r}")
        backend = check_backend(backend)
        if forget_bias is not None and self.cell.forget_gate(hidden_size) is None:
            raise ValueError(
                f"{type(self).__name__} has no forget gate; forget_bias does not apply"
            )
        if forget_bias is not None and not bias:
            raise ValueError("forget_bias needs bias=True: it initialises the forget-gate bias")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional = bidirectional
        self.recurrent_dropout, self.zoneout = float(recurrent_dropout), float(zoneout)
        self.weight_drop, self.locked_dropout = float(weight_drop), locked_dropout
        self.backend, self.forget_bias = backend, forget_bias
        # per layer-direction, in torch's order: CellWeights field -> parameter name
        self._parameter_names: list[dict[str, str]] = []

    # --- what a subclass defines ---------------------------------------------------------
    def _cell_shapes(self, input_size: int) -> Shapes:
        """The shapes of one layer-direction's parameters, for an input of ``input_size``."""
        raise NotImplementedError

    def _state_sizes(self) -> tuple[int, ...]:
        """The width of each state part; the first is the output of each direction."""
        return (self.hidden_size,)

    def _step(self, w: CellWeights, x_proj: Tensor, state: State) -> State:
        return self.cell.step(w, x_proj, state)

    def _compiled_loop(self, w: CellWeights, x: Tensor) -> BoundLoop | None:
        """A compiled time loop that can run this direction on the input ``x``, if the cell has
        one; it takes ``x`` itself in place of its projection."""
        return None

    def _native_mode(self) -> str | None:
        """The key of `rnnkit.nn.native.KERNELS` that runs this layer, if torch has one."""
        return None

    def _options_torch_lacks(self, training: bool) -> dict[str, Any]:
        """The options in use that torch's kernels lack, by argument name.

        Recurrent dropout is the identity in evaluation, so it blocks the kernel only in
        training."""
        lacking: dict[str, Any] = {"zoneout": self.zoneout}
        if training:
            lacking["recurrent_dropout"] = self.recurrent_dropout
        return {name: value for name, value in lacking.items() if value}

    def _public_state(self, state: State) -> Tensor | tuple[Tensor, ...]:
        """The final state as the matching torch layer returns it."""
        return state[0]

    # --- parameters ----------------------------------------------------------------------
    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def out_features(self) -> int:
        """Features of each output step: ``D * H_out``."""
        return self.num_directions * self._state_sizes()[0]

    def _build(self, device: Device, dtype: torch.dtype | None) -> None:
        """Register every layer-direction's parameters in torch's order; call once, last."""
        for layer in range(self.num_layers):
            shapes = self._cell_shapes(self.input_size if layer == 0 else self.out_features)
            for direction in range(self.num_directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                for name, shape in shapes.items():
                    tensor = torch.empty(shape, device=device, dtype=dtype)
                    self.register_parameter(name + suffix, nn.Parameter(tensor))
                self._parameter_names.append({name: name + suffix for name in shapes})
        self.reset_parameters()
        if self.backend == "native":
            self._explain_no_native(training=True)

    def reset_parameters(self) -> None:
        """torch's initialisation (U(±1/√H)), then ``forget_bias`` where it was given."""
        reset_weights(dict(self.named_parameters()), self.hidden_size)
        gate = self.cell.forget_gate(self.hidden_size)
        if self.forget_bias is not None and gate is not None:
            for k in range(len(self._parameter_names)):
                w = self.cell_weights(*divmod(k, self.num_directions))
                set_forget_bias(w.bias_ih, w.bias_hh, gate, self.forget_bias)

    def cell_weights(
        self, layer: int, direction: int = 0, weights: dict[str, Tensor] | None = None
    ) -> CellWeights:
        """The parameters of one layer and direction, as the cell's math takes them (or their
        stand-ins in ``weights``, by parameter name: those of one pass, `_pass_weights`)."""
        names = self._parameter_names[layer * self.num_directions + direction]
        if weights is None:
            return CellWeights(**{field: getattr(self, name) for field, name in names.items()})
        return CellWeights(**{field: weights[name] for field, name in names.items()})

    def _pass_weights(self) -> dict[str, Tensor]:
        """The weights one forward pass runs with, by parameter name, in torch's order: the
        parameters, and in training with ``weight_drop`` every ``weight_hh`` under DropConnect
        (Wan et al. 2013) — ``W_hh ⊙ M / (1 - p)``, ``M ~ Bernoulli(1 - p)`` drawn once per
        pass and shared by all steps (Merity et al. 2017, AWD-LSTM)."""
        weights = {name: getattr(self, name) for name in self._flat_weights_names}
        if self.training and self.weight_drop:
            for name in weights:
                if name.startswith("weight_hh"):
                    weights[name] = F.dropout(weights[name], self.weight_drop, training=True)
        return weights

    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        """Parameters grouped by layer-direction, as `torch.nn.RNNBase.all_weights`."""
        return [[getattr(self, name) for name in names.values()] for names in self._parameter_names]

    def flatten_parameters(self) -> None:
        """Kept for torch compatibility. rnnkit keeps parameters separate; torch's cuDNN path
        compacts them at each call instead."""

    def initial_state(self, batch_size: int) -> Tensor | tuple[Tensor, ...]:
        """The zero state for ``batch_size`` sequences, shaped as ``hx`` (e.g. ``(h_0, c_0)``)."""
        like = next(self.parameters())
        rows = self.num_layers * self.num_directions
        zeros = tuple(like.new_zeros(rows, batch_size, size) for size in self._state_sizes())
        return self._public_state(zeros)

    # --- dispatch ------------------------------------------------------------------------
    def _explain_no_native(self, training: bool) -> str | None:
        """Why torch's kernel cannot run this layer now (None if it can); raises for 'native'."""
        lacking, reason = self._options_torch_lacks(training), None
        if self._native_mode() is None:
            reason = f"torch has no native {type(self).__name__} kernel"
        elif lacking:
            options = ", ".join(f"{name}={value!r}" for name, value in lacking.items())
            reason = f"torch's native kernel has no {options}"
        elif (transform := transform_without_rule()) is not None:
            reason = f"torch's native kernel cannot run under {transform}"
        if reason and self.backend == "native":
            raise ValueError(
                f"backend='native' cannot run this layer: {reason}; use 'auto' or 'loop'"
            )
        return reason

    def to_torch(self, *, inference: bool = False) -> nn.RNNBase:
        """This layer as ``torch.nn.LSTM`` / ``GRU`` / ``RNN`` with the same parameters (a
        copy), or a ValueError naming what torch's layer lacks (`rnnkit.nn.torch_modules`)."""
        from rnnkit.nn.torch_modules import to_torch

        converted = to_torch(self, inference=inference)
        assert isinstance(converted, nn.RNNBase)
        return converted

    def uses_native(self) -> bool:
        """Whether the next forward pass runs torch's own kernel."""
        return self.backend != "loop" and self._explain_no_native(self.training) is None

    def _native_config(self) -> NativeConfig:
        mode = self._native_mode()
        assert mode is not None
        return NativeConfig(
            mode,
            self.bias,
            self.num_layers,
            self.dropout,
            self.bidirectional,
            self.proj_size,
        )

    @property
    def mode(self) -> str:
        """torch's name of the recurrence: ``'LSTM'``, ``'GRU'``, ``'RNN_TANH'`` or
        ``'RNN_RELU'``; the class name for the layers torch lacks."""
        return self._native_mode() or type(self).__name__

    @property
    def _all_weights(self) -> list[list[str]]:
        """The parameter names of each layer-direction, in torch's order (torch's attribute)."""
        return [list(names.values()) for names in self._parameter_names]

    @property
    def _flat_weights_names(self) -> list[str]:
        """Every parameter name, layer-direction by layer-direction (torch's attribute)."""
        return [name for names in self._parameter_names for name in names.values()]

    @property
    def _flat_weights(self) -> list[Tensor]:
        """The parameters named by `_flat_weights_names`, as they are now (torch's attribute,
        which torch refreshes after ``.to()`` and the like; here it is read afresh)."""
        return [getattr(self, name) for name in self._flat_weights_names]

    # --- forward -------------------------------------------------------------------------
    def forward(
        self,
        input: Tensor | PackedSequence,
        hx: Tensor | tuple[Tensor, ...] | None = None,
        lengths: Tensor | list[int] | None = None,
    ) -> Output:
        """Run the layer over a batch of sequences (see the subclass for shapes)."""
        if isinstance(input, PackedSequence):
            if lengths is not None:
                raise ValueError("lengths cannot be given with a PackedSequence, which has its own")
            return self._forward_packed(input, hx)
        x, batched = self._time_major(input)
        self._check_dtype(x)
        if x.shape[0] == 0:
            raise ShapeError(
                f"{type(self).__name__}: expected sequence length to be larger than 0, "
                f"got input of shape {tuple(input.shape)}"
            )
        lengths = check_lengths(lengths, x.shape[1], x.shape[0])
        state = self._initial_state(hx, x, batched, x.shape[1])
        weights = self._pass_weights()
        output, final = self._forward_time_major(x, state, lengths, weights, zero_state=hx is None)
        if self.batch_first and batched:
            output = output.transpose(0, 1)
        if not batched:
            output, final = output.squeeze(1), tuple(s.squeeze(1) for s in final)
        return output, self._public_state(final)

    def _forward_packed(
        self, packed: PackedSequence, hx: Tensor | tuple[Tensor, ...] | None
    ) -> Output:
        self._check_features(packed.data, "a PackedSequence with data of shape (*, {size})")
        self._check_dtype(packed.data)
        steps, batch = len(packed.batch_sizes), int(packed.batch_sizes[0])
        state = self._initial_state(hx, packed.data, True, batch)
        padded_share = 1 - packed.data.shape[0] / (steps * batch)
        weights = self._pass_weights()
        if self.uses_native() and not runs_padded(self._native_config(), packed.data, padded_share):
            output, final = self._run_native(packed, state, weights)
            return output, self._public_state(final)
        # the time loop, or the fused kernel on the padded batch (`_forward_time_major` makes
        # the same cheap choice again)
        x, lengths = unpack(packed)
        out, final = self._forward_time_major(x, state, lengths, weights, zero_state=hx is None)
        return pack_like(out, lengths, packed), self._public_state(final)

    def _forward_time_major(
        self,
        x: Tensor,
        state: State,
        lengths: Tensor | None,
        pass_weights: dict[str, Tensor],
        *,
        zero_state: bool,
    ) -> tuple[Tensor, State]:
        """The output ``(T, N, D * H_out)`` and final state of ``x`` ``(T, N, F)``, on torch's
        kernel or through `_forward_layers`, with ``pass_weights`` (`_pass_weights`);
        ``zero_state`` tells whether ``state`` is zeros."""
        if not self.uses_native():
            return self._as_torch_autocasts(
                x, *self._forward_layers(x, state, lengths, pass_weights)
            )
        if lengths is None:
            output, final = self._run_native(x, state, pass_weights)
            assert isinstance(output, Tensor)
            return output, final
        padded_share = 1 - float(lengths.sum()) / (x.shape[0] * x.shape[1])
        if runs_padded(self._native_config(), x, padded_share):
            padding = Padding.of(lengths, x.shape[0], x.device)
            output, final = self._run_native(x, state, pass_weights, padding, zero_state=zero_state)
            assert isinstance(output, Tensor)
            return output, final
        packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
        output, final = self._run_native(packed, state, pass_weights)
        assert isinstance(output, PackedSequence)
        return pad_packed_sequence(output, total_length=x.shape[0])[0], final

    def _run_native(
        self,
        x: Tensor | PackedSequence,
        state: State,
        pass_weights: dict[str, Tensor],
        padding: Padding | None = None,
        *,
        zero_state: bool = False,
    ) -> Stack:
        """torch's kernel over ``x`` — dense, packed, or padded as ``padding`` says (with the
        padding flag, `run_native_padded`) — all layers in one call; or, with locked dropout
        between layers in training, layer by layer with the mask between (`run_by_layer`)."""

        def run(
            config: NativeConfig, x: Tensor | PackedSequence, state: State, weights: list[Tensor]
        ) -> Stack:
            if padding is None:
                return run_native(config, x, state, weights, self.training)
            assert isinstance(x, Tensor)
            return run_native_padded(
                config, x, padding, state, weights, self.training, zero_state=zero_state
            )

        config, weights = self._native_config(), list(pass_weights.values())
        if self._locks_dropout():
            return run_by_layer(config, run, x, state, weights, self.dropout)
        return run(config, x, state, weights)

    def _locks_dropout(self) -> bool:
        """Whether this pass drops between layers with `locked_dropout`."""
        return self.locked_dropout and self.training and self.dropout > 0 and self.num_layers > 1

    def _as_torch_autocasts(self, x: Tensor, output: Tensor, final: State) -> tuple[Tensor, State]:
        """The loop path's results in the dtypes torch's kernel returns under autocast (e.g. an
        LSTM's bf16 output and state under CPU bf16 autocast); unchanged without autocast or
        for the layers torch lacks."""
        if self._native_mode() is None or not torch.is_autocast_enabled(x.device.type):
            return output, final  # the common case: no config built, nothing probed
        dtypes = autocast_dtypes(self._native_config(), x, next(self.parameters()))
        if dtypes is None:
            return output, final
        final = tuple(part.to(dtype) for part, dtype in zip(final, dtypes[1:], strict=True))
        return output.to(dtypes[0]), final

    def _forward_layers(
        self, x: Tensor, state: State, lengths: Tensor | None, weights: dict[str, Tensor]
    ) -> tuple[Tensor, State]:
        """All layers and directions, each by `_forward_direction` with ``weights`` (by
        parameter name); ``x`` is ``(T, N, F)``."""
        padding = Padding.of(lengths, x.shape[0], x.device)
        if padding is not None:
            x = x.masked_fill(~padding.mask, 0.0)  # padding may hold anything, NaN included
        index = None if padding is None else padding.reverse_index
        finals: list[State] = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                k = layer * self.num_directions + direction
                w = self.cell_weights(layer, direction, weights)
                start = tuple(s[k] for s in state)
                x_in = x if direction == 0 else reverse_time(x, index)
                out, final = self._forward_direction(w, x_in, start, padding)
                outputs.append(out if direction == 0 else reverse_time(out, index))
                finals.append(final)
            x = torch.cat(outputs, dim=-1) if len(outputs) > 1 else outputs[0]
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = (
                    locked_dropout(x, self.dropout)
                    if self.locked_dropout
                    else F.dropout(x, self.dropout, training=True)
                )
        if padding is not None:
            x = x.masked_fill(~padding.mask, 0.0)
        return x, tuple(torch.stack(parts) for parts in zip(*finals, strict=True))

    def _forward_direction(
        self, w: CellWeights, x: Tensor, state: State, padding: Padding | None
    ) -> tuple[Tensor, State]:
        """One direction of one layer over ``x`` ``(T, N, F)``, padding at the end, through the
        cell's time loop: as TorchScript while a trace records it (`rnnkit.nn.traced_loop`),
        compiled where the cell has a compiled loop (`rnnkit.nn.compiled_loop`), else in
        Python."""
        compiled = None if torch.jit.is_tracing() else self._compiled_loop(w, x)
        loop: BoundLoop
        if compiled is not None:  # it projects the input itself
            loop, x_in = compiled, x
        else:
            step_loop = traced_time_loop if torch.jit.is_tracing() else time_loop
            loop, x_in = functools.partial(step_loop, self._step), self.cell.project_input(w, x)
        return loop(
            w,
            x_in,
            state,
            mask=None if padding is None else padding.mask,
            recurrent_dropout=self.recurrent_dropout,
            zoneout_p=self.zoneout,
            training=self.training,
        )

    # --- input checks --------------------------------------------------------------------
    def _check_features(self, x: Tensor, expected: str, rank_ok: bool = True) -> None:
        if not rank_ok or x.shape[-1] != self.input_size or not x.is_floating_point():
            shown = expected.format(size=self.input_size)
            raise ShapeError(
                f"{type(self).__name__}: expected {shown} (floating point), "
                f"got shape {tuple(x.shape)} of dtype {x.dtype}"
            )

    def _check_dtype(self, x: Tensor) -> None:
        """torch's check: the input's dtype is the weights' unless autocast is on."""
        weight = next(self.parameters())
        if x.dtype != weight.dtype and not torch.is_autocast_enabled(x.device.type):
            raise ShapeError(
                f"{type(self).__name__}: input dtype ({x.dtype}) does not match weight dtype "
                f"({weight.dtype}); convert the input with input.to({weight.dtype}) or the "
                f"module with .to({x.dtype})"
            )

    def _time_major(self, input: Tensor) -> tuple[Tensor, bool]:
        """``(T, N, F)`` from ``input`` and whether it was batched."""
        layout = "(N, L, {size})" if self.batch_first else "(L, N, {size})"
        self._check_features(
            input, f"input of shape {layout} or (L, {{size}})", input.dim() in (2, 3)
        )
        batched = input.dim() == 3
        if not batched:
            return input.unsqueeze(1), False
        return (input.transpose(0, 1) if self.batch_first else input), True

    def _initial_state(
        self, hx: Tensor | tuple[Tensor, ...] | None, like: Tensor, batched: bool, batch: int
    ) -> State:
        """The initial state as ``(D * num_layers, N, size)`` tensors, zeros if not given."""
        rows, sizes = self.num_layers * self.num_directions, self._state_sizes()
        if hx is None:
            return tuple(like.new_zeros(rows, batch, size) for size in sizes)
        parts = (hx,) if isinstance(hx, Tensor) else tuple(hx)
        if len(parts) != len(sizes):
            raise ShapeError(
                f"{type(self).__name__}: expected hx as {len(sizes)} tensor(s), got {len(parts)}"
            )
        for i, (part, size) in enumerate(zip(parts, sizes, strict=True)):
            expected = (rows, batch, size) if batched else (rows, size)
            if tuple(part.shape) != expected:
                name = "hx" if len(sizes) == 1 else f"hx[{i}]"
                raise ShapeError(
                    f"{type(self).__name__}: expected {name} of shape {expected}, "
                    f"got {tuple(part.shape)}"
                )
        return parts if batched else tuple(p.unsqueeze(1) for p in parts)

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if getattr(self, "output_size", self.hidden_size) != self.hidden_size:
            text += f", output_size={self.output_size}"
        for name, default in REPR_DEFAULTS.items():
            value = getattr(self, name, default)
            if value != default:
                text += f", {name}={value!r}"
        return text
