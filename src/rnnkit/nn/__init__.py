"""The recurrent building blocks: cells written out from their equations, and layers that run
them over whole, variable-length batches.

* `recurrent_cell` — what every cell shares: its weights as one record (`CellWeights`), torch's
  initialisation, the input and recurrent terms, the `RecurrentCell` base class;
* `cells` — Elman, LSTM, GRU, Jordan, minGRU and minLSTM cells, one class each;
* `recurrent_layer` — `RecurrentLayer`: stacking, directions, padding, state, and the dispatch
  between the two paths below;
* `layers` — the layers, drop-in for ``torch.nn.RNN`` / ``LSTM`` / ``GRU`` plus those torch lacks;
* `native` — the native path: torch's own kernels run on rnnkit's parameters;
* `time_loop` — the loop path: a cell's step through time, with recurrent dropout and zoneout;
* `compiled_loop` — an LSTM's loop path in C++ (``csrc/lstm_loop.cpp``, built on first use),
  forward and hand-derived backward, one matrix product and one fused pass per step;
* `traced_loop` — the loop path as TorchScript while a trace records it (``torch.jit.trace``,
  ONNX export), so the trace keeps a loop that runs any length;
* `locked_dropout` — one dropout mask per sequence between stacked layers (AWD-LSTM), torch's
  kernel run layer by layer for it;
* `scan` — the parallel scan of minGRU / minLSTM;
* `padding` — time-major padded batches, lengths, masks and packing;
* `errors` — the exception classes, each also the class torch raises for the same mistake;
* `torch_modules` — a layer or cell as torch.nn's own module (``to_torch``), and why rnnkit's
  are not subclasses of torch's;
* `quantization` — `quantize_dynamic`: int8 weights for a whole model, rnnkit's layers included.

Imports point inward only: nothing here imports another rnnkit package.
"""

from rnnkit.nn.cells import GRUCell, JordanCell, LSTMCell, MinGRUCell, MinLSTMCell, RNNCell
from rnnkit.nn.errors import ArgumentTypeError, ShapeError
from rnnkit.nn.layers import GRU, LSTM, RNN, JordanRNN, MinGRU, MinLSTM
from rnnkit.nn.quantization import DynamicQuantizedLayer, quantize_dynamic
from rnnkit.nn.recurrent_cell import RecurrentCell
from rnnkit.nn.recurrent_layer import RecurrentLayer

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "ArgumentTypeError",
    "DynamicQuantizedLayer",
    "GRUCell",
    "JordanCell",
    "JordanRNN",
    "LSTMCell",
    "MinGRU",
    "MinGRUCell",
    "MinLSTM",
    "MinLSTMCell",
    "RNNCell",
    "RecurrentCell",
    "RecurrentLayer",
    "ShapeError",
    "quantize_dynamic",
]
