"""The speech recogniser: waveform in, per-frame symbol scores (CTC) or one label out.

    waveform (B, S) -> log-mel or MFCC (B, T, F)          `rnnkit.models.speech_features`
      -> normalisation (per utterance, or global statistics of the training set)
      -> SpecAugment time / frequency masks (training only)
      -> frame stacking: T / k frames of k·F features    (``subsample`` k)
      -> optional convolutional front end                (``conv``: 1d over time, or 2d
                                                             over time and features)
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
ConvName = Literal["none", "1d", "2d"]
CHANNELS_2D = 32


class ConvFrontEnd(nn.Module):
    """Convolutions before the recurrent layers, the time resolution kept.

    - ``1d``: ``relu(Conv1d(x))`` over time, kernel 3, ``D -> H`` channels;
    - ``2d``: two ``relu(Conv2d)`` layers over (time, feature), 3 x 3 kernels, 32 channels,
      stride 2 along the features only (as the front ends of DeepSpeech 2, Amodei et al.
      2016), flattened to ``32 · ceil(ceil(D / 2) / 2)`` features per frame.

    Padded frames are set to 0 after every layer, so they reach no real frame's output: a
    batch gives each recording what it gives alone. Shapes: ``(B, T, D), lengths (B,) ->
    (B, T, out_features)``.
    """

    def __init__(self, kind: ConvName, in_features: int, hidden_size: int) -> None:
        super().__init__()
        self.kind = kind
        if kind == "1d":
            self.layers = nn.ModuleList([nn.Conv1d(in_features, hidden_size, 3, padding=1)])
            self.out_features = hidden_size
        else:
            first = nn.Conv2d(1, CHANNELS_2D, 3, stride=(1, 2), padding=1)
            second = nn.Conv2d(CHANNELS_2D, CHANNELS_2D, 3, stride=(1, 2), padding=1)
            self.layers = nn.ModuleList([first, second])
            self.out_features = CHANNELS_2D * (((in_features + 1) // 2 + 1) // 2)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        real = step_mask(lengths, x.shape[1])  # (B, T)
        if self.kind == "1d":
            y = self.layers[0](x.transpose(1, 2)).relu().transpose(1, 2)  # (B, T, H)
            return y * real.unsqueeze(-1)
        y = x.unsqueeze(1)  # (B, 1, T, D)
        for layer in self.layers:
            y = layer(y).relu() * real[:, None, :, None]  # (B, C, T, D')
        return y.permute(0, 2, 1, 3).flatten(2)  # (B, T, C·D')


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
        conv: the front end before the recurrent layers: ``none``, ``1d`` or ``2d``
            (`ConvFrontEnd`).
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
        conv: ConvName = "none",
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
        self.conv = None if conv == "none" else ConvFrontEnd(conv, width, hidden_size)
        self.rnn = build_recurrent(
            cell,
            width if self.conv is None else self.conv.out_features,
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

    @property
    def min_samples(self) -> int:
        """The fewest samples that make one output frame: ``1 + n // hop`` feature frames,
        stacked ``k`` at a time, give ``(1 + n // hop) // k >= 1`` when ``n >= (k − 1)·hop``."""
        return (self.subsample - 1) * self.features.hop_length

    def forward(self, waveform: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        feats, frame_lengths = self.frames(waveform, lengths)
        x, frame_lengths = stack_frames(feats, frame_lengths, self.subsample)  # (B, T', kF)
        frame_lengths = frame_lengths.clamp(min=1)
        if self.conv is not None:
            x = self.conv(x, frame_lengths)  # (B, T', D)
        outputs, _ = self.rnn(self.dropout(x), lengths=frame_lengths)  # (B, T', 2H)
        outputs = self.dropout(outputs)
        if self.output_kind == "classify":
            pooled = mean_pool(outputs, step_mask(frame_lengths, outputs.shape[1]))
            return self.classifier(pooled), frame_lengths
        return self.classifier(outputs), frame_lengths
