"""The config sections that the tasks learning from labelled examples (``classify``, ``tag``)
share: the recurrent encoder's ``model.*`` keys and the vocabulary's ``data.*`` keys. Each task
subclasses them, adding its own keys and, where it needs, its own defaults."""

from __future__ import annotations

from pydantic import Field

from rnnkit.models.recurrent import CellName
from rnnkit.train.config import ConfigModel, PositiveInt, Rate, RunConfig


class EncoderConfig(ConfigModel):
    """Embedding and recurrent layers: the ``model.*`` keys every such task has."""

    cell: CellName = Field(default="lstm", description="Recurrent cell.")
    embedding_dim: PositiveInt = Field(default=128, description="Token embedding size.")
    hidden_size: PositiveInt = Field(default=128, description="Recurrent state size per direction.")
    num_layers: PositiveInt = Field(default=1, description="Stacked recurrent layers.")
    dropout: Rate = Field(default=0.3, description="Dropout on the inputs, between layers, after.")
    layer_norm: bool = Field(default=False, description="Layer-normalised cells (rnn, lstm, gru).")
    forget_bias: float | None = Field(default=1.0, description="Initial forget-gate bias.")
    embeddings: str | None = Field(
        default=None, description="Pretrained vectors (word2vec text/binary, GloVe) to start from."
    )
    freeze_embeddings: bool = Field(default=False, description="Keep the embeddings fixed.")


class VocabularyConfig(ConfigModel):
    """The tokens and the held-out split: the ``data.*`` keys every such task has."""

    vocab_size: PositiveInt | None = Field(default=None, description="Vocabulary size cap.")
    lowercase: bool = Field(default=False, description="Look tokens up lower-cased.")
    normalize_digits: bool = Field(default=False, description="Replace every digit by 0.")
    min_freq: PositiveInt = Field(default=1, description="Rarer tokens become <unk>.")
    valid_fraction: Rate = Field(
        default=0.1, description="Share held out for validation when no --valid is given."
    )
    bucket: bool = Field(
        default=True,
        description="Draw training batches from pools of similar length (less padding).",
    )


class LabelledRunConfig(RunConfig):
    """A run of such a task; the task's config narrows `model` and `data` to its own."""

    model: EncoderConfig = Field(default_factory=EncoderConfig, description="The model.")
    data: VocabularyConfig = Field(default_factory=VocabularyConfig, description="The data.")
