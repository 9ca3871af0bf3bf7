"""The time loop as TorchScript, for what traces a layer: ``torch.jit.trace`` and ONNX export.

A trace records the operations of one call, so `rnnkit.nn.time_loop`'s Python loop would be
recorded unrolled to the traced length, and the traced module (or ONNX file) would fail at any
other. While a trace is being recorded, the loop-path layers run `traced_time_loop` instead:

* the cell's step is traced on its own, once, for one time step (any batch size);
* the loop around it is compiled by ``torch.jit.script``, so the outer trace records a real
  loop over ``x_proj.size(0)`` steps — ONNX's ``Loop`` operator once exported.

It computes what `time_loop` computes (padding carries the state over, zoneout, recurrent
dropout: the same draws from the same seed), and gradients flow through it to the layer's
parameters. Inside, the state parts travel as one tensor, concatenated along features
(``[h | c]`` for an LSTM), so that one compiled loop serves every cell.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

from rnnkit.nn.recurrent_cell import CellWeights, State
from rnnkit.nn.time_loop import Step, dropout_mask
from rnnkit.nn.zoneout_draws import ZoneoutDraws

# step(x_proj_t (N, G), state (N, S), weights) -> state (N, S), with S the summed state sizes
FlatStep = Callable[[Tensor, Tensor, list[Tensor]], Tensor]


def traced_time_loop(
    step: Step,
    w: CellWeights,
    x_proj: Tensor,
    state: State,
    *,
    mask: Tensor | None = None,
    recurrent_dropout: float = 0.0,
    zoneout_p: float = 0.0,
    training: bool = False,
) -> tuple[Tensor, State]:
    """`rnnkit.nn.time_loop.time_loop`, same arguments and results, as a loop a trace keeps."""
    sizes = [part.shape[-1] for part in state]
    names = [name for name, value in w._asdict().items() if value is not None]
    weights = [getattr(w, name) for name in names]

    def flat_step(x_t: Tensor, flat_state: Tensor, weights: list[Tensor]) -> Tensor:
        parts = step(
            CellWeights(**dict(zip(names, weights, strict=True))), x_t, _split(flat_state, sizes)
        )
        return torch.cat(parts, dim=-1)

    flat = torch.cat(state, -1)
    with _tracing_paused():
        examples = (x_proj[0].detach(), flat.detach(), [t.detach() for t in weights])
        traced_step = torch.jit.trace(flat_step, examples, check_trace=False)
    keep = torch.ones_like(flat)
    if training and recurrent_dropout:  # on h_{t-1} only, one mask for all steps
        h_keep = dropout_mask(state[0], recurrent_dropout)
        keep = torch.cat([h_keep, *map(torch.ones_like, state[1:])], -1)
    zoneout_keeps = flat.new_empty(0, dtype=torch.bool)
    if training and zoneout_p:
        zoneout_keeps = _zoneout_keeps(ZoneoutDraws.draw(zoneout_p, state), state, x_proj)
    if mask is None:
        mask = x_proj.new_ones((x_proj.shape[0], x_proj.shape[1], 1), dtype=torch.bool)
    loop = _compiled_loop(traced_step)
    outputs, final = loop(x_proj, flat, weights, mask, keep, zoneout_p, zoneout_keeps, sizes[0])
    return outputs, _split(final, sizes)


def _zoneout_keeps(draws: ZoneoutDraws, state: State, x_proj: Tensor) -> Tensor:
    """``(T, N, S)`` bool: where each unit of the flat state keeps its value at each step, the
    decisions `time_loop` takes from the same ``draws``. Only tensor operations count the
    steps and rows, so that the trace holds for any length and batch size."""
    rows = torch.ones_like(state[0][:, :1], dtype=torch.int64).cumsum(0) - 1  # (N, 1): n
    batch_size = rows[-1:] + 1
    units, before = [], 0  # i = N · (widths of the parts before) + n · width + column
    for part in state:
        width = part.shape[-1]
        columns = torch.arange(width, device=part.device)
        units.append(batch_size * before + rows * width + columns)
        before += width
    steps = torch.ones_like(x_proj[:, :1, :1], dtype=torch.int64).cumsum(0) - 1  # (T, 1, 1)
    return draws.kept(draws.unit_hashes(torch.cat(units, -1)), steps)


def _split(flat: Tensor, sizes: list[int]) -> State:
    """The state parts of ``flat``, ``(N, sum(sizes))``."""
    return tuple(flat.split(sizes, dim=-1))


def _compiled_loop(step: FlatStep) -> Callable[..., tuple[Tensor, Tensor]]:
    """The scripted loop around ``step``."""

    def loop(
        x_proj: Tensor,
        state: Tensor,
        weights: list[Tensor],
        mask: Tensor,
        keep: Tensor,
        zoneout_p: float,
        zoneout_keeps: Tensor,  # (T, N, S) in training, empty in evaluation
        output_size: int,
    ) -> tuple[Tensor, Tensor]:
        outputs: list[Tensor] = []
        for t in range(x_proj.size(0)):
            new = step(x_proj[t], state * keep, weights)
            if zoneout_p > 0.0:
                if zoneout_keeps.numel() > 0:
                    new = torch.where(zoneout_keeps[t], state, new)
                else:
                    new = torch.lerp(new, state, zoneout_p)
            state = torch.where(mask[t], new, state)
            outputs.append(state[:, :output_size])
        return torch.stack(outputs), state

    return torch.jit.script(loop)


@contextmanager
def _tracing_paused() -> Iterator[None]:
    """Suspend the trace being recorded (traces cannot nest), restoring it afterwards; torch has
    no public call for this."""
    tracing = torch._C._get_tracing_state()
    torch._C._set_tracing_state(None)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        torch._C._set_tracing_state(tracing)  # type: ignore[attr-defined]
