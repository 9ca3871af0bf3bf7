"""The JSON bodies of the API (pydantic models): what each endpoint takes and answers, with
descriptions that the OpenAPI page (``/docs``) shows.

Requests are strict: a field of the wrong type (a number where a string is expected, a string
where a number is), an unknown field or a missing one is a 422 naming it. The limits that
depend on the server's settings (inputs per request, characters per input, tokens to generate)
are checked by the routes (`rnnkit.serve.limits`).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_BEAM = 64  # the widest beam a request may ask for: memory and time grow with it
MAX_SEED = 2**63 - 1  # the largest seed torch takes


class StrictRequest(BaseModel):
    """A request body: strict types, no unknown fields, no infinite or NaN numbers."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


# --- /healthz, /v1/model ----------------------------------------------------------------------
class Health(BaseModel):
    status: str = Field(description="`ok` while the server answers.")


class ModelInfo(BaseModel):
    task: str = Field(description="The run's task: classify, tag, lm, translate, ...")
    config: dict[str, Any] = Field(description="The run's full resolved config (config.yaml).")
    metrics: dict[str, Any] = Field(description="The evaluation results saved with the model.")
    version: str = Field(description="The rnnkit version serving it.")
    endpoints: list[str] = Field(description="What this server answers, e.g. `POST /v1/predict`.")


# --- /v1/predict ------------------------------------------------------------------------------
class ClassifyRequest(StrictRequest):
    inputs: list[str] = Field(
        min_length=1,
        description="The texts to classify, each a non-empty single line.",
        examples=[["the acting was not good", "a truly wonderful film"]],
    )


class Classification(BaseModel):
    label: str = Field(description="The likeliest label.")
    probability: float = Field(description="Its probability.")
    probabilities: dict[str, float] = Field(description="Every label's probability.")
    labels: list[str] | None = Field(
        default=None, description="Multi-label models: every label of probability >= 0.5."
    )


class ClassifyResponse(BaseModel):
    predictions: list[Classification] = Field(description="One per input, in order.")


class TagRequest(StrictRequest):
    inputs: list[list[str] | str] = Field(
        min_length=1,
        description="The sentences to tag: each a list of tokens, or a string split on whitespace.",
        examples=[[["Anna", "Berg", "flew", "to", "Lima", "."], "Omar visited Helix Corp"]],
    )


class Tagging(BaseModel):
    tokens: list[str] = Field(description="The sentence's tokens.")
    tags: list[str] = Field(description="One tag per token, in the training data's scheme.")


class TagResponse(BaseModel):
    predictions: list[Tagging] = Field(description="One per input sentence, in order.")


# --- /v1/translate ----------------------------------------------------------------------------
class TranslateRequest(StrictRequest):
    inputs: list[str] = Field(
        min_length=1,
        description="The sentences to translate, each a non-empty single line.",
        examples=[["March 3rd, 2021"]],
    )
    beam_size: int | None = Field(
        default=None,
        ge=1,
        le=MAX_BEAM,
        description="Beam width (1: greedy; null: the run's decode.beam_size).",
    )
    n_best: int = Field(
        default=1, ge=1, le=MAX_BEAM, description="Translations per sentence, best first."
    )
    length_penalty: float | None = Field(
        default=None,
        ge=0,
        le=10,
        description="Rank by log p / length ** L (null: the run's decode.length_penalty).",
    )
    replace_unk: bool | None = Field(
        default=None,
        description="Replace an unknown output word by the most-attended source word (null: "
        "the run's decode.replace_unk).",
    )

    @model_validator(mode="after")
    def _beam_holds_n_best(self) -> TranslateRequest:
        if self.beam_size is not None and self.n_best > self.beam_size:
            raise ValueError(f"n_best {self.n_best} needs a beam_size at least as wide")
        return self


class Hypothesis(BaseModel):
    translation: str = Field(description="The translated sentence.")
    score: float = Field(description="Length-normalised log-probability (what ranks them).")
    log_prob: float = Field(description="Log-probability of the translation.")
    tokens: list[str] = Field(description="The output pieces.")
    source: str = Field(description="The input sentence, as read.")
    source_tokens: list[str] = Field(description="The pieces the model saw.")


class TranslateResponse(BaseModel):
    translations: list[list[Hypothesis]] = Field(
        description="Per input sentence, its n_best translations, best first."
    )


# --- /v1/forecast -----------------------------------------------------------------------------
# a value the model's float32 arithmetic can hold (beyond it the forecast would be null)
Value = Annotated[float, Field(ge=-1e30, le=1e30)] | None


class SeriesHistory(StrictRequest):
    id: str | None = Field(
        default=None,
        description="The series id (models trained with data.id_column; a series seen in "
        "training is scaled as it was then).",
    )
    time: list[str] = Field(
        min_length=1,
        description="Timestamps, sorted, one per step: ISO 8601 (or the run's data.time_format).",
        examples=[["2024-04-01 00:00", "2024-04-01 01:00"]],
    )
    values: list[Value] = Field(
        description="The target at each timestamp (null: missing, handled by data.missing)."
    )
    covariates: dict[str, list[Value]] = Field(
        default_factory=dict,
        description="The run's past covariate columns (data.covariates), one value per step.",
    )

    @model_validator(mode="after")
    def _one_value_per_step(self) -> SeriesHistory:
        columns = {"values": self.values, **self.covariates}
        for name, column in columns.items():
            if len(column) != len(self.time):
                raise ValueError(f"{name} has {len(column)} values for {len(self.time)} times")
        return self


class ForecastRequest(StrictRequest):
    series: list[SeriesHistory] = Field(
        min_length=1, description="The histories to continue, each at least data.context_length "
        "steps long."
    )  # fmt: skip


class History(BaseModel):
    time: list[str]
    values: list[float]


class Forecast(BaseModel):
    id: str = Field(description="The series id (empty without one).")
    time_column: str = Field(description="The time column's name.")
    target: str = Field(description="The target column's name.")
    time: list[str] = Field(description="The future timestamps, continuing the series' steps.")
    forecast: list[float] = Field(description="The forecast (the mean of each step).")
    quantiles: dict[str, list[float]] = Field(
        description="Probabilistic models: each quantile level's values, e.g. `0.1`."
    )
    history: History = Field(description="The context the model read.")


class ForecastResponse(BaseModel):
    forecasts: list[Forecast] = Field(description="One per series, in order.")


# --- /v1/generate -----------------------------------------------------------------------------
class GenerateRequest(StrictRequest):
    prompt: str = Field(
        default="", description="Text to continue (empty: a new line, or a new text)."
    )
    max_new_tokens: int = Field(default=100, ge=1, description="The most tokens to generate.")
    temperature: float = Field(default=1.0, gt=0, description="Sampling temperature.")
    top_k: int | None = Field(default=None, ge=1, description="Sample among the k likeliest.")
    top_p: float | None = Field(
        default=None, gt=0, le=1, description="Sample within probability mass p."
    )
    greedy: bool = Field(default=False, description="Take the likeliest token every time.")
    seed: int | None = Field(
        default=None, ge=0, le=MAX_SEED, description="Seed, for a reproducible sample."
    )
    stop_at_eos: bool | None = Field(
        default=None,
        description="End at the first end of sentence (null: the task's default — lm: no, "
        "generate: yes).",
    )
    condition: dict[str, str] = Field(
        default_factory=dict,
        description="generate runs: the category to write, FIELD: VALUE, e.g. "
        '{"gender": "female"}.',
    )
    stream: bool = Field(
        default=False,
        description='Answer with server-sent events, one `data: {"text": piece}` per token, '
        'then `event: done` with the whole text; false: one JSON `{"text": ...}`.',
    )


class Generated(BaseModel):
    text: str = Field(description="The text generated after the prompt (without the prompt).")


# --- /v1/transcribe, /v1/caption, /v1/draw --------------------------------------------------
class Transcript(BaseModel):
    text: str = Field(description="What the recording says.")


class Caption(BaseModel):
    caption: str = Field(description="The image described in a sentence.")
    words: list[str] = Field(description="The caption's words.")
    score: float = Field(description="Its beam-search score.")


Point = Annotated[list[float], Field(min_length=3, max_length=3)]


class DrawRequest(StrictRequest):
    num: int = Field(default=1, ge=1, description="Number of sketches.")
    temperature: float = Field(
        default=0.4, gt=0, description="Sampling temperature τ: near 1 varied, near 0 tidy."
    )
    seed: int | None = Field(
        default=None, ge=0, le=MAX_SEED, description="Seed, for repeatable sketches."
    )
    start: list[Point] | None = Field(
        default=None,
        description="A partial sketch for every sketch to complete: stroke-3 rows "
        "[dx, dy, pen_lifted] in the data's units.",
    )


class Drawing(BaseModel):
    sketches: list[list[list[float]]] = Field(
        description="Each sketch as stroke-3 rows [dx, dy, pen_lifted] in the data's units."
    )
