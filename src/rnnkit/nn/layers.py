"""Recurrent layers: drop-in replacements for `torch.nn.RNN` / `LSTM` / `GRU`, and the layers
torch lacks (`MinGRU`, `MinLSTM`, `JordanRNN`).

Each takes every argument of its torch counterpart, with the same defaults, returns the same
shapes and has the same ``state_dict`` (keys, shapes, layout), so weights load both ways. The
extra options are keyword-only. Configurations torch implements run torch's own kernel; the
others run the cell's time loop (see `rnnkit.nn.recurrent_layer`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rnnkit.nn.cells import GRUCell, JordanCell, LSTMCell, MinGRUCell, MinLSTMCell, RNNCell
from rnnkit.nn.compiled_loop import compiled_gru_loop, compiled_lstm_loop, runs_compiled
from rnnkit.nn.padding import Padding
from rnnkit.nn.recurrent_cell import CellWeights, Device, Shapes, State, activation
from rnnkit.nn.recurrent_layer import RecurrentLayer
from rnnkit.nn.scan import min_gru_coefficients, min_lstm_coefficients, parallel_scan
from rnnkit.nn.time_loop import BoundLoop


def _refuse_projection(proj_size: int) -> None:
    """torch's ValueError for a projection outside LSTM; ``proj_size`` stays 0 (the attribute
    torch's GRU and RNN have too)."""
    if proj_size != 0:
        raise ValueError(
            f"proj_size argument is only supported for LSTM, not RNN or GRU (got {proj_size!r})"
        )


class LSTM(RecurrentLayer):
    r"""A multi-layer LSTM over whole sequences; `torch.nn.LSTM` plus the options torch lacks.

    Every layer runs `rnnkit.LSTMCell` (its docstring has the equations) through time; layer
    ``k > 0`` reads the outputs of layer ``k - 1``, with dropout between them in training.

    Args:
        input_size: ``H_in``, features per step.
        hidden_size: ``H``, features of the cell state.
        num_layers: stacked layers. Default 1.
        bias: learn ``b_ih`` and ``b_hh``. Default True.
        batch_first: input and output are ``(N, L, *)`` instead of ``(L, N, *)``.
        dropout: dropout on each layer's output except the last, in training. Default 0.
        bidirectional: a second direction reads each sequence backward from its last real
            token; the outputs are concatenated. Default False.
        proj_size: ``P > 0`` projects ``h`` to ``P`` features (Sak et al. 2014). Default 0.
        device, dtype: where and of what type the parameters are made.
        layer_norm: layer normalisation inside the cell (Ba et al. 2016).
        peephole: peephole connections from the cell state (Gers & Schmidhuber 2000).
        recurrent_dropout: variational dropout on ``h_{t-1}`` (Gal & Ghahramani 2016): one mask
            per sequence and layer, reused at every step.
        zoneout: probability that a state unit keeps its previous value (Krueger et al. 2017).
        weight_drop: DropConnect on the hidden-to-hidden weights ``weight_hh`` in training, one
            mask per forward pass shared by every step (Merity et al. 2017, AWD-LSTM); torch's
            kernel still runs, and the state dict keeps torch's keys.
        locked_dropout: the dropout between layers uses one mask per sequence for all its
            steps, ``x_t ⊙ m / (1 - p)`` with ``m ~ Bernoulli(1 - p)`` of shape
            ``(N, D * H_out)`` and ``p = dropout`` (variational, as AWD-LSTM, Merity et al.
            2018), instead of a fresh mask at every step; torch's kernel still runs, one layer
            at a time (`rnnkit.nn.locked_dropout`). Default False.
        forget_bias: initial total bias of the forget gate (e.g. 1.0); an initialisation only,
            the state dict stays torch's.
        backend: ``"auto"`` runs torch's kernel when the configuration allows, else the time
            loop; ``"native"`` insists on torch's kernel (ValueError if it cannot run this
            configuration); ``"loop"`` always runs the time loop.

    Inputs: ``input, (h_0, c_0), lengths``
        * input: ``(L, N, H_in)``, ``(N, L, H_in)`` if ``batch_first``, ``(L, H_in)``
          unbatched, or a `PackedSequence`.
        * h_0: ``(D * num_layers, N, H_out)`` and c_0: ``(D * num_layers, N, H)``; zeros if
          omitted. ``D = 2`` if bidirectional else 1, ``H_out = P`` if ``proj_size`` else ``H``.
        * lengths: ``(N,)`` true lengths of padded sequences, in ``[1, L]``. Padding never
          affects a real output, the final state or a gradient, whatever it holds.

    Outputs: ``output, (h_n, c_n)``
        * output: ``(L, N, D * H_out)`` (batch first if ``batch_first``), exactly 0 at padded
          positions; a `PackedSequence` if the input was one.
        * h_n, c_n: the state after each sequence's last real step, shaped like h_0, c_0.

    Parameters (``k`` the layer, ``_reverse`` for the backward direction), as torch's:
    ``weight_ih_l{k} (4H, H_in or D*H_out)``, ``weight_hh_l{k} (4H, H_out)``,
    ``bias_ih_l{k} (4H,)``, ``bias_hh_l{k} (4H,)``, ``weight_hr_l{k} (P, H)``; with the options,
    ``weight_ch_l{k} (3H,)``, ``weight_ln_ih_l{k} (4H,)``, ``weight_ln_hh_l{k} (4H,)``,
    ``weight_ln_c_l{k} (H,)``, ``bias_ln_c_l{k} (H,)``.

    Example::

        >>> lstm = LSTM(10, 20, num_layers=2, batch_first=True, layer_norm=True)
        >>> out, (h, c) = lstm(torch.randn(3, 7, 10), lengths=torch.tensor([7, 5, 2]))
        >>> out.shape, h.shape
        (torch.Size([3, 7, 20]), torch.Size([2, 3, 20]))
    """

    cell = LSTMCell

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Device = None,
        dtype: torch.dtype | None = None,
        *,
        layer_norm: bool = False,
        peephole: bool = False,
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
        weight_drop: float = 0.0,
        locked_dropout: bool = False,
        forget_bias: float | None = None,
        backend: str = "auto",
    ) -> None:
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
            recurrent_dropout=recurrent_dropout, zoneout=zoneout,
            weight_drop=weight_drop, locked_dropout=locked_dropout, backend=backend,
            forget_bias=forget_bias,
        )  # fmt: skip
        self.proj_size, self.layer_norm, self.peephole = proj_size, layer_norm, peephole
        self._build(device, dtype)

    def _cell_shapes(self, input_size: int) -> Shapes:
        return LSTMCell.shapes(
            input_size,
            self.hidden_size,
            self.bias,
            peephole=self.peephole,
            layer_norm=self.layer_norm,
            proj_size=self.proj_size,
        )

    def _state_sizes(self) -> tuple[int, ...]:
        return (self.proj_size or self.hidden_size, self.hidden_size)

    def _native_mode(self) -> str:
        return "LSTM"

    def _options_torch_lacks(self, training: bool) -> dict[str, Any]:
        options = {"layer_norm": self.layer_norm, "peephole": self.peephole}
        return {k: v for k, v in options.items() if v} | super()._options_torch_lacks(training)

    def _public_state(self, state: State) -> tuple[Tensor, ...]:
        return state

    def _compiled_loop(self, w: CellWeights, x: Tensor) -> BoundLoop | None:
        return compiled_lstm_loop if runs_compiled(w, x) else None


class GRU(RecurrentLayer):
    r"""A multi-layer GRU; `torch.nn.GRU` plus ``layer_norm``, ``recurrent_dropout``,
    ``zoneout``, ``weight_drop``, ``locked_dropout`` and ``backend``, as described in `LSTM`.
    ``proj_size`` is there for torch's sake: anything but 0 is a ValueError, as in torch.

    Runs `rnnkit.GRUCell` (equations there; torch's variant of Cho et al. 2014). Inputs
    ``input, h_0, lengths``; outputs ``output (L, N, D * H)``, ``h_n (D * num_layers, N, H)``.
    Parameters ``weight_ih_l{k} (3H, H_in)``, ``weight_hh_l{k} (3H, H)``, ``bias_ih_l{k}``,
    ``bias_hh_l{k} (3H,)`` (gate order r, z, n), plus ``weight_ln_ih_l{k}``,
    ``weight_ln_hh_l{k} (3H,)`` with ``layer_norm``.
    """

    cell = GRUCell

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Device = None,
        dtype: torch.dtype | None = None,
        *,
        proj_size: int = 0,
        layer_norm: bool = False,
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
        weight_drop: float = 0.0,
        locked_dropout: bool = False,
        backend: str = "auto",
    ) -> None:
        _refuse_projection(proj_size)
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
            recurrent_dropout=recurrent_dropout, zoneout=zoneout,
            weight_drop=weight_drop, locked_dropout=locked_dropout, backend=backend,
        )  # fmt: skip
        self.layer_norm = layer_norm
        self._build(device, dtype)

    def _cell_shapes(self, input_size: int) -> Shapes:
        return GRUCell.shapes(input_size, self.hidden_size, self.bias, layer_norm=self.layer_norm)

    def _native_mode(self) -> str:
        return "GRU"

    def _compiled_loop(self, w: CellWeights, x: Tensor) -> BoundLoop | None:
        return compiled_gru_loop if runs_compiled(w, x) else None

    def _options_torch_lacks(self, training: bool) -> dict[str, Any]:
        return ({"layer_norm": True} if self.layer_norm else {}) | super()._options_torch_lacks(
            training
        )


class RNN(RecurrentLayer):
    r"""A multi-layer Elman RNN; `torch.nn.RNN` plus ``layer_norm``, ``recurrent_dropout``,
    ``zoneout``, ``weight_drop``, ``locked_dropout`` and ``backend``, as described in `LSTM`.
    ``proj_size`` other than 0 is a ValueError, as in torch.

    Runs `rnnkit.RNNCell`, ``h_t = φ(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` with
    ``nonlinearity`` φ ``'tanh'`` or ``'relu'``. Inputs ``input, h_0, lengths``; outputs
    ``output (L, N, D * H)``, ``h_n (D * num_layers, N, H)``. Parameters as torch's:
    ``weight_ih_l{k} (H, H_in)``, ``weight_hh_l{k} (H, H)``, ``bias_ih_l{k}``,
    ``bias_hh_l{k} (H,)``.
    """

    cell = RNNCell

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Device = None,
        dtype: torch.dtype | None = None,
        *,
        proj_size: int = 0,
        layer_norm: bool = False,
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
        weight_drop: float = 0.0,
        locked_dropout: bool = False,
        backend: str = "auto",
    ) -> None:
        _refuse_projection(proj_size)
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
            recurrent_dropout=recurrent_dropout, zoneout=zoneout,
            weight_drop=weight_drop, locked_dropout=locked_dropout, backend=backend,
        )  # fmt: skip
        self.nonlinearity, self.activation = nonlinearity, activation(nonlinearity)
        self.layer_norm = layer_norm
        self._build(device, dtype)

    def _cell_shapes(self, input_size: int) -> Shapes:
        return RNNCell.shapes(input_size, self.hidden_size, self.bias, layer_norm=self.layer_norm)

    def _step(self, w: CellWeights, x_proj: Tensor, state: State) -> State:
        return RNNCell.step(w, x_proj, state, self.activation)

    def _native_mode(self) -> str:
        return "RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU"

    def _options_torch_lacks(self, training: bool) -> dict[str, Any]:
        return ({"layer_norm": True} if self.layer_norm else {}) | super()._options_torch_lacks(
            training
        )


class JordanRNN(RecurrentLayer):
    r"""A multi-layer Jordan network (Jordan 1986): each layer feeds its previous *output* back.

    Runs `rnnkit.JordanCell`: ``h_t = φ(x_t W_ih^T + b_ih + y_{t-1} W_yh^T)``,
    ``y_t = h_t W_hy^T + b_hy``. Layer ``k > 0`` reads the ``y`` of layer ``k - 1``.

    Args: as `LSTM`, plus ``output_size`` (``O``, default ``hidden_size``) and
    ``nonlinearity`` (``'tanh'`` or ``'relu'``). torch has no kernel for it: it always runs
    the time loop (``backend="native"`` is a ValueError).

    Inputs ``input, y_0, lengths`` with ``y_0 (D * num_layers, N, O)``; outputs
    ``output (L, N, D * O)``, ``y_n (D * num_layers, N, O)``. Parameters ``weight_ih_l{k}
    (H, H_in)``, ``bias_ih_l{k} (H,)``, ``weight_yh_l{k} (H, O)``, ``weight_hy_l{k} (O, H)``,
    ``bias_hy_l{k} (O,)``.
    """

    cell = JordanCell

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int | None = None,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Device = None,
        dtype: torch.dtype | None = None,
        *,
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
        locked_dropout: bool = False,
        backend: str = "auto",
    ) -> None:
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
            recurrent_dropout=recurrent_dropout, zoneout=zoneout,
            locked_dropout=locked_dropout, backend=backend,
        )  # fmt: skip
        self.output_size = hidden_size if output_size is None else output_size
        self.nonlinearity, self.activation = nonlinearity, activation(nonlinearity)
        self._build(device, dtype)

    def _cell_shapes(self, input_size: int) -> Shapes:
        return JordanCell.shapes(input_size, self.hidden_size, self.output_size, self.bias)

    def _state_sizes(self) -> tuple[int, ...]:
        return (self.output_size,)

    def _step(self, w: CellWeights, x_proj: Tensor, state: State) -> State:
        return JordanCell.step(w, x_proj, state, self.activation)


class _ScanLayer(RecurrentLayer):
    """A layer of a minimal cell: whole sequences by the parallel scan, or the step loop."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Device = None,
        dtype: torch.dtype | None = None,
        *,
        locked_dropout: bool = False,
        backend: str = "auto",
        forget_bias: float | None = None,
    ) -> None:
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
            locked_dropout=locked_dropout, backend=backend, forget_bias=forget_bias,
        )  # fmt: skip
        self._build(device, dtype)

    def _forward_direction(
        self, w: CellWeights, x: Tensor, state: State, padding: Padding | None
    ) -> tuple[Tensor, State]:
        if self.backend == "loop" or torch.jit.is_tracing():  # the scan's chunks depend on T
            return super()._forward_direction(w, x, state, padding)
        log_a, log_b = self._coefficients(self.cell.project_input(w, x))
        h = parallel_scan(log_a, log_b, state[0])  # (T, N, H)
        if padding is None:
            return h, (h[-1],)
        last = (padding.lengths - 1).to(h.device).view(1, -1, 1).expand(1, *h.shape[1:])
        return h, (h.gather(0, last).squeeze(0),)

    def _coefficients(self, x_proj: Tensor) -> tuple[Tensor, Tensor]:
        """``(log a, log b)`` of ``h_t = a_t ⊙ h_{t-1} + b_t`` from the input projection."""
        raise NotImplementedError


class MinGRU(_ScanLayer):
    r"""A multi-layer minGRU (Feng et al. 2024), trained over whole sequences by a parallel scan.

    Runs `rnnkit.MinGRUCell` (equations there). With ``backend="auto"`` each layer computes
    the whole sequence with the parallel scan of `rnnkit.nn.scan` (log-space on a GPU, chunked on
    a CPU); ``backend="loop"`` steps the cell through time (the same numbers; the form for
    streaming one step at a time).

    Args: ``input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
    device, dtype, locked_dropout`` as `LSTM`. Inputs ``input, h_0, lengths``; outputs
    ``output (L, N, D * H)``, ``h_n (D * num_layers, N, H)``. Parameters
    ``weight_ih_l{k} (2H, H_in)``, ``bias_ih_l{k} (2H,)`` (order z, h̃).
    """

    cell = MinGRUCell

    def _cell_shapes(self, input_size: int) -> Shapes:
        return MinGRUCell.shapes(input_size, self.hidden_size, self.bias)

    def _coefficients(self, x_proj: Tensor) -> tuple[Tensor, Tensor]:
        return min_gru_coefficients(x_proj)


class MinLSTM(_ScanLayer):
    r"""A multi-layer minLSTM (Feng et al. 2024); as `MinGRU`, running `rnnkit.MinLSTMCell`.

    Parameters ``weight_ih_l{k} (3H, H_in)``, ``bias_ih_l{k} (3H,)`` (order f, i, h̃);
    ``forget_bias`` sets ``b_f`` at initialisation.
    """

    cell = MinLSTMCell

    def _cell_shapes(self, input_size: int) -> Shapes:
        return MinLSTMCell.shapes(input_size, self.hidden_size, self.bias)

    def _coefficients(self, x_proj: Tensor) -> tuple[Tensor, Tensor]:
        return min_lstm_coefficients(x_proj)
