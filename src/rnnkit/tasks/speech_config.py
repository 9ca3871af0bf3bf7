"""The config of a speech-recognition run (``rnnkit train speech``): the ``model.*``,
``data.*``, ``decode.*`` and ``train.*`` keys."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from rnnkit.models.recurrent import CellName
from rnnkit.models.speech import ConvName
from rnnkit.train.config import (
    ConfigModel,
    PositiveFloat,
    PositiveInt,
    Rate,
    RunConfig,
    TrainConfig,
)


def _conv_name(value: Any) -> Any:
    """``true`` / ``false``, as runs saved before ``2d`` existed wrote it, read as 1d / none."""
    return {True: "1d", False: "none"}.get(value, value) if isinstance(value, bool) else value


class SpeechModelConfig(ConfigModel):
    """The recogniser: the ``model.*`` keys."""

    cell: CellName = Field(default="lstm", description="Recurrent cell.")
    hidden_size: PositiveInt = Field(default=256, description="State size per direction.")
    num_layers: PositiveInt = Field(default=3, description="Stacked bidirectional layers.")
    dropout: Rate = Field(
        default=0.2, description="Dropout on the features, between layers, after."
    )
    layer_norm: bool = Field(default=False, description="Layer-normalised cells (rnn, lstm, gru).")
    subsample: PositiveInt = Field(default=2, description="Frames stacked into one (k).")
    conv: Annotated[ConvName, BeforeValidator(_conv_name)] = Field(
        default="none",
        description="Front end: none, 1d (over time) or 2d (over time and features).",
    )
    output: Literal["auto", "ctc", "classify"] = Field(
        default="auto",
        description="ctc (transcripts), classify (one label per utterance), or auto: classify "
        "when every training transcript is one word.",
    )


class SpeechDataConfig(ConfigModel):
    """The audio, its features and its transcripts: the ``data.*`` keys."""

    sample_rate: PositiveInt = Field(default=16000, description="Audio is resampled to this.")
    label_pattern: str | None = Field(
        default=None,
        description="For a folder of wav files: a regular expression whose first group is a "
        "file's transcript, e.g. '^(\\d)_'.",
    )
    tokenizer: Literal["char", "word", "whitespace", "bpe"] = Field(
        default="char", description="Output symbols of CTC."
    )
    vocab_size: PositiveInt | None = Field(default=None, description="bpe: its size.")
    lowercase: bool = Field(default=True, description="Lower-case transcripts.")
    punctuation: Literal["strip", "keep"] = Field(
        default="strip", description="Remove punctuation (apostrophes kept) from transcripts."
    )
    features: Literal["logmel", "mfcc"] = Field(default="logmel", description="Features.")
    n_mels: PositiveInt = Field(default=80, description="Mel bands.")
    n_mfcc: PositiveInt = Field(default=13, description="MFCC coefficients (features=mfcc).")
    window_ms: PositiveFloat = Field(default=25.0, description="Analysis window, ms.")
    hop_ms: PositiveFloat = Field(default=10.0, description="Frame shift, ms.")
    normalise: Literal["utterance", "global"] = Field(
        default="utterance", description="Mean / variance normalisation of the features."
    )
    spec_augment: bool = Field(default=True, description="Time and frequency masks in training.")
    valid_fraction: Rate = Field(
        default=0.1, description="Share held out for validation when no --valid is given."
    )
    bucket: bool = Field(default=True, description="Batches of utterances of similar length.")


class SpeechDecodeConfig(ConfigModel):
    """How transcripts are searched for: the ``decode.*`` keys."""

    beam_size: PositiveInt = Field(default=8, description="Beam of transcribe and evaluate.")
    eval_beam_size: PositiveInt = Field(
        default=1, description="Beam of the evaluations during training (1: greedy)."
    )
    words: str | None = Field(
        default=None, description="A word list file: the beam search writes only these words."
    )


class SpeechTrainConfig(TrainConfig):
    """Training: the ``train.*`` keys, with defaults for utterances."""

    batch_size: PositiveInt = Field(default=16, description="Utterances per batch.")
    lr: PositiveFloat = Field(default=1e-3, description="Peak learning rate.")


class SpeechConfig(RunConfig):
    """The config of a speech-recognition run."""

    task: Literal["speech"] = "speech"
    train: SpeechTrainConfig = Field(default_factory=SpeechTrainConfig, description="Training.")
    model: SpeechModelConfig = Field(default_factory=SpeechModelConfig, description="Model.")
    data: SpeechDataConfig = Field(default_factory=SpeechDataConfig, description="Data.")
    decode: SpeechDecodeConfig = Field(default_factory=SpeechDecodeConfig, description="Decoding.")
