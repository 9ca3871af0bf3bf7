"""rnnkit: recurrent neural networks for PyTorch."""

from importlib.metadata import version as _version

__version__ = _version("rnnkit")
