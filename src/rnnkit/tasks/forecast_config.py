"""The config of a forecasting run (``rnnkit train forecast``): the ``model.*``, ``data.*``,
``decode.*`` and ``train.*`` keys."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from rnnkit.data.series import MissingPolicy
from rnnkit.data.series_windows import Transform
from rnnkit.models.forecast_heads import OutputName, PointLoss
from rnnkit.models.forecaster import DecoderName
from rnnkit.models.recurrent import CellName
from rnnkit.train.config import (
    ConfigModel,
    PositiveFloat,
    PositiveInt,
    Rate,
    RunConfig,
    TrainConfig,
)

Level = Annotated[float, Field(strict=True, gt=0, lt=1)]


class ForecastModelConfig(ConfigModel):
    """The encoder, decoder and output: the ``model.*`` keys."""

    cell: CellName = Field(default="lstm", description="Recurrent cell.")
    hidden_size: PositiveInt = Field(default=64, description="Recurrent state size.")
    num_layers: PositiveInt = Field(default=2, description="Stacked recurrent layers.")
    dropout: Rate = Field(default=0.1, description="Dropout between layers and before the head.")
    layer_norm: bool = Field(default=False, description="Layer-normalised cells (rnn, lstm, gru).")
    forget_bias: float | None = Field(default=1.0, description="Initial forget-gate bias.")
    decoder: DecoderName = Field(
        default="direct",
        description="direct (all H steps at once from the encoder) or autoregressive (DeepAR: "
        "each step fed the previous one).",
    )
    output: OutputName = Field(
        default="point",
        description="point, or gaussian / student_t (probabilistic: quantiles, sample paths).",
    )
    loss: PointLoss = Field(default="mse", description="Loss of point output: mse or mae.")


def comma_list(value: Any) -> Any:
    """``"a,b"`` (as ``--set data.covariates=a,b`` gives it) -> ``["a", "b"]``."""
    return (
        [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, str)
        else value
    )


Names = Annotated[list[str], BeforeValidator(comma_list)]


class ForecastDataConfig(ConfigModel):
    """The series, its windows and its split: the ``data.*`` keys."""

    time_column: str | None = Field(default=None, description="Time column (null: the first).")
    target: str | None = Field(
        default=None, description="Column to forecast (null: the only value column)."
    )
    id_column: str | None = Field(
        default=None, description="Series id column, for several series in long format."
    )
    covariates: Names = Field(
        default_factory=list, description="Past covariate columns, read over the context."
    )
    time_features: Names | None = Field(
        default=None,
        description="Known-future calendar features among hour, weekday, month (null: chosen "
        "by the frequency; []: none).",
    )
    time_format: str | None = Field(
        default=None, description="strptime format of the time column (null: ISO 8601)."
    )
    missing: MissingPolicy = Field(
        default="error", description="Empty values: error, ffill or interpolate."
    )
    context_length: PositiveInt = Field(default=96, description="L, past steps read.")
    horizon: PositiveInt = Field(default=24, description="H, future steps forecast.")
    season: PositiveInt | None = Field(
        default=None,
        description="Seasonal period of the seasonal-naive baseline and MASE (null: by the "
        "frequency: 24 hourly, 7 daily, 5 business daily, 12 monthly, ...).",
    )
    transform: Transform = Field(
        default="none", description="Forecast levels (none), differences (diff) or log_return."
    )
    scaling: Literal["standard", "none"] = Field(
        default="standard", description="Per-series standardisation, fitted on training rows."
    )
    valid_fraction: Rate = Field(default=0.1, description="Share of rows for validation.")
    test_fraction: Rate = Field(default=0.2, description="Share of rows (the last) for test.")
    train_end: int | str | None = Field(
        default=None, description="End of training rows: a row count or a date (first row on)."
    )
    valid_end: int | str | None = Field(
        default=None, description="End of validation rows (row count or date)."
    )
    test_end: int | str | None = Field(
        default=None, description="End of test rows (row count or date; null: the last row)."
    )
    stride: PositiveInt = Field(default=1, description="Steps between training windows.")


class ForecastDecodeConfig(ConfigModel):
    """Probabilistic forecasts: the ``decode.*`` keys."""

    quantiles: list[Level] = Field(
        default_factory=lambda: [0.1, 0.5, 0.9], description="Quantile levels reported."
    )
    num_samples: PositiveInt = Field(
        default=200, description="Sample paths drawn where quantiles need them."
    )
    seed: int = Field(default=0, description="Seed of the sample paths.")


class ForecastTrainConfig(TrainConfig):
    """Training: the ``train.*`` keys, with defaults for windows."""

    batch_size: PositiveInt = Field(default=64, description="Windows per batch.")
    lr: PositiveFloat = Field(default=1e-3, description="Peak learning rate.")


class ForecastConfig(RunConfig):
    """The config of a forecasting run."""

    task: Literal["forecast"] = "forecast"
    train: ForecastTrainConfig = Field(
        default_factory=ForecastTrainConfig, description="How to train."
    )
    model: ForecastModelConfig = Field(default_factory=ForecastModelConfig, description="Model.")
    data: ForecastDataConfig = Field(default_factory=ForecastDataConfig, description="Data.")
    decode: ForecastDecodeConfig = Field(
        default_factory=ForecastDecodeConfig, description="Probabilistic output."
    )
