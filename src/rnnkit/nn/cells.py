"""Recurrent cells, one class per cell, each written out from its equations.

``forward(input, hx)`` returns what the matching torch cell returns (`LSTMCell` -> ``(h, c)``,
the others -> ``h``); parameter names, shapes, gate order and initialisation equal torch's, so
``cell.load_state_dict(torch_cell.state_dict())`` works both ways. The static ``shapes``,
``project_input`` and ``step`` are the math the layers in `rnnkit.nn.layers` run too.

Shapes: ``N`` batch, ``I`` input size, ``H`` hidden size, ``P`` projection size, ``O`` output
size. σ is the logistic sigmoid, ⊙ the elementwise product.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.nn.recurrent_cell import (
    CellWeights,
    Device,
    RecurrentCell,
    Shapes,
    State,
    activation,
    add_recurrent_term,
    gate_shapes,
    input_projection,
    layer_norm_shapes,
)
from rnnkit.nn.scan import positive_activation


def input_only_shapes(gates: int, input_size: int, hidden_size: int, bias: bool) -> Shapes:
    """Shapes of ``weight_ih (G*H, I)`` and ``bias_ih (G*H,)`` for cells without ``W_hh``."""
    shapes: Shapes = {"weight_ih": (gates * hidden_size, input_size)}
    return shapes | {"bias_ih": (gates * hidden_size,)} if bias else shapes


class RNNCell(RecurrentCell):
    r"""Elman recurrent cell (Elman 1990), as `torch.nn.RNNCell`:

    .. math::
        h' = \phi(x W_{ih}^T + b_{ih} + h W_{hh}^T + b_{hh}),  \quad \phi = \tanh \text{ or relu}

    With ``layer_norm=True`` both products are layer-normalised (gain only) before the biases:
    ``h' = φ(LN(x W_ih^T) + LN(h W_hh^T) + b_ih + b_hh)``.

    Args:
        input_size: ``I``, features of the input.
        hidden_size: ``H``, features of the state.
        bias: learn ``b_ih`` and ``b_hh``. Default True.
        nonlinearity: ``'tanh'`` or ``'relu'`` (``φ``). Default ``'tanh'``.
        device, dtype: where and of what type the parameters are made.
        layer_norm: layer-normalise the two products, as above. Default False.

    Shapes: input ``(N, I)`` or ``(I,)``; hx ``(N, H)`` (zeros if omitted); returns ``(N, H)``.
    Weights: ``weight_ih (H, I)``, ``weight_hh (H, H)``, ``bias_ih (H,)``, ``bias_hh (H,)``.

    Example::

        >>> cell = RNNCell(10, 20)
        >>> h = cell(torch.randn(3, 10))
        >>> h.shape
        torch.Size([3, 20])
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: Device = None,
        dtype: torch.dtype | None = None,
        *,
        layer_norm: bool = False,
    ) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.nonlinearity, self.layer_norm = nonlinearity, layer_norm
        self.activation = activation(nonlinearity)
        shapes = self.shapes(input_size, hidden_size, bias, layer_norm=layer_norm)
        self._register(shapes, device, dtype)
        self.reset_parameters()

    @staticmethod
    def shapes(
        input_size: int, hidden_size: int, bias: bool, *, layer_norm: bool = False
    ) -> Shapes:
        shapes = gate_shapes(1, input_size, hidden_size, bias)
        return shapes | layer_norm_shapes(1, hidden_size) if layer_norm else shapes

    @staticmethod
    def project_input(w: CellWeights, x: Tensor) -> Tensor:
        """``x W_ih^T + b_ih + b_hh`` -> ``(..., H)``."""
        return input_projection(w, x, fold_bias_hh=True)

    @staticmethod
    def step(
        w: CellWeights, x_proj: Tensor, state: State, act: Callable[[Tensor], Tensor] = torch.tanh
    ) -> State:
        (h,) = state
        return (act(add_recurrent_term(w, x_proj, h)),)

    def state_sizes(self) -> tuple[int, ...]:
        return (self.hidden_size,)

    def advance(self, x: Tensor, state: State) -> State:
        w = self.weights()
        return self.step(w, self.project_input(w, x), state, self.activation)


class LSTMCell(RecurrentCell):
    r"""Long short-term memory cell (Hochreiter & Schmidhuber 1997), as `torch.nn.LSTMCell`:

    .. math::
        \begin{aligned}
        i &= σ(x W_{ii}^T + b_{ii} + h W_{hi}^T + b_{hi} + w_{ci} ⊙ c) \\
        f &= σ(x W_{if}^T + b_{if} + h W_{hf}^T + b_{hf} + w_{cf} ⊙ c) \\
        g &= \tanh(x W_{ig}^T + b_{ig} + h W_{hg}^T + b_{hg}) \\
        c' &= f ⊙ c + i ⊙ g \\
        o &= σ(x W_{io}^T + b_{io} + h W_{ho}^T + b_{ho} + w_{co} ⊙ c') \\
        h' &= W_{hr} (o ⊙ \tanh(c'))
        \end{aligned}

    The peephole terms ``w_c· ⊙ c`` (Gers & Schmidhuber 2000) are there only with
    ``peephole=True``, the projection ``W_hr`` (Sak et al. 2014) only with ``proj_size > 0``.
    ``layer_norm=True`` follows Ba et al. 2016: the two products are layer-normalised (gain only)
    before the biases, and ``h' = o ⊙ tanh(LN(c'))`` with a gain and bias of its own.

    Args:
        input_size: ``I``, features of the input.
        hidden_size: ``H``, features of the cell state.
        bias: learn ``b_ih`` and ``b_hh``. Default True.
        device, dtype: where and of what type the parameters are made.
        peephole: add the peephole terms. Default False.
        layer_norm: layer normalisation as above. Default False.
        proj_size: ``P > 0`` adds the projection ``W_hr``. Default 0.
        forget_bias: if given, the forget gate's bias starts at this value (Gers et al. 2000;
            Jozefowicz et al. 2015 recommend 1.0); an initialisation only.

    Shapes: input ``(N, I)`` or ``(I,)``; hx ``(h, c)`` with ``h (N, P or H)``, ``c (N, H)``
    (zeros if omitted); returns ``(h', c')`` of the same shapes.
    Weights (gate order i, f, g, o as in torch): ``weight_ih (4H, I)``, ``weight_hh (4H, P or H)``,
    ``bias_ih (4H,)``, ``bias_hh (4H,)``, ``weight_hr (P, H)``, ``weight_ch (3H,)`` for i, f, o,
    ``weight_ln_ih (4H,)``, ``weight_ln_hh (4H,)``, ``weight_ln_c (H,)``, ``bias_ln_c (H,)``.

    Example::

        >>> cell = LSTMCell(10, 20, peephole=True)
        >>> h, c = cell(torch.randn(3, 10))
        >>> h.shape, c.shape
        (torch.Size([3, 20]), torch.Size([3, 20]))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: Device = None,
        dtype: torch.dtype | None = None,
        *,
        peephole: bool = False,
        layer_norm: bool = False,
        proj_size: int = 0,
        forget_bias: float | None = None,
    ) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.proj_size, self.peephole, self.layer_norm = proj_size, peephole, layer_norm
        self.forget_bias = forget_bias
        self._check_forget_bias()
        shapes = self.shapes(
            input_size,
            hidden_size,
            bias,
            peephole=peephole,
            layer_norm=layer_norm,
            proj_size=proj_size,
        )
        self._register(shapes, device, dtype)
        self.reset_parameters()

    @staticmethod
    def forget_gate(hidden_size: int) -> slice:
        return slice(hidden_size, 2 * hidden_size)  # gate order i, f, g, o

    @staticmethod
    def shapes(
        input_size: int,
        hidden_size: int,
        bias: bool,
        *,
        peephole: bool = False,
        layer_norm: bool = False,
        proj_size: int = 0,
    ) -> Shapes:
        if proj_size < 0 or (proj_size >= hidden_size and proj_size != 0):
            raise ValueError(f"proj_size must be 0 or in [1, hidden_size), got {proj_size}")
        shapes = gate_shapes(4, input_size, hidden_size, bias, recurrent_size=proj_size or None)
        if proj_size:
            shapes["weight_hr"] = (proj_size, hidden_size)
        if peephole:
            shapes["weight_ch"] = (3 * hidden_size,)
        if layer_norm:
            shapes |= layer_norm_shapes(4, hidden_size)
            shapes |= {"weight_ln_c": (hidden_size,), "bias_ln_c": (hidden_size,)}
        return shapes

    @staticmethod
    def project_input(w: CellWeights, x: Tensor) -> Tensor:
        """``x W_ih^T + b_ih + b_hh`` -> ``(..., 4H)``."""
        return input_projection(w, x, fold_bias_hh=True)

    @staticmethod
    def step(w: CellWeights, x_proj: Tensor, state: State) -> State:
        h, c = state
        gates = add_recurrent_term(w, x_proj, h)  # (N, 4H): pre-activations of i, f, g, o
        width = c.shape[-1]
        if w.weight_ch is None:
            # i, f, o = σ(A_i), σ(A_f), σ(A_o): one σ over all four slices, g's result unused
            i, f, _, o = torch.sigmoid(gates).chunk(4, 1)
            # c' = f ⊙ c + i ⊙ g with g = tanh(A_g), the third slice, in one fused multiply-add
            c = torch.addcmul(f * c, i, torch.tanh(gates[:, 2 * width : 3 * width]))
        else:  # the peepholes add w_c ⊙ c to i and f, and w_co ⊙ c' to o
            a_i, a_f, a_g, a_o = gates.chunk(4, 1)
            w_ci, w_cf, w_co = w.weight_ch.chunk(3)
            i, f = torch.sigmoid(a_i + w_ci * c), torch.sigmoid(a_f + w_cf * c)
            c = torch.addcmul(f * c, i, torch.tanh(a_g))  # c' = f ⊙ c + i ⊙ g
            o = torch.sigmoid(a_o + w_co * c)
        if w.weight_ln_c is not None:
            h = o * torch.tanh(F.layer_norm(c, w.weight_ln_c.shape, w.weight_ln_c, w.bias_ln_c))
        else:
            h = o * torch.tanh(c)  # h' = o ⊙ tanh(c')
        if w.weight_hr is not None:
            h = h @ w.weight_hr.t()  # (N, P)
        return h, c

    def state_sizes(self) -> tuple[int, ...]:
        return (self.proj_size or self.hidden_size, self.hidden_size)

    def public_state(self, state: State) -> tuple[Tensor, ...]:
        return state


class GRUCell(RecurrentCell):
    r"""Gated recurrent unit, as `torch.nn.GRUCell`:

    .. math::
        \begin{aligned}
        r &= σ(x W_{ir}^T + b_{ir} + h W_{hr}^T + b_{hr}) \\
        z &= σ(x W_{iz}^T + b_{iz} + h W_{hz}^T + b_{hz}) \\
        n &= \tanh(x W_{in}^T + b_{in} + r ⊙ (h W_{hn}^T + b_{hn})) \\
        h' &= (1 - z) ⊙ n + z ⊙ h
        \end{aligned}

    This is torch's (and cuDNN's) variant. Cho et al. 2014 apply the reset gate *before* the
    product, ``n = tanh(x W_in^T + (r ⊙ h) W_hn^T + b_n)``; torch applies it after, which lets
    ``h W_hh^T`` for all three gates be one matrix multiply. Cho et al. also write
    ``h' = z ⊙ h + (1 - z) ⊙ n`` with ``z`` named the update gate, as here.

    ``layer_norm=True`` layer-normalises ``x W_ih^T`` and ``h W_hh^T`` (gain only) before the
    biases.

    Args:
        input_size: ``I``, features of the input.
        hidden_size: ``H``, features of the state.
        bias: learn ``b_ih`` and ``b_hh``. Default True.
        device, dtype: where and of what type the parameters are made.
        layer_norm: layer normalisation as above. Default False.

    Shapes: input ``(N, I)`` or ``(I,)``; hx ``(N, H)``; returns ``(N, H)``.
    Weights (gate order r, z, n): ``weight_ih (3H, I)``, ``weight_hh (3H, H)``,
    ``bias_ih (3H,)``, ``bias_hh (3H,)``, ``weight_ln_ih (3H,)``, ``weight_ln_hh (3H,)``.

    Example::

        >>> GRUCell(10, 20)(torch.randn(3, 10)).shape
        torch.Size([3, 20])
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: Device = None,
        dtype: torch.dtype | None = None,
        *,
        layer_norm: bool = False,
    ) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.layer_norm = layer_norm
        shapes = self.shapes(input_size, hidden_size, bias, layer_norm=layer_norm)
        self._register(shapes, device, dtype)
        self.reset_parameters()

    @staticmethod
    def shapes(
        input_size: int, hidden_size: int, bias: bool, *, layer_norm: bool = False
    ) -> Shapes:
        shapes = gate_shapes(3, input_size, hidden_size, bias)
        return shapes | layer_norm_shapes(3, hidden_size) if layer_norm else shapes

    @staticmethod
    def project_input(w: CellWeights, x: Tensor) -> Tensor:
        """``x W_ih^T + b_ih`` -> ``(..., 3H)``; ``b_hh`` stays inside the step (``b_hn``)."""
        return input_projection(w, x, fold_bias_hh=False)

    @staticmethod
    def step(w: CellWeights, x_proj: Tensor, state: State) -> State:
        (h,) = state
        assert w.weight_hh is not None
        # one product for the three gates: hh = [h W_hr^T, h W_hz^T, h W_hn^T] + b_hh (N, 3H)
        hh = F.linear(h, w.weight_hh)
        if w.weight_ln_hh is not None:
            hh = F.layer_norm(hh, w.weight_ln_hh.shape, w.weight_ln_hh)
        if w.bias_hh is not None:
            hh = hh + w.bias_hh
        width = h.shape[-1]
        # r, z = σ(x W_i{r,z}^T + b_i{r,z} + h W_h{r,z}^T + b_h{r,z}): one σ for both slices
        r, z = torch.sigmoid(x_proj[:, : 2 * width] + hh[:, : 2 * width]).chunk(2, 1)
        # n = tanh(x W_in^T + b_in + r ⊙ (h W_hn^T + b_hn)): the reset gate acts after the
        # product (torch's variant), so the product above could be shared
        n = torch.tanh(x_proj[:, 2 * width :] + r * hh[:, 2 * width :])
        return (n + z * (h - n),)  # h' = (1 - z) ⊙ n + z ⊙ h, with one multiply

    def state_sizes(self) -> tuple[int, ...]:
        return (self.hidden_size,)


class JordanCell(RecurrentCell):
    r"""Jordan network cell (Jordan 1986): the previous *output*, not the hidden state, recurs.

    .. math::
        \begin{aligned}
        h_t &= \phi(x_t W_{ih}^T + b_{ih} + y_{t-1} W_{yh}^T) \\
        y_t &= h_t W_{hy}^T + b_{hy}
        \end{aligned}

    Args:
        input_size: ``I``, features of the input.
        hidden_size: ``H``, features of the hidden layer.
        output_size: ``O``, features of the output, which recurs.
        bias: learn ``b_ih`` and ``b_hy``. Default True.
        nonlinearity: ``'tanh'`` or ``'relu'`` (``φ``). Default ``'tanh'``.
        device, dtype: where and of what type the parameters are made.

    Shapes: input ``(N, I)`` or ``(I,)``; hx is ``y_{t-1}``, ``(N, O)`` (zeros if omitted);
    returns ``y_t``, ``(N, O)``. Weights: ``weight_ih (H, I)``, ``bias_ih (H,)``,
    ``weight_yh (H, O)``, ``weight_hy (O, H)``, ``bias_hy (O,)``.

    Example::

        >>> JordanCell(10, 20, output_size=5)(torch.randn(3, 10)).shape
        torch.Size([3, 5])
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, output_size
        self.bias, self.nonlinearity = bias, nonlinearity
        self.activation = activation(nonlinearity)
        self._register(self.shapes(input_size, hidden_size, output_size, bias), device, dtype)
        self.reset_parameters()

    @staticmethod
    def shapes(input_size: int, hidden_size: int, output_size: int, bias: bool) -> Shapes:
        shapes: Shapes = {
            "weight_ih": (hidden_size, input_size),
            "weight_yh": (hidden_size, output_size),
            "weight_hy": (output_size, hidden_size),
        }
        if bias:
            shapes |= {"bias_ih": (hidden_size,), "bias_hy": (output_size,)}
        return shapes

    @staticmethod
    def project_input(w: CellWeights, x: Tensor) -> Tensor:
        """``x W_ih^T + b_ih`` -> ``(..., H)``."""
        return F.linear(x, w.weight_ih, w.bias_ih)

    @staticmethod
    def step(
        w: CellWeights, x_proj: Tensor, state: State, act: Callable[[Tensor], Tensor] = torch.tanh
    ) -> State:
        (y,) = state
        assert w.weight_yh is not None and w.weight_hy is not None
        h = act(torch.addmm(x_proj, y, w.weight_yh.t()))  # (N, H)
        return (F.linear(h, w.weight_hy, w.bias_hy),)  # (N, O)

    def state_sizes(self) -> tuple[int, ...]:
        return (self.output_size,)

    def advance(self, x: Tensor, state: State) -> State:
        w = self.weights()
        return self.step(w, self.project_input(w, x), state, self.activation)


class MinGRUCell(RecurrentCell):
    r"""minGRU (Feng et al. 2024): a GRU whose gate and candidate see the input only.

    .. math::
        \begin{aligned}
        z_t &= σ(x_t W_z^T + b_z) \\
        \tilde h_t &= \mathrm{pos}(x_t W_h^T + b_h) \\
        h_t &= (1 - z_t) ⊙ h_{t-1} + z_t ⊙ \tilde h_t
        \end{aligned}

    with ``pos(x) = x + 1/2`` for ``x >= 0`` and ``σ(x)`` otherwise
    (`rnnkit.nn.scan.positive_activation`), so ``h̃ > 0`` and the whole sequence can be
    computed with the log-space scan of `rnnkit.nn.scan`. This cell is the one-step form, for
    streaming.

    Args:
        input_size: ``I``, features of the input.
        hidden_size: ``H``, features of the state.
        bias: learn ``b_z`` and ``b_h``. Default True.
        device, dtype: where and of what type the parameters are made.

    Shapes: input ``(N, I)`` or ``(I,)``; hx ``(N, H)``; returns ``(N, H)``.
    Weights (order z, h̃): ``weight_ih (2H, I)``, ``bias_ih (2H,)``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self._register(self.shapes(input_size, hidden_size, bias), device, dtype)
        self.reset_parameters()

    @staticmethod
    def shapes(input_size: int, hidden_size: int, bias: bool) -> Shapes:
        return input_only_shapes(2, input_size, hidden_size, bias)

    @staticmethod
    def project_input(w: CellWeights, x: Tensor) -> Tensor:
        """``x W^T + b`` -> ``(..., 2H)``: ``[k_z, k_h]``."""
        return F.linear(x, w.weight_ih, w.bias_ih)

    @staticmethod
    def step(w: CellWeights, x_proj: Tensor, state: State) -> State:
        (h,) = state
        k_z, k_h = x_proj.chunk(2, dim=-1)
        z = torch.sigmoid(k_z)
        return (h + z * (positive_activation(k_h) - h),)  # (1 - z) ⊙ h + z ⊙ h̃

    def state_sizes(self) -> tuple[int, ...]:
        return (self.hidden_size,)


class MinLSTMCell(RecurrentCell):
    r"""minLSTM (Feng et al. 2024): forget and input gates of the input only, normalised to sum 1.

    .. math::
        \begin{aligned}
        f_t &= σ(x_t W_f^T + b_f), \quad i_t = σ(x_t W_i^T + b_i) \\
        f'_t &= f_t / (f_t + i_t), \quad i'_t = i_t / (f_t + i_t) \\
        h_t &= f'_t ⊙ h_{t-1} + i'_t ⊙ \mathrm{pos}(x_t W_h^T + b_h)
        \end{aligned}

    with ``pos`` as in `MinGRUCell`.

    Args:
        input_size: ``I``, features of the input.
        hidden_size: ``H``, features of the state.
        bias: learn ``b_f``, ``b_i`` and ``b_h``. Default True.
        device, dtype: where and of what type the parameters are made.
        forget_bias: if given, ``b_f`` starts at this value; an initialisation only.

    Shapes as `MinGRUCell`. Weights (order f, i, h̃): ``weight_ih (3H, I)``, ``bias_ih (3H,)``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: Device = None,
        dtype: torch.dtype | None = None,
        *,
        forget_bias: float | None = None,
    ) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.forget_bias = forget_bias
        self._check_forget_bias()
        shapes = self.shapes(input_size, hidden_size, bias)
        self._register(shapes, device, dtype)
        self.reset_parameters()

    @staticmethod
    def shapes(input_size: int, hidden_size: int, bias: bool) -> Shapes:
        return input_only_shapes(3, input_size, hidden_size, bias)

    @staticmethod
    def forget_gate(hidden_size: int) -> slice:
        return slice(0, hidden_size)  # order f, i, h̃

    @staticmethod
    def project_input(w: CellWeights, x: Tensor) -> Tensor:
        """``x W^T + b`` -> ``(..., 3H)``: ``[k_f, k_i, k_h]``."""
        return F.linear(x, w.weight_ih, w.bias_ih)

    @staticmethod
    def step(w: CellWeights, x_proj: Tensor, state: State) -> State:
        (h,) = state
        k_f, k_i, k_h = x_proj.chunk(3, dim=-1)
        f, i = torch.sigmoid(k_f), torch.sigmoid(k_i)
        return ((f * h + i * positive_activation(k_h)) / (f + i),)  # f' ⊙ h + i' ⊙ h̃

    def state_sizes(self) -> tuple[int, ...]:
        return (self.hidden_size,)
