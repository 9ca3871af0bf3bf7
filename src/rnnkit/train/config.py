"""Typed run configs: pydantic models filled from defaults, a YAML file and `--set KEY=VALUE`.

A config is a tree of `ConfigModel` sections. `RunConfig` holds what every run has (`task`, the
`train` section); each task subclasses it with its own `model` and `data` sections. Values are
resolved in layers, later ones winning: the defaults, an optional `base` mapping (e.g. a saved
config), the YAML file, then each override in order. A mapping merges into the section below it.

Every mistake is a `UserError` of one line that names the key and where it was typed:

    config.yaml:7: unknown config key 'train.lrr' (did you mean 'train.lr'?)
    --set train.lr=abc: train.lr: expected a number, got 'abc'

The numeric types below (`PositiveInt`, `Rate`, ...) are strict, for `TrainConfig` and for task
sections that use them: YAML already gives numbers their type, so `lr: "0.1"` or `epochs: true`
is an error rather than a silent conversion.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from rnnkit.checkpoint.atomic import write_text_atomic
from rnnkit.errors import UserError
from rnnkit.train.config_messages import (
    KeyPath,
    describe_problem,
    dotted,
    field_doc,
    section_model,
    show_value,
    type_name,
    unknown_key_message,
    walk_fields,
)

PositiveInt = Annotated[int, Field(strict=True, ge=1)]
NonNegativeInt = Annotated[int, Field(strict=True, ge=0)]
PositiveFloat = Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
Rate = Annotated[float, Field(strict=True, ge=0, lt=1)]
DEFAULT_EPOCHS = 10
"""A float in [0, 1): dropout probabilities, momentum."""


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, reading `1e-4` as a number as YAML 1.2 does (1.1 keeps a string)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


class ConfigModel(BaseModel):
    """Base of every config section: unknown keys are errors, assignments are validated.

    A number given for a string field becomes its text (`--set data.text_field=10` is "10").
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, coerce_numbers_to_str=True)


C = TypeVar("C", bound=ConfigModel)


class TrainConfig(ConfigModel):
    """How to train, whatever the task: the `train.*` keys."""

    epochs: PositiveInt | None = Field(
        default=None,
        description="Passes over the training data (null: 10, or as many as train.max_steps "
        "needs when that is set).",
    )
    max_steps: PositiveInt | None = Field(
        default=None, description="Stop after this many optimizer steps (null: no limit)."
    )
    max_minutes: PositiveFloat | None = Field(
        default=None,
        description="Wall-clock budget in minutes; training stops and saves when it is spent.",
    )
    batch_size: PositiveInt = Field(
        default=32, description="Sequences per batch (per process when distributed)."
    )
    bptt: PositiveInt = Field(
        default=64,
        description="Truncated BPTT length for language-model streams: tokens per batch row; "
        "the state is carried across batches, gradients are not.",
    )
    optimizer: Literal["sgd", "adam", "adamw", "asgd"] = Field(
        default="adamw",
        description="The optimizer; asgd: SGD, then the average of its steps once validation "
        "stalls (NT-ASGD, AWD-LSTM).",
    )
    asgd_nonmono: PositiveInt = Field(
        default=5,
        description="asgd: average once validation is worse than the best of the evaluations "
        "before the last n.",
    )
    lr: PositiveFloat = Field(default=2e-3, description="Peak learning rate.")
    weight_decay: NonNegativeFloat = Field(
        default=0.0, description="Weight decay (decoupled for adamw, L2 for sgd and adam)."
    )
    momentum: Rate = Field(default=0.0, description="Momentum, for sgd.")
    lr_schedule: Literal["constant", "step", "plateau", "cosine"] = Field(
        default="constant",
        description="Learning-rate schedule after warmup: constant; step (times lr_gamma every "
        "lr_step_size epochs); plateau (times lr_gamma when the validation score stalls); "
        "cosine (decay to 0 over the run).",
    )
    warmup_steps: NonNegativeInt = Field(
        default=0, description="Steps of linear warmup from 0 to lr before the schedule starts."
    )
    lr_step_size: PositiveInt = Field(
        default=1, description="Epochs between decays of the step schedule."
    )
    lr_decay_start: NonNegativeInt | None = Field(
        default=None,
        description="Epochs at the full rate before the step schedule's first decay (null: "
        "lr_step_size).",
    )
    lr_gamma: Annotated[float, Field(strict=True, gt=0, lt=1)] = Field(
        default=0.5, description="Decay factor of the step schedule and of the plateau schedule."
    )
    clip_norm: PositiveFloat | None = Field(
        default=1.0, description="Clip the global gradient norm to this value (null: no clipping)."
    )
    clip_value: PositiveFloat | None = Field(
        default=None,
        description="Clip every gradient element to [-value, value] (null: no clipping).",
    )
    patience: PositiveInt | None = Field(
        default=None,
        description="Early stopping: stop after this many evaluations without improvement "
        "(null: never stop early).",
    )
    eval_every: PositiveInt | None = Field(
        default=None, description="Evaluate every this many steps (null: at the end of each epoch)."
    )
    seed: Annotated[int, Field(strict=True, ge=0, lt=2**32)] = Field(
        default=0, description="Seed of every random generator, for reproducible runs."
    )
    threads: PositiveInt | None = Field(
        default=None, description="CPU threads torch may use (null: torch's default)."
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto", description="Where to train: auto takes a GPU when torch sees one."
    )
    precision: Literal["fp32", "bf16"] = Field(
        default="fp32", description="Numeric precision of the forward pass (bf16: autocast)."
    )

    @property
    def epoch_limit(self) -> float:
        """The epochs training may run: ``epochs``; unset, unlimited under ``max_steps`` (the
        step count decides, as in other trainers), else `DEFAULT_EPOCHS`."""
        if self.epochs is not None:
            return self.epochs
        return math.inf if self.max_steps is not None else DEFAULT_EPOCHS


class RunConfig(ConfigModel):
    """The config of a run; each task subclasses it with its `model` and `data` sections."""

    task: str = Field(description="The task the run trains, e.g. lm or classify.")
    train: TrainConfig = Field(default_factory=TrainConfig, description="How to train.")


def load_config(
    cls: type[C],
    path: str | Path | None = None,
    overrides: Sequence[str] = (),
    base: Mapping[str, Any] | None = None,
) -> C:
    """Resolve a `cls` config from its defaults, `base`, the YAML file `path` and `overrides`.

    Each override is `"a.b.c=VALUE"`, with VALUE read as YAML (`0.1`, `true`, `null`, `[1, 2]`;
    an empty VALUE is null; text that is not valid YAML stays a string). Raises `UserError`
    naming the key and the file line or override for unknown keys, ill-typed values, malformed
    overrides, invalid YAML, a top level that is not a mapping and a missing file.
    """
    if isinstance(overrides, str):
        raise TypeError("overrides must be a sequence of 'KEY=VALUE' strings, not one string")
    sources = [] if base is None else [_Source(base)]
    if path is not None:
        sources.append(_read_yaml(Path(path)))
    sources.extend(_parse_override(text) for text in overrides)
    merged: dict[str, Any] = {}
    for source in sources:
        unknown = _first_unknown_key(cls, source.data, ())
        if unknown is not None:
            raise source.error(unknown, unknown_key_message(cls, unknown))
        merged = _merge(merged, source.data)
    try:
        return cls.model_validate(merged)
    except ValidationError as exc:
        raise _describe_invalid(exc.errors()[0], merged, sources) from None


def dump_config(config: BaseModel) -> str:
    """The full resolved config as YAML, keys in the order the fields are declared."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def save_config(config: BaseModel, path: str | Path) -> None:
    """Write `dump_config(config)` to `path` atomically; `load_config` reads it back equal."""
    write_text_atomic(path, dump_config(config))


def config_keys(cls: type[BaseModel]) -> list[tuple[str, str, str]]:
    """Every settable key of `cls` as `(dotted key, type, "description (default: x)")`."""
    return [
        (dotted(path), type_name(field.annotation), field_doc(field))
        for path, field in walk_fields(cls, ())
        if section_model(field.annotation) is None
    ]


@dataclass(frozen=True)
class _Source:
    """One layer of config values, and how to point the user at one of its keys."""

    data: Mapping[str, Any]
    file: Path | None = None
    root: yaml.Node | None = None
    override: str | None = None

    def error(self, path: KeyPath, message: str) -> UserError:
        if self.override is not None:
            return UserError(f"--set {self.override}: {message}")
        line = None if self.root is None else _line_of(self.root, path)
        return UserError(message, path=self.file, line=line)


def _read_yaml(path: Path) -> _Source:
    """Parse a YAML config file, keeping its node tree for line numbers."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError("config file not found", path=path) from None
    except UnicodeDecodeError as exc:
        raise UserError(f"not valid UTF-8 ({exc.reason})", path=path) from None
    except OSError as exc:
        raise UserError(f"cannot read the config file ({exc.strerror})", path=path) from None
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        data = {} if root is None else loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = None if mark is None else mark.line + 1
        raise UserError(
            f"invalid YAML: {exc.problem or exc.context}", path=path, line=line
        ) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise UserError(
            f"the top level must be a mapping of config keys, got {show_value(data)}",
            path=path,
            line=1,
        )
    return _Source(data, file=path, root=root)


def _parse_override(text: str) -> _Source:
    """Turn `"a.b=VALUE"` into the layer `{"a": {"b": VALUE}}`."""
    key, has_equals, raw = text.partition("=")
    parts = [part.strip() for part in key.split(".")]
    if not has_equals or not all(parts):
        raise UserError(f"--set {text}: expected KEY=VALUE, e.g. --set train.lr=0.001")
    try:
        value = yaml.load(raw, Loader=_Loader)
    except yaml.YAMLError:
        value = raw  # e.g. a glob like *.txt: keep the text
    for part in reversed(parts):
        value = {part: value}
    return _Source(value, override=text)


def _first_unknown_key(
    model: type[BaseModel], data: Mapping[Any, Any], prefix: KeyPath
) -> KeyPath | None:
    """The path of the first key in `data` that `model` (recursively) does not define."""
    for key, value in data.items():
        path = (*prefix, key)
        field = model.model_fields.get(key) if isinstance(key, str) else None
        if field is None:
            return path
        section = section_model(field.annotation)
        if section is not None and isinstance(value, Mapping):
            unknown = _first_unknown_key(section, value, path)
            if unknown is not None:
                return unknown
    return None


def _describe_invalid(
    error: ErrorDetails, merged: Mapping[str, Any], sources: list[_Source]
) -> UserError:
    """A `UserError` for one pydantic error, located in the last layer that set the key."""
    if error["type"] == "missing":
        path = (*_present_prefix(merged, error["loc"][:-1]), error["loc"][-1])
        blamed = path[:-1]
    else:
        path = blamed = _present_prefix(merged, error["loc"])
    message = f"{dotted(path)}: {describe_problem(error)}"
    for source in reversed(sources):
        if blamed and _present_prefix(source.data, blamed) == blamed:
            return source.error(blamed, message)
    return UserError(message)


def _present_prefix(data: Any, loc: Sequence[str | int]) -> KeyPath:
    """The longest prefix of `loc` that exists in `data` (pydantic adds union tags etc.)."""
    prefix: list[str | int] = []
    for part in loc:
        in_mapping = isinstance(data, Mapping) and part in data
        in_list = isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        if not (in_mapping or in_list):
            break
        data = data[part]
        prefix.append(part)
    return tuple(prefix)


def _merge(below: Mapping[str, Any], above: Mapping[str, Any]) -> dict[str, Any]:
    """`below` updated by `above`, merging mappings key by key (inputs are not modified)."""
    merged = dict(below)
    for key, value in above.items():
        old = merged.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            value = _merge(old, value)
        merged[key] = value
    return merged


def _line_of(node: yaml.Node, path: KeyPath) -> int:
    """The 1-based line of the deepest key of `path` found in a YAML node tree."""
    line = node.start_mark.line
    for part in path:
        if isinstance(node, yaml.MappingNode):
            found = next((pair for pair in node.value if pair[0].value == str(part)), None)
            if found is None:
                break
            line, node = found[0].start_mark.line, found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line
        else:
            break
    return line + 1
