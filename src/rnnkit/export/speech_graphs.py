"""The speech recogniser's export: one graph from raw audio, the features included.

- ``speech`` (``model.onnx``): ``(audio (N, S), lengths (N,)) -> (log_probs (N, T', C),
  frame_lengths (N,))`` for a CTC model, ``(log_probs (N, C), frame_lengths (N,))`` for one
  that labels whole utterances. ``audio`` is the padded batch of waveforms at the run's sample
  rate (floats in [-1, 1], anything past each row's ``lengths`` samples); ``log_probs[b, t]``
  are the log-probabilities of the symbols at output frame ``t < frame_lengths[b]`` (later
  frames are padding). The symbols no transcript holds (unknown, begin and end) have
  ``-inf``, as the library's decoders give them.

The log-mel (or MFCC) features are computed inside the graph as the model computes them, so
a runtime feeds raw audio: the power spectrogram is ONNX's ``STFT`` operator (opset 17), run
in float64 (`rnnkit.models.speech_features`), the mel filterbank a matrix product. The feature
settings are in the facts all the same, for reference. The export's own check reports how
far the graph's log-probabilities are from the model's; synthetic tones, whose spectra hold
bands of almost no energy, come closest to the tolerance, since the log-mel of those bands is
at the limit of float32 FFTs, torch's own.

Greedy CTC decoding of the output, as ``rnnkit transcribe --beam 1`` does it: the most probable
symbol of each real frame, runs of one symbol merged, then the blank (id 0) dropped; the
remaining ids are the tokenizer's (`rnnkit.models.ctc_decoding.ctc_greedy`).
"""

from __future__ import annotations

from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data.tokenizers import Tokenizer
from rnnkit.export.facts import tokenizer_facts
from rnnkit.export.graph import BATCH, ExportPlan, Graph, Port, random_lengths
from rnnkit.models.speech import SpeechRecognizer
from rnnkit.models.speech_features import LogMel
from rnnkit.tasks.runs import LoadedRun
from rnnkit.tasks.speech import SpeechRecognition
from rnnkit.tasks.speech_decoding import BLANK

SAMPLES, FRAMES = "samples", "frames"


class RecognizerGraph(nn.Module):
    """`SpeechRecognizer.forward` with log-probabilities out (``never``: the symbols set to
    ``-inf``)."""

    never: Tensor

    def __init__(self, model: SpeechRecognizer, never: list[int]) -> None:
        super().__init__()
        self.model = model
        classes = model.classifier.out_features
        self.register_buffer(
            "never", torch.isin(torch.arange(classes), torch.tensor(never, dtype=torch.long))
        )

    def forward(self, audio: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        scores, frame_lengths = self.model(audio, lengths)
        log_probs = F.log_softmax(scores.float(), dim=-1)
        return log_probs.masked_fill(self.never, float("-inf")), frame_lengths


def plan(run: LoadedRun) -> ExportPlan:
    """The graph of a speech run, with its symbols (or labels) and feature settings."""
    task = cast(SpeechRecognition, run.task)
    model = cast(SpeechRecognizer, run.model)
    features = model.features
    per_frame = features.hop_length * model.subsample  # samples per output frame
    ctc = task.tokenizer is not None
    never = _never_written(task.tokenizer) if task.tokenizer is not None else []
    classes = model.classifier.out_features

    def example(batch: int, length: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        # ``length`` output frames of audio; rows of mixed lengths, not whole frames, with
        # noise past them (which the model must ignore)
        lengths = random_lengths(batch, length, generator) * per_frame
        lengths[1:] -= torch.randint(0, per_frame, (batch - 1,), generator=generator)
        audio = 0.1 * torch.randn(batch, length * per_frame, generator=generator)
        return audio, lengths.clamp(min=1)

    scores_shape: tuple[int | str, ...] = (BATCH, FRAMES, classes) if ctc else (BATCH, classes)
    graph = Graph(
        name="speech",
        doc="a padded batch of waveforms -> log-probabilities of the symbols of every frame"
        if ctc
        else "a padded batch of waveforms -> log-probabilities of the labels",
        module=RecognizerGraph(model, never),
        inputs=(
            Port("audio", (BATCH, SAMPLES), "float32", "waveforms at sample_rate, padded"),
            Port("lengths", (BATCH,), "int64", "the number of real samples of each row, >= 1"),
        ),
        outputs=(
            Port(
                "log_probs",
                scores_shape,
                "float32",
                "log p(symbol) per frame; -inf: never written (blank = 0)"
                if ctc
                else "log p(label) per utterance",
            ),
            Port("frame_lengths", (BATCH,), "int64", "the number of real output frames per row"),
        ),
        example=example,
    )
    return ExportPlan([graph], _facts(task, features))


def _never_written(tokenizer: Tokenizer) -> list[int]:
    """The symbols no transcript holds, as `rnnkit.tasks.speech_decoding` masks them."""
    return [tokenizer.unk_id, tokenizer.bos_id, tokenizer.eos_id]


def _facts(task: SpeechRecognition, features: LogMel) -> dict[str, Any]:
    data = task.config.data
    facts: dict[str, Any] = {
        "output": "ctc" if task.tokenizer is not None else "classify",
        "sample_rate": data.sample_rate,
        "features": {
            "in_graph": True,
            "kind": data.features,
            "n_fft": features.n_fft,
            "hop_length": features.hop_length,
            "window": "periodic hann",
            "center": "zero padding of n_fft // 2 on both sides",
            "n_mels": data.n_mels,
            "mel_scale": "slaney (librosa's default), unit-area filters",
            "log": "ln(mel + floor)" if not features.mfcc else "10 log10 max(mel, floor), DCT-II",
            "floor": features.floor,
            "n_mfcc": features.mfcc,
            "top_db": features.top_db if features.mfcc else None,
            "normalise": data.normalise,
        },
    }
    if task.tokenizer is None:
        return facts | {"labels": task.labels, "decode": "the label of the largest log_prob"}
    tokenizer = task.tokenizer
    return facts | {
        "symbols": [tokenizer.id_to_token(i) for i in range(tokenizer.vocab_size)],
        "blank_id": BLANK,
        "decode": (
            "CTC greedy: the argmax symbol of every real frame, runs of one symbol merged, then "
            "the blank dropped; the tokenizer decodes the ids left"
        ),
        "tokenizer": tokenizer_facts(tokenizer),
    }
