"""rnnkit: recurrent neural networks for PyTorch.

Cells written out from their equations, layers that run them over variable-length batches as
fast as torch's fused kernels, and trained models for the jobs RNNs do.
"""

from importlib.metadata import version as _version

from rnnkit.cells import GRUCell, JordanCell, LSTMCell, MinGRUCell, MinLSTMCell, RNNCell
from rnnkit.layers import GRU, LSTM, RNN, JordanRNN, MinGRU, MinLSTM

__version__ = _version("rnnkit")

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "GRUCell",
    "JordanCell",
    "JordanRNN",
    "LSTMCell",
    "MinGRU",
    "MinGRUCell",
    "MinLSTM",
    "MinLSTMCell",
    "RNNCell",
    "__version__",
]
