"""Models for the jobs RNNs do, built from rnnkit's layers, and the task registry."""

from rnnkit.models.language_model import LanguageModel
from rnnkit.models.recurrent import CELLS, build_recurrent

__all__ = ["CELLS", "LanguageModel", "build_recurrent"]
