"""Models for the jobs RNNs do, built from rnnkit's layers: `LanguageModel`,
`SequenceClassifier`, `SequenceTagger` (with `CRF`), and the recurrent core they share."""

from rnnkit.models.classifier import SequenceClassifier
from rnnkit.models.crf import CRF
from rnnkit.models.language_model import LanguageModel
from rnnkit.models.recurrent import CELLS, build_recurrent
from rnnkit.models.tagger import SequenceTagger

__all__ = [
    "CELLS",
    "CRF",
    "LanguageModel",
    "SequenceClassifier",
    "SequenceTagger",
    "build_recurrent",
]
