"""The config of a sketch-generation run (``rnnkit train sketch``): the ``model.*``, ``data.*``
and ``train.*`` keys.

The defaults are smaller than the paper's (encoder 256, decoder 512, ``N_z`` 128) so that a
model trains usefully on two CPU cores; the paper's sizes are one ``--set`` each away.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from rnnkit.models.recurrent import CellName
from rnnkit.train.config import (
    ConfigModel,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Rate,
    RunConfig,
    TrainConfig,
)


class SketchModelConfig(ConfigModel):
    """Sketch-RNN: the ``model.*`` keys."""

    cell: CellName = Field(default="lstm", description="Recurrent cell of encoder and decoder.")
    conditional: bool = Field(
        default=True,
        description="Encode each sketch to a latent z (the VAE); false: the decoder alone "
        "(unconditional), as does model.latent_size=0.",
    )
    latent_size: NonNegativeInt = Field(
        default=64, description="N_z, the latent vector's size (paper: 128)."
    )
    encoder_size: PositiveInt = Field(
        default=128, description="State size of each encoder direction (paper: 256)."
    )
    hidden_size: PositiveInt = Field(
        default=256, description="State size of the decoder (paper: 512)."
    )
    num_mixtures: PositiveInt = Field(
        default=20, description="M, bivariate normals in the offsets' mixture (paper: 20)."
    )
    num_layers: PositiveInt = Field(default=1, description="Stacked layers of encoder and decoder.")
    dropout: Rate = Field(
        default=0.1, description="Dropout on the decoder's output (and between layers)."
    )
    layer_norm: bool = Field(default=False, description="Layer-normalised cells (rnn, lstm, gru).")
    forget_bias: float | None = Field(default=1.0, description="Initial forget-gate bias.")

    @property
    def latent(self) -> int:
        """N_z as built: 0 for an unconditional model."""
        return self.latent_size if self.conditional else 0


class SketchDataConfig(ConfigModel):
    """The sketches: the ``data.*`` keys."""

    max_length: PositiveInt = Field(
        default=250,
        description="Sketches of more points are dropped (the count is logged); drawings stop "
        "at this many points.",
    )
    augment: Annotated[float, Field(strict=True, ge=0, lt=1)] = Field(
        default=0.15,
        description="Training only: dx and dy each scaled by a random factor in "
        "[1 - augment, 1 + augment] (0: off).",
    )
    valid_fraction: Rate = Field(
        default=0.1,
        description="Share held out for validation when the data has no validation split.",
    )


class SketchTrainConfig(TrainConfig):
    """Training: the ``train.*`` keys, with the paper's KL schedule."""

    batch_size: PositiveInt = Field(default=100, description="Sketches per batch.")
    lr: PositiveFloat = Field(default=1e-3, description="Peak learning rate.")
    kl_weight: NonNegativeFloat = Field(
        default=0.5, description="w_KL, the weight of the KL term once annealed."
    )
    kl_min: NonNegativeFloat = Field(
        default=0.2, description="KL_min: the KL term is max(KL, kl_min), per latent dimension."
    )
    kl_anneal_rate: Annotated[float, Field(strict=True, gt=0, le=1)] = Field(
        default=0.999,
        description="R: the KL weight is w_KL · (1 - (1 - kl_anneal_min) · R^step) (1: no "
        "annealing; the paper's 0.99995 suits runs of 100k+ steps, not a CPU's few thousand).",
    )
    kl_anneal_min: Annotated[float, Field(strict=True, ge=0, le=1)] = Field(
        default=0.01, description="η_min, the share of w_KL at step 0."
    )


class SketchConfig(RunConfig):
    """The config of a sketch-generation run."""

    task: Literal["sketch"] = "sketch"
    train: SketchTrainConfig = Field(default_factory=SketchTrainConfig, description="Training.")
    model: SketchModelConfig = Field(default_factory=SketchModelConfig, description="Model.")
    data: SketchDataConfig = Field(default_factory=SketchDataConfig, description="Data.")
