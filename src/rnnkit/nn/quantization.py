"""Dynamic int8 quantisation of models built on rnnkit: one call, nothing left float silently.

``torch.ao.quantization.quantize_dynamic(model, {nn.LSTM})`` finds modules by their exact type,
so it passes rnnkit's layers by (`rnnkit.nn.torch_modules` says why they are not subclasses).
`quantize_dynamic` here converts them first: every rnnkit LSTM / GRU layer becomes a
`DynamicQuantizedLayer` — torch's dynamically quantised kernel (int8 weights, activations
quantised on the fly, CPU) behind rnnkit's call signature, ``lengths=`` included — and every
rnnkit LSTM / GRU / Elman cell its torch twin; then torch quantises those and every
``nn.Linear``. A recurrent module that torch cannot quantise (layer norm, peepholes, a
projection, zoneout, an Elman layer, Jordan, minGRU, minLSTM) is a ValueError naming it.

Recurrent dropout and weight drop do nothing in evaluation, so they do not stand in the way;
a quantised model is for inference only. Activations are quantised with each batch's own
range, so a row's outputs move slightly (about 1e-2 here) with the rows batched beside it;
padding never enters that range.
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.nn.recurrent_cell import RecurrentCell
from rnnkit.nn.recurrent_layer import RecurrentLayer
from rnnkit.nn.torch_modules import to_torch

# the modules torch has dynamically quantised versions of, and the weight types it offers
QUANTISABLE = {nn.Linear, nn.LSTM, nn.GRU, nn.LSTMCell, nn.GRUCell, nn.RNNCell}
DTYPES = (torch.qint8, torch.float16)


def _torch_quantize(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    """torch's eager dynamic quantisation of ``model`` (in place), its deprecation notice (a
    pointer to torchao, which has no quantised LSTM) silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, QUANTISABLE, dtype, inplace=True)


class DynamicQuantizedLayer(nn.Module):
    """An rnnkit LSTM or GRU layer on torch's dynamically quantised kernel.

    Called as the layer was: ``(input, hx=None, lengths=None) -> (output, state)``, with the
    same shapes and ``batch_first``; with ``lengths`` the batch is packed, so padding never
    reaches a real output or the final state, and padded outputs are 0.
    """

    def __init__(self, layer: RecurrentLayer, dtype: torch.dtype = torch.qint8) -> None:
        super().__init__()
        if layer._native_mode() not in ("LSTM", "GRU"):
            raise ValueError(f"torch has no dynamically quantised {type(layer).__name__} layer")
        if layer.proj_size:
            raise ValueError("torch's dynamically quantised LSTM has no proj_size")
        holder = nn.Sequential(to_torch(layer, inference=True).float().eval())
        self.layer = _torch_quantize(holder, dtype).get_submodule("0")
        self.batch_first = layer.batch_first
        self.hidden_size = layer.hidden_size
        self.out_features = layer.out_features
        self.state_shape = (layer.num_layers * layer.num_directions, layer.hidden_size)
        self.state_parts = 2 if layer._native_mode() == "LSTM" else 1

    def forward(
        self,
        input: Tensor | PackedSequence,
        hx: Tensor | tuple[Tensor, ...] | None = None,
        lengths: Tensor | list[int] | None = None,
    ) -> tuple[Tensor | PackedSequence, Tensor | tuple[Tensor, ...]]:
        if lengths is None or isinstance(input, PackedSequence):
            return self.layer(input, hx)
        steps = input.shape[1 if self.batch_first else 0]
        packed = pack_padded_sequence(
            input, torch.as_tensor(lengths).cpu(), self.batch_first, enforce_sorted=False
        )
        output, state = self.layer(packed, hx)
        return pad_packed_sequence(output, self.batch_first, total_length=steps)[0], state

    def initial_state(self, batch_size: int) -> Tensor | tuple[Tensor, ...]:
        """The zero state for ``batch_size`` sequences, as the float layer gives it."""
        rows, size = self.state_shape
        zeros = tuple(torch.zeros(rows, batch_size, size) for _ in range(self.state_parts))
        return zeros if self.state_parts == 2 else zeros[0]


def quantize_dynamic(model: nn.Module, dtype: torch.dtype = torch.qint8) -> nn.Module:
    """A copy of ``model`` in evaluation mode with int8 (``dtype``) weights in its rnnkit LSTM /
    GRU layers and cells and its ``nn.Linear`` layers, for CPU inference.

    Raises:
        ValueError: listing every rnnkit recurrent module torch cannot quantise, by name; or
            for a ``dtype`` other than ``torch.qint8`` and ``torch.float16``.
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be torch.qint8 or torch.float16, got {dtype}")
    quantized = copy.deepcopy(model).float().eval()
    replacements: dict[str, nn.Module] = {}
    refused: list[str] = []
    for name, module in quantized.named_modules():
        inside_replaced = any(name.startswith(f"{outer}.") for outer in replacements if outer)
        if not isinstance(module, RecurrentLayer | RecurrentCell) or inside_replaced:
            continue
        try:
            replacements[name] = (
                DynamicQuantizedLayer(module, dtype)
                if isinstance(module, RecurrentLayer)
                else to_torch(module)
            )
        except ValueError as error:
            refused.append(f"{name or type(module).__name__}: {error}")
    if refused:
        raise ValueError("cannot quantise " + "; ".join(refused))
    if "" in replacements:  # the model is itself a layer or a cell
        quantized = replacements.pop("")
    for name, replacement in replacements.items():
        parent, _, child = name.rpartition(".")
        setattr(quantized.get_submodule(parent), child, replacement)
    return _torch_quantize(quantized, dtype)
