"""The recurrent layer of a model, chosen by the config key ``model.cell``.

Every task's model builds its recurrent core here, so ``model.cell``, ``model.layer_norm`` and
``model.forget_bias`` mean the same thing everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Literal

from rnnkit.errors import UserError
from rnnkit.nn.layers import GRU, LSTM, RNN, JordanRNN, MinGRU, MinLSTM
from rnnkit.nn.recurrent_layer import RecurrentLayer

CellName = Literal["rnn", "rnn_relu", "lstm", "gru", "mingru", "minlstm", "jordan"]
CELLS: dict[str, Callable[..., RecurrentLayer]] = {
    "rnn": RNN,
    "rnn_relu": partial(RNN, nonlinearity="relu"),
    "lstm": LSTM,
    "gru": GRU,
    "mingru": MinGRU,
    "minlstm": MinLSTM,
    "jordan": JordanRNN,
}
LAYER_NORM_CELLS = ("rnn", "rnn_relu", "lstm", "gru")
WEIGHT_DROP_CELLS = LAYER_NORM_CELLS
FORGET_GATE_CELLS = ("lstm", "minlstm")


def build_recurrent(
    cell: str,
    input_size: int,
    hidden_size: int,
    *,
    num_layers: int = 1,
    dropout: float = 0.0,
    bidirectional: bool = False,
    layer_norm: bool = False,
    forget_bias: float | None = None,
    proj_size: int = 0,
    weight_drop: float = 0.0,
    locked_dropout: bool = False,
) -> RecurrentLayer:
    """A batch-first rnnkit layer of kind ``cell`` (see `CELLS`).

    ``forget_bias`` applies to the cells with a forget gate and is ignored by the others, so a
    task can default it to 1.0 for every cell; ``layer_norm`` and ``weight_drop`` are errors
    where a cell lacks them. ``locked_dropout`` makes the ``dropout`` between layers one mask
    per sequence (every cell has it).
    """
    if cell not in CELLS:
        raise UserError(f"model.cell: unknown cell {cell!r}; choose one of {', '.join(CELLS)}")
    if layer_norm and cell not in LAYER_NORM_CELLS:
        raise UserError(
            f"model.layer_norm: not available for cell {cell!r} "
            f"(only {', '.join(LAYER_NORM_CELLS)})"
        )
    if weight_drop and cell not in WEIGHT_DROP_CELLS:
        raise UserError(
            f"model.weight_drop: not available for cell {cell!r} "
            f"(only {', '.join(WEIGHT_DROP_CELLS)})"
        )
    options: dict[str, Any] = {"layer_norm": layer_norm} if cell in LAYER_NORM_CELLS else {}
    if weight_drop:
        options["weight_drop"] = weight_drop
    if cell in FORGET_GATE_CELLS:
        options["forget_bias"] = forget_bias
    if proj_size:
        if cell != "lstm":
            raise ValueError(f"proj_size needs an lstm cell, not {cell!r}")
        options["proj_size"] = proj_size
    return CELLS[cell](
        input_size,
        hidden_size,
        num_layers=num_layers,
        batch_first=True,
        dropout=dropout if num_layers > 1 else 0.0,
        bidirectional=bidirectional,
        locked_dropout=locked_dropout,
        **options,
    )
