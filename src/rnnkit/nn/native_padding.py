"""Padded batches on torch's fused LSTM and GRU kernels, without packing.

torch runs a batch of different lengths through its kernel only as a `PackedSequence`, whose
per-step batch sizes cost a fused kernel most of its speed: cuDNN's LSTM and GRU on a GPU,
oneDNN's LSTM (float32 or bfloat16, without projection) on a CPU. Where the kernel is torch's
own step loop instead (a GRU, a projected LSTM or float16/float64 on a CPU; `fuses_sequence`),
packing costs little and saves the padded work, so there only a training batch with little
padding runs padded; and on any kernel a batch that is mostly padding is packed
(`runs_padded`). Otherwise the padded batch runs unpacked, with one more input column, the
padding flag

    m_t = 1 at a padded step, 0 at a real one,

whose input weights are constants chosen to saturate the gates that carry the state:

* LSTM (gates i, f, g, o): ``-FLAG_WEIGHT`` into the input gate, ``+FLAG_WEIGHT`` into the
  forget gate. At a padded step σ rounds to exactly ``i = 0`` and ``f = 1``, so
  ``c_t = f c_{t-1} + i g = c_{t-1}``: the cell state passes through unchanged.
* GRU (gates r, z, n): ``+FLAG_WEIGHT`` into the update gate, so ``z = 1`` and
  ``h_t = (1 - z) n + z h_{t-1} = h_{t-1}``.

Why nothing leaks, forward or backward: the padded inputs are zeroed first (padding may hold
NaN), so every padded step computes finite values; a saturated gate has σ'(a) = σ(a)(1 - σ(a))
= 0, so no gradient reaches the pre-activations, inputs or weights through it, and the only
path left through a padded step is ``∂c_t/∂c_{t-1} = f = 1`` (GRU: ``∂h_t/∂h_{t-1} = z = 1``),
the identity. Padding comes after each sequence's end, so the forward direction reaches it only
after the last real step; the final ``h`` is taken from that step's output (an LSTM's ``h``
keeps changing at padded steps, ``h_t = o_t tanh(c_{t-1})``, though its ``c`` does not). The
reverse direction walks through the padding first, from the initial state, and leaves it with
the state unchanged — exactly for a GRU, and for an LSTM when the initial state is zero
(``h = o tanh(0) = 0``). An LSTM's reverse direction from a given initial state runs instead
on each sequence reversed within its own length, where the padding again comes last.

The flag must enter every layer, so the layers run one kernel call each. ``FLAG_WEIGHT`` =
1e4 saturates σ in float16, bfloat16, float32 and float64 alike for any pre-activation within
±1e3 — far beyond what a trained network produces.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.nn.native import KERNELS, UNTRACEABLE, NativeConfig
from rnnkit.nn.padding import Padding, reverse_time

FLAG_WEIGHT = 1e4
GATES = {"LSTM": 4, "GRU": 3}  # the modes this route serves, and their gates per hidden unit
ONEDNN_DTYPES = (torch.float32, torch.bfloat16)
# The largest share of padded positions at which the padded route still beats packing, by
# kernel, mode and threads: beyond it (say one long sequence among short ones) the padded steps
# cost more than packing saves. A fused kernel loses its fusion to packing; torch's own step
# loop loses little, and gains from padding only while differentiating a batch of little
# padding, never in inference. "training" means grad mode is on (a backward pass is expected);
# a GPU takes the "more threads" limits. Measured on a 2-core CPU, N = 32, T = 100: LSTMs of
# H = 128 and 512 (fused); a GRU, a projected LSTM and a float64 LSTM of H = 128 (step loop)
# (benchmarks/padding_break_even.py, docs/variable-length.md).
NEVER = 0.0  # a batch with any padding is packed
PADDING_LIMITS = {
    "fused": {
        "training": {"one thread": 0.6, "more threads": 0.75},
        "inference": {"one thread": 0.3, "more threads": 0.55},
    },
    "step loop": {
        "training": {"one thread": 0.3, "more threads": 0.3},
        "inference": {"one thread": NEVER, "more threads": NEVER},
    },
}


def fuses_sequence(config: NativeConfig, x: Tensor) -> bool:
    """Whether torch runs ``config`` over ``x`` as one fused kernel (then a padded batch is
    faster than a packed one): cuDNN on a GPU, oneDNN for an unprojected LSTM on a CPU."""
    if config.mode not in GATES:
        return False
    if x.is_cuda:
        return bool(torch.backends.cudnn.enabled and torch.backends.cudnn.is_available())
    return (
        x.device.type == "cpu"
        and config.mode == "LSTM"
        and not config.proj_size
        and x.dtype in ONEDNN_DTYPES
        and bool(torch.backends.mkldnn.enabled and torch.backends.mkldnn.is_available())
    )


def runs_padded(config: NativeConfig, x: Tensor, padded_share: float) -> bool:
    """Whether a batch of ``x``'s kind with this share of padded positions runs padded, with the
    flag (`run_native_padded`), rather than packed: an LSTM or GRU whose padding is within
    `PADDING_LIMITS` for its kernel."""
    if config.mode not in GATES:
        return False
    kernel = "fused" if fuses_sequence(config, x) else "step loop"
    mode = "training" if torch.is_grad_enabled() else "inference"
    threads = "more threads" if x.is_cuda or torch.get_num_threads() > 1 else "one thread"
    return padded_share <= PADDING_LIMITS[kernel][mode][threads]


def flag_weights(mode: str, weight_ih: Tensor) -> Tensor:
    """The padding flag's input weights ``(G * H, 1)`` for a kernel of ``mode`` whose input
    weights are ``weight_ih`` ``(G * H, F)``: the saturating rows described above, else 0."""
    hidden = weight_ih.shape[0] // GATES[mode]
    column = weight_ih.new_zeros(weight_ih.shape[0], 1)
    if mode == "LSTM":
        column[:hidden] = -FLAG_WEIGHT  # input gate shut
        column[hidden : 2 * hidden] = FLAG_WEIGHT  # forget gate open
    else:
        column[hidden : 2 * hidden] = FLAG_WEIGHT  # update gate keeps h
    return column


@torch.compiler.disable(reason=UNTRACEABLE)
def run_native_padded(
    config: NativeConfig,
    x: Tensor,
    padding: Padding,
    state: tuple[Tensor, ...],
    weights: Sequence[Tensor],
    training: bool,
    *,
    zero_state: bool,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """A padded batch through torch's kernel, layer by layer, with the padding flag.

    Args:
        config: an LSTM or GRU configuration (``config.mode`` in `GATES`).
        x: ``(T, N, F)`` time-major, padded at the end of each sequence.
        padding: the batch's lengths, mask and reversal index.
        state: ``(h0,)`` or ``(h0, c0)``, each ``(D * num_layers, N, size)``.
        weights: the flat weight list in torch's order.
        training: the kernel's training mode (as torch.nn passes ``self.training``).
        zero_state: whether ``state`` is all zeros (an LSTM's reverse direction then needs no
            reversal).

    Returns:
        The output ``(T, N, D * H_out)``, 0 at padded steps, and the final state, as torch's
        packed computation gives them.
    """
    directions = 2 if config.bidirectional else 1
    per_direction = len(weights) // (config.num_layers * directions)
    keep = padding.mask.to(x.dtype)  # (T, N, 1): 1 at real steps
    flag = 1 - keep
    both_directions_at_once = config.mode == "GRU" or zero_state
    finals: list[tuple[Tensor, ...]] = []
    for layer in range(config.num_layers):
        first = layer * directions
        layer_weights = [
            _with_flag(config.mode, weights[k * per_direction : (k + 1) * per_direction])
            for k in range(first, first + directions)
        ]
        start = tuple(s[first : first + directions] for s in state)
        x_flagged = torch.cat([x, flag], dim=-1)
        if layer == 0:  # the user's padding may hold anything, NaN included
            x_flagged = _zero_features_at(x_flagged, padding.mask)
        if directions == 2 and not both_directions_at_once:
            out, carried = _reversing_the_reverse(
                config, x_flagged, start, layer_weights, padding, training
            )
        else:
            both = [w for direction in layer_weights for w in direction]
            out, carried = _kernel(config, x_flagged, start, both, training, directions == 2)
        out = out * keep  # finite everywhere, so exactly 0 at padded steps
        finals.append((_final_h(out, padding, directions), *carried[1:]))
        x = out
        if training and config.dropout and layer < config.num_layers - 1:
            x = F.dropout(x, config.dropout, training=True)
    return x, tuple(torch.cat(parts) for parts in zip(*finals, strict=True))


def _zero_features_at(x_flagged: Tensor, real: Tensor) -> Tensor:
    """``x_flagged`` ``(T, N, F + 1)`` with its first ``F`` features zeroed where ``real``
    ``(T, N, 1)`` is False (row-wise: much faster than a broadcast mask)."""
    steps, batch, width = x_flagged.shape
    padded_rows = (~real).view(-1).nonzero().squeeze(1)
    features = x_flagged.view(steps * batch, width)[:, : width - 1]
    features.index_fill_(0, padded_rows, 0.0)
    return x_flagged


def _with_flag(mode: str, direction_weights: Sequence[Tensor]) -> list[Tensor]:
    """One direction's weights with the flag's column appended to the input weights."""
    weight_ih, *rest = direction_weights
    return [torch.cat([weight_ih, flag_weights(mode, weight_ih)], dim=1), *rest]


def _kernel(
    config: NativeConfig,
    x: Tensor,
    state: tuple[Tensor, ...],
    weights: list[Tensor],
    training: bool,
    bidirectional: bool,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """One layer of torch's kernel over ``x`` ``(T, N, F + 1)``, without dropout."""
    hx: Tensor | tuple[Tensor, ...] = state if config.mode == "LSTM" else state[0]
    kernel = KERNELS[config.mode]
    result = kernel(x, hx, weights, config.bias, 1, 0.0, training, bidirectional, False)
    return result[0], tuple(result[1:])


def _reversing_the_reverse(
    config: NativeConfig,
    x: Tensor,
    state: tuple[Tensor, ...],
    weights: list[list[Tensor]],
    padding: Padding,
    training: bool,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """A bidirectional layer as two forward passes, the second over each sequence reversed
    within its length, so that the padding comes after both directions' real steps."""
    forward_start, reverse_start = tuple(s[:1] for s in state), tuple(s[1:] for s in state)
    forward_out, forward_final = _kernel(config, x, forward_start, weights[0], training, False)
    index = padding.reverse_index
    reversed_x = reverse_time(x, index)
    reverse_out, reverse_final = _kernel(
        config, reversed_x, reverse_start, weights[1], training, False
    )
    out = torch.cat([forward_out, reverse_time(reverse_out, index)], dim=-1)
    finals = tuple(torch.cat(pair) for pair in zip(forward_final, reverse_final, strict=True))
    return out, finals


def _final_h(out: Tensor, padding: Padding, directions: int) -> Tensor:
    """``h_n`` ``(D, N, H_out)`` from the output: the forward direction's at each sequence's
    last real step, the reverse direction's at step 0."""
    width = out.shape[-1] // directions
    last = padding.reverse_index[0]  # lengths - 1, on the output's device
    forward = out[last, torch.arange(out.shape[1], device=out.device), :width]
    if directions == 1:
        return forward.unsqueeze(0)
    return torch.stack([forward, out[0, :, width:]])
