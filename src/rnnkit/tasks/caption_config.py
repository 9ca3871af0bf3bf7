"""The config of an image-captioning run (``rnnkit train caption``): the ``model.*``,
``data.*``, ``decode.*`` and ``train.*`` keys."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rnnkit.data.images import IMAGENET_MEAN, IMAGENET_STD
from rnnkit.train.config import (
    ConfigModel,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    Rate,
    RunConfig,
    TrainConfig,
)

BUILTIN_IMAGE_SIZE, PHOTO_IMAGE_SIZE = 64, 224


class CaptionModelConfig(ConfigModel):
    """The image encoder and the caption decoder: the ``model.*`` keys."""

    encoder: Literal["small", "resnet18", "resnet34"] = Field(
        default="small",
        description="small (a CNN trained from scratch), resnet18 or resnet34 (torchvision's "
        "architecture; start it from torchvision weights with model.encoder_weights).",
    )
    encoder_channels: list[PositiveInt] = Field(
        default=[32, 64, 128], min_length=1, description="small: channels of each conv block."
    )
    encoder_weights: str | None = Field(
        default=None,
        description="A weights file for the encoder (torch.save state dict or .safetensors, "
        "e.g. torchvision's resnet18); fc.* keys are dropped.",
    )
    freeze_encoder: bool = Field(
        default=False, description="Keep the encoder fixed (no gradient, BatchNorm in eval mode)."
    )
    cell: Literal["lstm", "gru"] = Field(default="lstm", description="Decoder cell.")
    embedding_dim: PositiveInt = Field(default=128, description="Word embedding size.")
    hidden_size: PositiveInt = Field(default=256, description="Decoder and annotation size.")
    attention: Literal["soft", "none"] = Field(
        default="soft",
        description="soft (Show, Attend and Tell) or none (Show and Tell: the image is the "
        "first input).",
    )
    attention_size: PositiveInt | None = Field(
        default=None, description="Hidden size of the attention scores (null: hidden_size)."
    )
    attention_reg: NonNegativeFloat = Field(
        default=0.0,
        description="λ of the doubly stochastic attention regulariser λ Σ_i (1 - Σ_t α_ti)², "
        "per caption (0: off; with fewer words than regions it cannot reach 0 and outweighs "
        "the words' loss at λ = 1).",
    )
    dropout: Rate = Field(default=0.3, description="Dropout before the output layer.")


class CaptionDataConfig(ConfigModel):
    """The images, their captions and the vocabulary: the ``data.*`` keys."""

    images: str | None = Field(
        default=None,
        description="Folder the captions file's image names are relative to (null: Images/ "
        "beside the captions file if it exists, else the captions file's folder).",
    )
    skip_missing: bool = Field(
        default=False, description="Leave out captions whose image file is missing."
    )
    image_size: PositiveInt | None = Field(
        default=None,
        description=f"Images are resized to this square (null: {BUILTIN_IMAGE_SIZE} for "
        f"builtin:scenes, {PHOTO_IMAGE_SIZE} for image files).",
    )
    mean: tuple[float, float, float] = Field(
        default=IMAGENET_MEAN, description="Per-channel mean (0-1 scale)."
    )
    std: tuple[PositiveFloat, PositiveFloat, PositiveFloat] = Field(
        default=IMAGENET_STD, description="Per-channel standard deviation (0-1 scale)."
    )
    lowercase: bool = Field(default=True, description="Lower-case captions.")
    min_freq: PositiveInt = Field(
        default=5, description="Rarer training words become <unk> (Karpathy & Fei-Fei 2015: 5)."
    )
    vocab_size: PositiveInt | None = Field(default=None, description="Vocabulary size cap.")
    valid_fraction: Rate = Field(
        default=0.1, description="Share of the images held out for validation without --valid."
    )
    bucket: bool = Field(default=True, description="Batches of captions of similar length.")


class CaptionDecodeConfig(ConfigModel):
    """How captions are searched for: the ``decode.*`` keys."""

    beam_size: PositiveInt = Field(
        default=3, description="Beam of caption, evaluate and the validation BLEU (1: greedy)."
    )
    max_length: PositiveInt = Field(default=30, description="Most words in a caption.")


class CaptionTrainConfig(TrainConfig):
    """Training: the ``train.*`` keys, with the metric that picks the best model."""

    lr: PositiveFloat = Field(default=1e-3, description="Peak learning rate.")
    select_by: Literal["bleu4", "loss"] = Field(
        default="bleu4", description="Validation metric that picks the best model."
    )


class CaptionConfig(RunConfig):
    """The config of an image-captioning run."""

    task: Literal["caption"] = "caption"
    train: CaptionTrainConfig = Field(default_factory=CaptionTrainConfig, description="Training.")
    model: CaptionModelConfig = Field(default_factory=CaptionModelConfig, description="Model.")
    data: CaptionDataConfig = Field(default_factory=CaptionDataConfig, description="Data.")
    decode: CaptionDecodeConfig = Field(
        default_factory=CaptionDecodeConfig, description="Decoding."
    )
