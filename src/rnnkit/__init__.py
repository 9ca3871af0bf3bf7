"""rnnkit: recurrent neural networks for PyTorch.

Cells written out from their equations, layers that run them over variable-length batches as
fast as torch's native kernels, and trained models for the jobs RNNs do.
"""

from importlib.metadata import version as _version

from rnnkit import nn
from rnnkit.nn import *  # noqa: F403  (the cells and layers: rnnkit.LSTM, rnnkit.GRUCell, ...)

__version__ = _version("rnnkit")

__all__ = [*nn.__all__, "__version__"]
