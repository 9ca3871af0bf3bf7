"""The LSTM and GRU time loops compiled: `rnnkit.nn.time_loop` for these cells, in C++
(``csrc/``: ``lstm_loop.cpp``, ``gru_loop.cpp``, the shared driver in ``loop_common.h``).

The Python loop runs some twenty tensor operations per step forward and as many autograd nodes
backward; at the sizes RNNs are trained on a CPU, their overhead outweighs the arithmetic. The
compiled loop does one matrix product and one fused pass over the rows per step, in both
directions, with a hand-derived backward pass (checked against autograd through the Python
loop in the tests). A W_hh of 1 MiB or more in float32 is packed once per loop for MKL's
product, where torch has MKL, rather than at every step's. The rows are split over torch's
threads; the layer norm of the input projection is applied row by row as the loop reaches it;
dW_hh is summed after the loop in one product, the other weights' gradients per thread during
it.

It covers every option of rnnkit's LSTM and GRU that torch's kernels lack — layer norm,
peepholes (LSTM), zoneout, recurrent dropout, padding — in float32 and float64, without a
projection. The extension is built with torch's C++ toolchain on first use and cached
(``TORCH_EXTENSIONS_DIR``, by default ``~/.cache/torch_extensions``); without a compiler, or with
``RNNKIT_COMPILED_LOOP=0``, the layers keep the Python loop, which stays the reference.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import Tensor

from rnnkit.nn.native import transform_without_rule
from rnnkit.nn.recurrent_cell import CellWeights, State, input_bias, input_projection
from rnnkit.nn.time_loop import dropout_mask
from rnnkit.nn.zoneout_draws import ZoneoutDraws

SOURCES = Path(__file__).parent / "csrc"
SWITCH = "RNNKIT_COMPILED_LOOP"
# the instructions of the vector width torch itself uses on this processor; one build each, so
# a cache shared by different machines never hands one a build it cannot run
VECTOR_FLAGS = {
    "AVX2": ["-mavx2", "-mfma"],
    "AVX512": ["-mavx2", "-mfma", "-mavx512f", "-mavx512dq", "-mavx512bw", "-mavx512vl"],
}


@functools.cache
def extension() -> ModuleType | None:
    """The compiled loops, built on first use; None where they cannot be built or are switched
    off. Built with OpenMP, as torch's own kernels (`at::parallel_for` is a template compiled
    into the extension: without OpenMP it runs on one thread), or, by a compiler without it,
    single-threaded."""
    if os.environ.get(SWITCH, "1") == "0":
        return None
    try:
        return _build(["-fopenmp"])
    except Exception:  # e.g. a compiler without OpenMP: the rows then take one thread
        pass
    try:
        return _build([])
    except Exception as error:  # no compiler, no headers: the Python loop serves
        warnings.warn(
            f"rnnkit's compiled time loops could not be built ({error}); using the Python loop "
            f"(set {SWITCH}=0 to skip the attempt)",
            RuntimeWarning,
            stacklevel=2,
        )
        return None


def _build(openmp: list[str]) -> ModuleType:
    """Build (or load from the cache) the extension with the flags ``openmp``, saying so on
    stderr when it has to build; named after the hash of its sources, their place and the
    flags, so an edited header never meets a stale build. The process keeps torch's own OpenMP
    runtime."""
    from torch.utils.cpp_extension import load

    capability = torch.backends.cpu.get_cpu_capability()
    flags = ["-O3", "-fno-trapping-math", "-fopenmp-simd", *openmp]
    flags += VECTOR_FLAGS.get(capability, [])
    files = sorted(SOURCES.iterdir())
    # the sources' place too: torch's build file names them by path, so checkouts sharing the
    # cache would otherwise rebuild each other's builds
    built_from = b"".join(
        [*(f.read_bytes() for f in files), " ".join(flags).encode(), str(SOURCES).encode()]
    )
    name = f"rnnkit_loops_{capability.lower()}_{hashlib.sha256(built_from).hexdigest()[:10]}"
    if not _built(name):
        print("rnnkit: building the compiled time loops (once, about a minute)", file=sys.stderr)
    sources = [str(f) for f in files if f.suffix == ".cpp"]
    return load(name, sources, extra_cflags=flags, extra_ldflags=openmp)


def _built(name: str) -> bool:
    """Whether torch's extension cache already holds the build ``name``."""
    from torch.utils.cpp_extension import _get_build_directory

    return (Path(_get_build_directory(name, verbose=False)) / f"{name}.so").is_file()


def runs_compiled(w: CellWeights, x: Tensor) -> bool:
    """Whether the compiled loop can run this direction on the input ``x``: CPU float32 or
    float64 without projection, outside autocast, ``torch.compile`` (which compiles the Python
    loop itself) and the ``torch.func`` transforms (which have no rule for it)."""
    return (
        w.weight_hr is None
        and x.dtype in (torch.float32, torch.float64)
        and x.device.type == "cpu"
        and not torch.is_autocast_enabled("cpu")
        and not torch.compiler.is_compiling()
        and transform_without_rule() is None
        and os.environ.get(SWITCH, "1") != "0"
        and extension() is not None
    )


def compiled_lstm_loop(
    w: CellWeights,
    x: Tensor,
    state: State,
    *,
    mask: Tensor | None = None,
    recurrent_dropout: float = 0.0,
    zoneout_p: float = 0.0,
    training: bool = False,
) -> tuple[Tensor, State]:
    """`rnnkit.nn.time_loop.time_loop` of `rnnkit.nn.cells.LSTMCell.step`, compiled, over the
    layer's input ``x`` ``(T, N, F)`` rather than its projection (see `_input_term`);
    otherwise the same arguments (less the step) and results."""
    h0, c0 = state
    assert w.weight_hh is not None
    x_proj, gain_x, bias_x = _input_term(w, x, fold_bias_hh=True)
    outputs, h, c = _LSTMLoop.apply(
        torch.is_grad_enabled(),  # keep what the backward pass needs
        x_proj,
        h0.contiguous(),
        c0.contiguous(),
        w.weight_hh.contiguous(),
        _or_empty(w.weight_ch, x),
        _or_empty(w.weight_ln_hh, x),
        _or_empty(w.weight_ln_c, x),
        _or_empty(w.bias_ln_c, x),
        gain_x,
        bias_x,
        *_random_options(x, h0, 2, recurrent_dropout, zoneout_p, training),
        _mask_bytes(mask, x),
    )
    return outputs, (h, c)


def compiled_gru_loop(
    w: CellWeights,
    x: Tensor,
    state: State,
    *,
    mask: Tensor | None = None,
    recurrent_dropout: float = 0.0,
    zoneout_p: float = 0.0,
    training: bool = False,
) -> tuple[Tensor, State]:
    """`rnnkit.nn.time_loop.time_loop` of `rnnkit.nn.cells.GRUCell.step`, compiled, over the
    layer's input ``x`` as `compiled_lstm_loop`."""
    (h0,) = state
    assert w.weight_hh is not None
    x_proj, gain_x, bias_x = _input_term(w, x, fold_bias_hh=False)
    outputs, h = _GRULoop.apply(
        torch.is_grad_enabled(),
        x_proj,
        h0.contiguous(),
        w.weight_hh.contiguous(),
        _or_empty(w.bias_hh, x),
        _or_empty(w.weight_ln_hh, x),
        gain_x,
        bias_x,
        *_random_options(x, h0, 1, recurrent_dropout, zoneout_p, training),
        _mask_bytes(mask, x),
    )
    return outputs, (h,)


def _input_term(w: CellWeights, x: Tensor, fold_bias_hh: bool) -> tuple[Tensor, Tensor, Tensor]:
    """What a compiled loop takes of the input, ``(x_proj, gain_x, bias_x)``: the cell's input
    projection (`rnnkit.nn.recurrent_cell.input_projection`) and two empty tensors; with layer
    norm on the input, the bare product ``x W_ih^T``, the norm's gain and the input bias, which
    the loop applies row by row as it reaches them (one pass over ``(T, N, G)`` fewer than
    normalising every step beforehand)."""
    if w.weight_ln_ih is None:
        none = x.new_empty(0)
        return input_projection(w, x, fold_bias_hh).contiguous(), none, none
    bias = input_bias(w, fold_bias_hh)
    product = torch.nn.functional.linear(x, w.weight_ih).contiguous()
    return product, w.weight_ln_ih, _or_empty(bias, x)


def _or_empty(weight: Tensor | None, like: Tensor) -> Tensor:
    """An absent option is an empty tensor to the compiled loops."""
    return like.new_empty(0) if weight is None else weight


def _mask_bytes(mask: Tensor | None, like: Tensor) -> Tensor:
    """The padding mask ``(T, N, 1)`` as ``(T, N)`` bytes, 1 at real steps; empty without."""
    return like.new_empty(0, dtype=torch.uint8) if mask is None else mask[..., 0].to(torch.uint8)


def _random_options(
    x: Tensor,
    h0: Tensor,
    parts: int,
    recurrent_dropout: float,
    zoneout_p: float,
    training: bool,
) -> tuple[Tensor, Tensor]:
    """Recurrent dropout's mask ``keep`` ``(N, H)`` (training only) and zoneout's: in training
    the keys of its draws (`ZoneoutDraws.as_tensor`: the loop draws as it goes), in evaluation
    one row of ``p`` ``(parts H,)``, the weight of the previous state. Drawn from torch's
    generator in the Python loop's order, so a seed gives the same training in both."""
    keep = dropout_mask(h0, recurrent_dropout) if training and recurrent_dropout else None
    zoneout = None
    if zoneout_p and training:
        zoneout = ZoneoutDraws.draw(zoneout_p, (h0,) * parts).as_tensor()
    elif zoneout_p:
        zoneout = x.new_full((parts * h0.shape[-1],), zoneout_p)
    return _or_empty(keep, x), _or_empty(zoneout, x)


def _refuse_create_graph() -> None:
    if torch.is_grad_enabled():  # create_graph=True: the backward pass is not differentiable
        raise RuntimeError(
            "second derivatives through rnnkit's compiled time loops are not implemented; "
            f"set {SWITCH}=0 to run the Python loop, which has them"
        )


def _module() -> ModuleType:
    module = extension()
    assert module is not None
    return module


class _LSTMLoop(torch.autograd.Function):
    """The compiled LSTM forward and backward passes; absent options are empty tensors."""

    @staticmethod
    def forward(ctx: Any, save: bool, *inputs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        outputs, h, c, *saved = _module().lstm_forward(*inputs, save)
        if save:
            ctx.save_for_backward(*inputs[3:], *saved)
        return outputs, h, c

    @staticmethod
    def backward(ctx: Any, d_outputs: Tensor, d_h: Tensor, d_c: Tensor) -> tuple[Any, ...]:
        _refuse_create_graph()
        d_x, d_h0, d_c0, d_w, *optional = _module().lstm_backward(
            d_outputs, d_h, d_c, *ctx.saved_tensors
        )
        return None, d_x, d_h0, d_c0, d_w, *_none_if_empty(optional), None, None, None


class _GRULoop(torch.autograd.Function):
    """The compiled GRU forward and backward passes; absent options are empty tensors."""

    @staticmethod
    def forward(ctx: Any, save: bool, *inputs: Tensor) -> tuple[Tensor, Tensor]:
        outputs, h, *saved = _module().gru_forward(*inputs, save)
        if save:
            ctx.save_for_backward(*inputs[2:], *saved)
        return outputs, h

    @staticmethod
    def backward(ctx: Any, d_outputs: Tensor, d_h: Tensor) -> tuple[Any, ...]:
        _refuse_create_graph()
        d_x, d_h0, d_w, *optional = _module().gru_backward(d_outputs, d_h, *ctx.saved_tensors)
        return None, d_x, d_h0, d_w, *_none_if_empty(optional), None, None, None


def _none_if_empty(gradients: list[Tensor]) -> list[Tensor | None]:
    """The gradients of absent options (empty tensors) as None, as autograd expects."""
    return [d if d.numel() else None for d in gradients]
