"""The LSTM time loop compiled: `rnnkit.nn.time_loop` for an LSTM, in C++ (``csrc/lstm_loop.cpp``).

The Python loop runs some twenty tensor operations per step forward and as many autograd nodes
backward; at the sizes RNNs are trained on a CPU, their overhead outweighs the arithmetic. The
compiled loop does one matrix product and one fused pass over the rows per step, in both
directions, with a hand-derived backward pass (checked against autograd through the Python
loop in the tests) and the weight gradients summed after the loop.

It covers every option of rnnkit's LSTM that torch's kernel lacks — layer norm, peepholes,
zoneout, recurrent dropout, padding — in float32 and float64, without a projection. The
extension is built with torch's C++ toolchain on first use and cached
(``TORCH_EXTENSIONS_DIR``, by default ``~/.cache/torch_extensions``); without a compiler, or with
``RNNKIT_COMPILED_LOOP=0``, the layers keep the Python loop, which stays the reference.
"""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import Tensor

from rnnkit.nn.native import transform_without_rule
from rnnkit.nn.recurrent_cell import CellWeights, State
from rnnkit.nn.time_loop import dropout_mask

SOURCE = Path(__file__).parent / "csrc" / "lstm_loop.cpp"
SWITCH = "RNNKIT_COMPILED_LOOP"
# the instructions of the vector width torch itself uses on this processor; one build each, so
# a cache shared by different machines never hands one a build it cannot run
VECTOR_FLAGS = {
    "AVX2": ["-mavx2", "-mfma"],
    "AVX512": ["-mavx2", "-mfma", "-mavx512f", "-mavx512dq", "-mavx512bw", "-mavx512vl"],
}


@functools.cache
def extension() -> ModuleType | None:
    """The compiled loop, built on first use; None where it cannot be built or is switched off."""
    if os.environ.get(SWITCH, "1") == "0":
        return None
    try:
        from torch.utils.cpp_extension import load

        capability = torch.backends.cpu.get_cpu_capability()
        flags = ["-O3", "-fno-trapping-math", "-fopenmp-simd", *VECTOR_FLAGS.get(capability, [])]
        name = f"rnnkit_lstm_loop_{capability.lower()}"
        return load(name, [str(SOURCE)], extra_cflags=flags, verbose=False)
    except Exception as error:  # no compiler, no headers: the Python loop serves
        warnings.warn(
            f"rnnkit's compiled LSTM loop could not be built ({error}); using the Python loop "
            f"(set {SWITCH}=0 to skip the attempt)",
            RuntimeWarning,
            stacklevel=2,
        )
        return None


def runs_compiled(w: CellWeights, x_proj: Tensor) -> bool:
    """Whether the compiled loop can run this LSTM direction on ``x_proj``: a CPU float32 or
    float64 LSTM without projection, outside autocast, ``torch.compile`` (which compiles the
    Python loop itself) and the ``torch.func`` transforms (which have no rule for it)."""
    return (
        w.weight_hr is None
        and x_proj.dtype in (torch.float32, torch.float64)
        and x_proj.device.type == "cpu"
        and not torch.is_autocast_enabled("cpu")
        and not torch.compiler.is_compiling()
        and transform_without_rule() is None
        and os.environ.get(SWITCH, "1") != "0"
        and extension() is not None
    )


def compiled_lstm_loop(
    w: CellWeights,
    x_proj: Tensor,
    state: State,
    *,
    mask: Tensor | None = None,
    recurrent_dropout: float = 0.0,
    zoneout_p: float = 0.0,
    training: bool = False,
) -> tuple[Tensor, State]:
    """`rnnkit.nn.time_loop.time_loop` of `rnnkit.nn.cells.LSTMCell.step`, compiled; same
    arguments (less the step) and results."""
    h0, c0 = state
    none = x_proj.new_empty(0)
    keep = dropout_mask(h0, recurrent_dropout) if training and recurrent_dropout else none
    zoneout = none
    if zoneout_p:  # q: keep-the-old-value weights of h then c, (T, N, 2H)
        shape = (*x_proj.shape[:2], 2 * h0.shape[-1])
        zoneout = (
            (torch.rand(shape, dtype=x_proj.dtype) < zoneout_p).to(x_proj.dtype)
            if training
            else x_proj.new_full(shape, zoneout_p)
        )
    assert w.weight_hh is not None
    outputs, h, c = _LSTMLoop.apply(
        torch.is_grad_enabled(),  # keep what the backward pass needs
        x_proj.contiguous(),
        h0.contiguous(),
        c0.contiguous(),
        w.weight_hh.contiguous(),
        none if w.weight_ch is None else w.weight_ch,
        none if w.weight_ln_hh is None else w.weight_ln_hh,
        none if w.weight_ln_c is None else w.weight_ln_c,
        none if w.bias_ln_c is None else w.bias_ln_c,
        keep,
        zoneout,
        none.to(torch.uint8) if mask is None else mask.reshape(mask.shape[:2]).to(torch.uint8),
    )
    return outputs, (h, c)


class _LSTMLoop(torch.autograd.Function):
    """The compiled forward and backward passes; absent options are empty tensors."""

    @staticmethod
    def forward(ctx: Any, save: bool, *inputs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        module = extension()
        assert module is not None
        outputs, h, c, *saved = module.forward(*inputs, save)
        if save:
            ctx.save_for_backward(*inputs[3:], *saved)
        return outputs, h, c

    @staticmethod
    def backward(ctx: Any, d_outputs: Tensor, d_h: Tensor, d_c: Tensor) -> tuple[Any, ...]:
        if torch.is_grad_enabled():  # create_graph=True: the backward pass is not differentiable
            raise RuntimeError(
                "second derivatives through rnnkit's compiled LSTM loop are not implemented; "
                f"set {SWITCH}=0 to run the Python loop, which has them"
            )
        module = extension()
        assert module is not None
        weight_hh, peephole, gain_z, gain_c, bias_c, *rest = ctx.saved_tensors
        d_x, d_h0, d_c0, d_w, d_peephole, d_gain_z, d_gain_c, d_bias_c = module.backward(
            d_outputs, d_h, d_c, weight_hh, peephole, gain_z, gain_c, bias_c, *rest
        )
        optional = [d if d.numel() else None for d in (d_peephole, d_gain_z, d_gain_c, d_bias_c)]
        return None, d_x, d_h0, d_c0, d_w, *optional, None, None, None
