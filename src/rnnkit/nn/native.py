"""Dispatch of plain configurations to torch's own RNN kernels, on rnnkit's parameters.

torch implements Elman (tanh / relu), LSTM (with projection) and GRU layers natively: cuDNN on
a GPU; on a CPU oneDNN for float LSTMs and ATen's C++ loop otherwise. Their parameter layout is
rnnkit's too (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``,
``weight_hr_l0``, then ``..._reverse``, layer by layer), so the same tensors are handed over.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch._C._functorch as functorch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

KERNELS: dict[str, Callable[..., Any]] = {
    "LSTM": torch.lstm,
    "GRU": torch.gru,
    "RNN_TANH": torch.rnn_tanh,
    "RNN_RELU": torch.rnn_relu,
}


# the torch.func transforms that torch's RNN kernels cannot run under: vmap has no batching
# rule for them, forward mode no derivative, and a torch.func gradient may itself be vmapped
# (jacrev, hessian), which reaches the kernel's backward
TRANSFORMS_WITHOUT_RULE = {
    functorch.TransformType.Vmap: "torch.func.vmap (no batching rule)",
    functorch.TransformType.Jvp: "forward-mode differentiation (no forward derivative)",
    functorch.TransformType.Grad: "torch.func gradients (whose backward may be vmapped)",
}


# why `torch.compile` leaves the kernels out of its graph (torch does the same for torch.nn.LSTM)
UNTRACEABLE = "torch's recurrent kernels cannot be traced (dynamo's allow_rnn is off)"


def transform_without_rule() -> str | None:
    """The active transform that torch's kernels cannot run under, if any: ``vmap``,
    ``grad`` / ``vjp`` / ``jacrev``, ``jvp`` / ``jacfwd``, or a `torch.autograd.forward_ad`
    dual level. Under `torch.compile` none (dynamo traces no functorch state)."""
    if torch.compiler.is_compiling():
        return None
    for interpreter in functorch.get_interpreter_stack() or []:
        if interpreter.key() in TRANSFORMS_WITHOUT_RULE:
            return TRANSFORMS_WITHOUT_RULE[interpreter.key()]
    if torch.autograd.forward_ad._current_level >= 0:
        return TRANSFORMS_WITHOUT_RULE[functorch.TransformType.Jvp]
    return None


@dataclass(frozen=True)
class NativeConfig:
    """The arguments torch's kernels take besides input, state and weights."""

    mode: str  # a key of KERNELS
    bias: bool
    num_layers: int
    dropout: float
    bidirectional: bool
    proj_size: int = 0


def _select(state: tuple[Tensor, ...], index: Tensor | None) -> tuple[Tensor, ...]:
    return state if index is None else tuple(s.index_select(1, index) for s in state)


@torch.compiler.disable(reason=UNTRACEABLE)
def run_native(
    config: NativeConfig,
    input: Tensor | PackedSequence,
    state: tuple[Tensor, ...],
    weights: Sequence[Tensor],
    training: bool,
) -> tuple[Tensor | PackedSequence, tuple[Tensor, ...]]:
    """Run torch's kernel. `torch.compile` runs it as it is, outside the graph, as it runs
    ``torch.nn.LSTM`` (dynamo's ``allow_rnn`` is off by default: tracing the kernels fails).

    Args:
        input: ``(T, N, F)`` time-major, or a `PackedSequence`.
        state: ``(h0,)`` or ``(h0, c0)`` for LSTM, each ``(D * num_layers, N, size)`` in the
            batch's original order.
        weights: the flat weight list in torch's order.

    Returns:
        ``(output, final state)`` like the input: ``(T, N, D * H_out)`` or a `PackedSequence`.
    """
    kernel = KERNELS[config.mode]
    if isinstance(input, PackedSequence):
        state = _select(state, input.sorted_indices)
    hx: Tensor | tuple[Tensor, ...] = state if config.mode == "LSTM" else state[0]
    args = (hx, list(weights), config.bias, config.num_layers, config.dropout, training)
    if isinstance(input, PackedSequence):
        result = kernel(input.data, input.batch_sizes, *args, config.bidirectional)
        output: Tensor | PackedSequence = PackedSequence(
            result[0], input.batch_sizes, input.sorted_indices, input.unsorted_indices
        )
        return output, _select(tuple(result[1:]), input.unsorted_indices)
    result = kernel(input, *args, config.bidirectional, False)
    return result[0], tuple(result[1:])


def _probe_weights(config: NativeConfig, dtype: torch.dtype, device: torch.device) -> list[Tensor]:
    """One layer's weights for a 1-feature input and hidden size 2, in torch's order."""
    gates = {"LSTM": 4, "GRU": 3}.get(config.mode, 1) * 2
    recurrent = 1 if config.proj_size else 2
    shapes: list[tuple[int, ...]] = [(gates, 1), (gates, recurrent)]
    shapes += [(gates,), (gates,)] if config.bias else []
    shapes += [(1, 2)] if config.proj_size else []
    return [torch.zeros(shape, dtype=dtype, device=device) for shape in shapes]


@functools.lru_cache(maxsize=64)
def _autocast_dtypes(
    config: NativeConfig,
    device: torch.device,
    input_dtype: torch.dtype,
    weight_dtype: torch.dtype,
    autocast_dtype: torch.dtype,
) -> tuple[torch.dtype, ...]:
    """The dtypes of torch's results (output, then each state part) under the active autocast,
    found by running its kernel on one step of a one-sequence batch. ``autocast_dtype`` is
    part of the cache key only."""
    del autocast_dtype
    probe = NativeConfig(config.mode, config.bias, 1, 0.0, False, 1 if config.proj_size else 0)
    state_sizes = (1 if config.proj_size else 2, 2)[: 2 if config.mode == "LSTM" else 1]
    state = tuple(
        torch.zeros(1, 1, size, dtype=weight_dtype, device=device) for size in state_sizes
    )
    x = torch.zeros(1, 1, 1, dtype=input_dtype, device=device)
    with torch.no_grad():
        output, final = run_native(
            probe, x, state, _probe_weights(probe, weight_dtype, device), False
        )
    assert isinstance(output, Tensor)
    return (output.dtype, *(part.dtype for part in final))


def autocast_dtypes(
    config: NativeConfig, input: Tensor, weight: Tensor
) -> tuple[torch.dtype, ...] | None:
    """What dtypes torch's kernel would return for ``config`` on ``input`` (output, then each
    state part) when autocast is on for the input's device; None when it is off.

    Under autocast torch's kernels return what their autocast policy makes of them (an LSTM
    bf16 throughout, a GRU float32); a time loop of the same math may return another mix."""
    device_type = input.device.type
    if not torch.is_autocast_enabled(device_type):
        return None
    return _autocast_dtypes(
        config,
        input.device,
        input.dtype,
        weight.dtype,
        torch.get_autocast_dtype(device_type),
    )
