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
* `scan` — the parallel scan of minGRU / minLSTM;
* `padding` — time-major padded batches, lengths, masks and packing;
* `errors` — the exception classes, each also the class torch raises for the same mistake.

Imports point inward only: nothing here imports another rnnkit package.
"""

from rnnkit.nn.cells import GRUCell, JordanCell, LSTMCell, MinGRUCell, MinLSTMCell, RNNCell
from rnnkit.nn.errors import ArgumentTypeError, ShapeError
from rnnkit.nn.layers import GRU, LSTM, RNN, JordanRNN, MinGRU, MinLSTM
from rnnkit.nn.recurrent_cell import RecurrentCell
from rnnkit.nn.recurrent_layer import RecurrentLayer

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "ArgumentTypeError",
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
]
