"""The speech recogniser: waveform in, per-frame symbol scores (CTC) or one label out.

    waveform (B, S) -> log-mel or MFCC (B, T, F)          `rnnkit.models.speech_features`
      -> normalisation (per utterance, or global statistics of the training set)
      -> SpecAugment time / frequency masks (training only)
      -> frame stacking: T / k frames of k·F features    (``subsample`` k)
      -> optional 1-D convolution over time + ReLU       (``conv``)
      -> stacked bidirectional rnnkit layers (any cell; ``lengths`` keep padding out)
      -> linear: (B, T/k, C) scores per frame for CTC over the symbols plus the blank,
         or, pooled (mean over the real frames), (B, C) scores of one label per utterance

The CTC loss (Graves et al. 2006) sums over every alignment of the transcript to the frames, so
no frame-level labels are needed: the recipe of DeepSpeech-style recognisers (Hannun et al.
2014). Features are computed inside the model, so a saved model takes raw audio.
"""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

from rnnkit.models.pooling import mean_pool, step_mask
from rnnkit.models.recurrent import build_recurrent
from rnnkit.models.speech_features import (
    GlobalNorm,
    LogMel,
    SpecAugment,
    normalise_utterance,
    stack_frames,
)

SpeechOutput = Literal["ctc", "classify"]


class SpeechRecognizer(nn.Module):
    """See the module docstring.

    Args:
        features: the feature extractor (its ``out_features`` F per frame).
        num_classes: C, symbols (the blank included) for CTC, or labels to classify.
        output: ``ctc`` (scores per frame) or ``classify`` (one label per utterance).
        normalise: ``utterance`` (each utterance's own mean and deviation) or ``global``
            (statistics fitted on the training set with `GlobalNorm.fit`).
        spec_augment: the masks applied in training, or None.
        subsample: k, frames stacked into one.
        conv: a 1-D convolution (kernel 3) over time before the recurrent layers.
        cell, hidden_size, num_layers, dropout, layer_norm: the bidirectional recurrent stack.

    Shapes: ``forward(waveform (B, S), lengths (B,)) -> (scores, frame_lengths (B,))`` with
    scores ``(B, T', C)`` for CTC and ``(B, C)`` for classify.
    """

    def __init__(
        self,
        features: LogMel,
        num_classes: int,
        *,
        output: SpeechOutput = "ctc",
        normalise: Literal["utterance", "global"] = "utterance",
        spec_augment: SpecAugment | None = None,
        subsample: int = 2,
        conv: bool = False,
        cell: str = "lstm",
        hidden_size: int = 256,
        num_layers: int = 3,
        dropout: float = 0.2,
        layer_norm: bool = False,
    ) -> None:
        super().__init__()
        self.features, self.output_kind, self.subsample = features, output, subsample
        self.global_norm = GlobalNorm(features.num_features) if normalise == "global" else None
        self.spec_augment = spec_augment
        width = features.num_features * subsample
        self.conv = nn.Conv1d(width, hidden_size, 3, padding=1) if conv else None
        self.rnn = build_recurrent(
            cell,
            hidden_size if conv else width,
            hidden_size,
            num_layers=num_layers,
            dropout=dropout,
            bidirectional=True,
            layer_norm=layer_norm,
        )
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(2 * hidden_size, num_classes)

    def frames(self, waveform: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """The normalised (and, in training, masked) features (B, T, F) and frame counts."""
        feats, frame_lengths = self.features(waveform, lengths)
        if self.global_norm is not None:
            feats = self.global_norm(feats, frame_lengths)
        else:
            feats = normalise_utterance(feats, frame_lengths)
        if self.spec_augment is not None:
            feats = self.spec_augment(feats, frame_lengths)
        return feats, frame_lengths

    def forward(self, waveform: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        feats, frame_lengths = self.frames(waveform, lengths)
        x, frame_lengths = stack_frames(feats, frame_lengths, self.subsample)  # (B, T', kF)
        frame_lengths = frame_lengths.clamp(min=1)
        if self.conv is not None:
            x = self.conv(x.transpose(1, 2)).relu().transpose(1, 2)  # (B, T', H)
        outputs, _ = self.rnn(self.dropout(x), lengths=frame_lengths)  # (B, T', 2H)
        outputs = self.dropout(outputs)
        if self.output_kind == "classify":
            pooled = mean_pool(outputs, step_mask(frame_lengths, outputs.shape[1]))
            return self.classifier(pooled), frame_lengths
        return self.classifier(outputs), frame_lengths
