"""The config of a conditional-generation run (``rnnkit train generate``): the model's and the
data's keys beside the trainer's."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rnnkit.tasks.encoder_config import EncoderConfig, LabelledRunConfig, VocabularyConfig
from rnnkit.train.config import PositiveInt, Rate


class GenerateModelConfig(EncoderConfig):
    """The conditioned language model: the ``model.*`` keys."""

    embedding_dim: PositiveInt = Field(default=64, description="Token embedding size.")
    hidden_size: PositiveInt = Field(default=256, description="Recurrent state size.")
    dropout: Rate = Field(
        default=0.1, description="Dropout on the embeddings, between layers, after."
    )
    condition: Literal["input", "init", "both"] = Field(
        default="input",
        description="How the condition enters: beside every input token, as the initial "
        "state, or both.",
    )
    condition_dim: PositiveInt = Field(
        default=16, description="Embedding size of each condition field's values."
    )


class GenerateDataConfig(VocabularyConfig):
    """The texts, their conditions and their tokens: the ``data.*`` keys."""

    tokenizer: Literal["char", "word", "whitespace", "bpe"] = Field(
        default="char", description="Token unit."
    )
    text_field: str = Field(default="text", description="CSV/TSV column or JSON key of the text.")
    fields: list[str] = Field(
        default_factory=lambda: ["label"],
        min_length=1,
        description="The condition fields: CSV/TSV columns or JSON keys (a .txt file's name "
        "is the one field's value).",
    )
    max_length: PositiveInt | None = Field(
        default=200, description="Tokens kept per text (the rest is cut; null: all)."
    )


class GenerateConfig(LabelledRunConfig):
    """The config of a conditional-generation run."""

    task: Literal["generate"] = "generate"
    model: GenerateModelConfig = Field(default_factory=GenerateModelConfig, description="Model.")
    data: GenerateDataConfig = Field(default_factory=GenerateDataConfig, description="Data.")
