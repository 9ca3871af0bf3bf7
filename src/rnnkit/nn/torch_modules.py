"""rnnkit's layers and cells as torch.nn's own modules, for code that works by type.

``isinstance(rnnkit.LSTM(3, 4), torch.nn.LSTM)`` is False, on purpose: code that dispatches on
torch's types (``torch.ao.quantization.quantize_dynamic``, an exporter's symbolic, an
initialiser) would take a subclass for a plain ``torch.nn.LSTM`` and silently drop what torch's
module lacks — layer norm, peepholes, zoneout, recurrent dropout, weight drop, locked dropout —
and the ``lengths=`` argument rnnkit's models call it with. Instead there are two explicit
doors:

- `to_torch` (also ``layer.to_torch()`` / ``cell.to_torch()``): a copy as ``torch.nn.LSTM`` /
  ``GRU`` / ``RNN`` / ``LSTMCell`` / ``GRUCell`` / ``RNNCell`` with the same state dict, for a
  configuration torch has; otherwise a ValueError naming what torch lacks. With
  ``inference=True`` the options that do nothing in evaluation (recurrent dropout, weight drop,
  locked dropout) are left behind instead of refused.
- `rnnkit.nn.quantization.quantize_dynamic`: int8 weights for a whole model through torch's
  dynamically quantised kernels, keeping rnnkit's call signature.
"""

from __future__ import annotations

from typing import Any

from torch import nn

LAYERS: dict[str, type[nn.RNNBase]] = {
    "LSTM": nn.LSTM,
    "GRU": nn.GRU,
    "RNN_TANH": nn.RNN,
    "RNN_RELU": nn.RNN,
}
CELLS: dict[str, type[nn.RNNCellBase]] = {
    "LSTMCell": nn.LSTMCell,
    "GRUCell": nn.GRUCell,
    "RNNCell": nn.RNNCell,
}
CELL_OPTIONS = ("layer_norm", "peephole", "proj_size")  # rnnkit cell options torch lacks


def to_torch(module: nn.Module, *, inference: bool = False) -> nn.Module:
    """A copy of the rnnkit layer or cell ``module`` as torch.nn's own module: same arguments,
    same parameters (``load_state_dict`` of its state dict), same device, dtype and mode.

    Raises:
        ValueError: naming the options of ``module`` that torch's module lacks, or saying that
            torch has no such module (Jordan, minGRU, minLSTM).
    """
    converted: nn.Module = (
        _torch_layer(module, inference) if hasattr(module, "_native_mode") else _torch_cell(module)
    )
    parameter = next(module.parameters())
    converted.to(parameter.device, parameter.dtype)
    converted.load_state_dict(module.state_dict())
    return converted.train(module.training)


def _torch_layer(layer: Any, inference: bool) -> nn.RNNBase:
    name = type(layer).__name__
    mode = layer._native_mode()
    if mode is None:
        raise ValueError(f"torch has no {name} layer; it exists only in rnnkit")
    lacking = layer._options_torch_lacks(training=not inference)
    if not inference:  # the options that leave torch's kernel running, in training only
        lacking |= {"weight_drop": layer.weight_drop, "locked_dropout": layer.locked_dropout}
    _refuse(name, lacking)
    extra: dict[str, Any] = {}
    if mode == "LSTM":
        extra["proj_size"] = layer.proj_size
    elif mode != "GRU":
        extra["nonlinearity"] = "tanh" if mode == "RNN_TANH" else "relu"
    return LAYERS[mode](
        layer.input_size,
        layer.hidden_size,
        num_layers=layer.num_layers,
        bias=layer.bias,
        batch_first=layer.batch_first,
        dropout=layer.dropout,
        bidirectional=layer.bidirectional,
        **extra,
    )


def _torch_cell(cell: Any) -> nn.RNNCellBase:
    name = type(cell).__name__
    if name not in CELLS:
        raise ValueError(f"torch has no {name}; it exists only in rnnkit")
    _refuse(name, {option: getattr(cell, option, None) for option in CELL_OPTIONS})
    extra = {"nonlinearity": cell.nonlinearity} if name == "RNNCell" else {}
    return CELLS[name](cell.input_size, cell.hidden_size, bias=cell.bias, **extra)


def _refuse(name: str, options: dict[str, Any]) -> None:
    """A ValueError listing the ``options`` in use (truthy) that torch's module lacks."""
    used = [f"{option}={value!r}" for option, value in options.items() if value]
    if used:
        raise ValueError(
            f"torch.nn.{name} has no {', '.join(used)}; "
            "only a configuration torch has converts to its module"
        )
