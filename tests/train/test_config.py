"""Tests for rnnkit.train.config: layered loading, overrides, error messages, round trips."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import Field, ValidationError

from rnnkit.errors import UserError
from rnnkit.train.config import (
    ConfigModel,
    PositiveInt,
    Rate,
    RunConfig,
    TrainConfig,
    config_keys,
    dump_config,
    load_config,
    save_config,
)


class ToyModelConfig(ConfigModel):
    cell: Literal["lstm", "gru"] = Field(default="lstm", description="Recurrent cell.")
    hidden_size: PositiveInt = Field(default=16, description="Hidden units.")
    dropout: Rate = Field(default=0.0, description="Dropout between layers.")
    sizes: list[int] = Field(default=[4], description="Some list.")


class ToyDataConfig(ConfigModel):
    path: Path = Field(default=Path("train.txt"), description="Training file.")
    lowercase: bool = Field(default=False, description="Lowercase the text.")
    text_field: str = Field(default="text", description="Field holding the text.")


class ToyConfig(RunConfig):
    task: Literal["toy"] = "toy"
    model: ToyModelConfig = Field(default_factory=ToyModelConfig)
    data: ToyDataConfig = Field(default_factory=ToyDataConfig)


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, fragment: str) -> int:
    """1-based number of the only line of `text` containing `fragment`."""
    (number,) = [i for i, line in enumerate(text.splitlines(), 1) if fragment in line]
    return number


def error_of(*args: Any, **kwargs: Any) -> UserError:
    with pytest.raises(UserError) as caught:
        load_config(ToyConfig, *args, **kwargs)
    assert "\n" not in str(caught.value)
    return caught.value


# --- defaults and layering ---------------------------------------------------------------


def test_defaults_are_the_documented_ones() -> None:
    config = load_config(ToyConfig)
    assert config == ToyConfig()
    train = config.train
    assert (train.epochs, train.batch_size, train.bptt) == (None, 32, 64)
    assert train.epoch_limit == 10  # unset epochs: ten passes, when no max_steps says otherwise
    assert (train.optimizer, train.lr, train.lr_schedule) == ("adamw", 2e-3, "constant")
    assert (train.clip_norm, train.clip_value, train.max_steps, train.patience) == (
        1.0,
        None,
        None,
        None,
    )
    assert (train.precision, train.seed, train.threads) == ("fp32", 0, None)


def test_sections_are_not_shared_between_instances() -> None:
    first, second = ToyConfig(), ToyConfig()
    first.train.lr = 0.5
    assert second.train.lr == 2e-3


def test_layers_apply_in_order_base_file_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, "train:\n  lr: 0.1\n  epochs: 3\nmodel:\n  hidden_size: 32\n")
    base = {"train": {"epochs": 5, "batch_size": 7}, "model": {"cell": "gru"}}
    config = load_config(
        ToyConfig, path, ["train.lr=0.5", "data.lowercase=true", "train.lr=0.25"], base=base
    )
    assert config.train.lr == 0.25  # the last override wins
    assert config.train.epochs == 3  # the file beats the base
    assert config.train.batch_size == 7  # the base beats the defaults
    assert config.model == ToyModelConfig(cell="gru", hidden_size=32)
    assert config.data == ToyDataConfig(lowercase=True)
    assert config.train.bptt == TrainConfig().bptt


def test_a_mapping_value_merges_into_its_section(tmp_path: Path) -> None:
    path = write(tmp_path, "model:\n  hidden_size: 32\n")
    config = load_config(ToyConfig, path, ["model={dropout: 0.5}"])
    assert (config.model.hidden_size, config.model.dropout) == (32, 0.5)


def test_an_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load_config(ToyConfig, write(tmp_path, "# nothing set\n")) == ToyConfig()


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("train.lr=0.1", ("train", "lr", 0.1)),
        ("train.lr=1e-4", ("train", "lr", 0.0001)),
        ("train.lr=3", ("train", "lr", 3.0)),
        ("train.clip_norm=null", ("train", "clip_norm", None)),
        ("train.max_steps=", ("train", "max_steps", None)),
        ("train.max_steps=500", ("train", "max_steps", 500)),
        ("data.lowercase=true", ("data", "lowercase", True)),
        ("model.sizes=[1, 2]", ("model", "sizes", [1, 2])),
        ("data.text_field=question", ("data", "text_field", "question")),
        ("data.text_field=a=b", ("data", "text_field", "a=b")),
        ("data.path=*.txt", ("data", "path", Path("*.txt"))),
        (" train.optimizer = sgd", ("train", "optimizer", "sgd")),
    ],
)
def test_override_values_are_yaml_scalars(override: str, expected: tuple[str, str, Any]) -> None:
    section, key, value = expected
    config = load_config(ToyConfig, overrides=[override])
    assert getattr(getattr(config, section), key) == value


@settings(max_examples=50, deadline=None)
@given(st.floats(min_value=1e-12, max_value=1e12, allow_nan=False))
def test_any_float_as_python_prints_it_is_read_back(lr: float) -> None:
    assert load_config(ToyConfig, overrides=[f"train.lr={lr!r}"]).train.lr == lr


# --- unknown keys --------------------------------------------------------------------------


def test_unknown_key_in_file_names_file_line_and_suggestion(tmp_path: Path) -> None:
    text = "task: toy\ntrain:\n  epochs: 3\n  lrr: 0.1\n"
    path = write(tmp_path, text)
    error = error_of(path)
    line = line_of(text, "lrr")
    assert (error.path, error.line) == (str(path), line)
    assert str(error) == f"{path}:{line}: unknown config key 'train.lrr' (did you mean 'train.lr'?)"


def test_unknown_key_nested_in_a_task_section(tmp_path: Path) -> None:
    text = "model:\n  cell: gru\n  hiden_size: 8\n"
    error = error_of(write(tmp_path, text))
    assert error.line == line_of(text, "hiden_size")
    assert (
        error.message == "unknown config key 'model.hiden_size' (did you mean 'model.hidden_size'?)"
    )


def test_unknown_override_names_the_key_as_typed() -> None:
    error = error_of(overrides=["train.lrr=0.1"])
    assert (
        str(error)
        == "--set train.lrr=0.1: unknown config key 'train.lrr' (did you mean 'train.lr'?)"
    )


def test_unknown_key_without_its_section_suggests_the_section() -> None:
    assert "(did you mean 'train.lr'?)" in str(error_of(overrides=["lr=0.1"]))


def test_unknown_section_is_suggested_and_far_names_get_no_guess() -> None:
    assert str(error_of(overrides=["trian.lr=1"])) == (
        "--set trian.lr=1: unknown config key 'trian' (did you mean 'train'?)"
    )
    assert str(error_of(overrides=["train.zzzz=1"])).endswith("unknown config key 'train.zzzz'")


def test_unknown_key_inside_a_mapping_override() -> None:
    error = error_of(overrides=["train={lr: 0.1, epochz: 2}"])
    assert "unknown config key 'train.epochz' (did you mean 'train.epochs'?)" in str(error)


def test_unknown_key_in_base_is_reported() -> None:
    assert "unknown config key 'train.old_key'" in str(error_of(base={"train": {"old_key": 1}}))


# --- ill-typed values ----------------------------------------------------------------------


def test_wrong_type_in_file_names_key_file_and_line(tmp_path: Path) -> None:
    text = "train:\n  epochs: 3\n\n  lr: abc\n"
    path = write(tmp_path, text)
    error = error_of(path)
    assert str(error) == f"{path}:{line_of(text, 'lr:')}: train.lr: expected a number, got 'abc'"


def test_wrong_type_in_override_names_the_override() -> None:
    error = error_of(overrides=["train.lr=abc"])
    assert str(error) == "--set train.lr=abc: train.lr: expected a number, got 'abc'"


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ("train.epochs=0", "train.epochs: expected a value >= 1, got 0"),
        ("train.epochs=2.5", "train.epochs: expected an integer, got 2.5"),
        ("train.epochs=true", "train.epochs: expected an integer, got true"),
        ("train.lr=-1", "train.lr: expected a value > 0.0, got -1"),
        ("train.lr=.inf", "train.lr: expected a finite number, got inf"),
        (
            "train.optimizer=rmsprop",
            "expected one of 'sgd', 'adam', 'adamw' or 'asgd', got 'rmsprop'",
        ),
        ("model.dropout=1.0", "model.dropout: expected a value < 1.0, got 1.0"),
        ("train=5", "train: expected a mapping, got 5"),
        ("model.sizes=[1, x]", "model.sizes.1: expected an integer, got 'x'"),
        ("data.lowercase=maybe", "data.lowercase: expected true or false, got 'maybe'"),
    ],
)
def test_value_problems_are_described(override: str, problem: str) -> None:
    message = str(error_of(overrides=[override]))
    assert message.startswith(f"--set {override}: ")
    assert message.endswith(problem)


def test_a_bad_file_value_replaced_by_an_override_is_fine(tmp_path: Path) -> None:
    path = write(tmp_path, "train:\n  lr: abc\n")
    assert load_config(ToyConfig, path, ["train.lr=0.1"]).train.lr == 0.1


def test_the_error_points_at_the_layer_that_set_the_bad_value(tmp_path: Path) -> None:
    path = write(tmp_path, "train:\n  lr: 0.1\n")
    error = error_of(path, ["train.epochs=-3"])
    assert error.path is None
    assert str(error) == "--set train.epochs=-3: train.epochs: expected a value >= 1, got -3"


def test_wrong_type_in_base_has_no_location() -> None:
    assert str(error_of(base={"train": {"lr": "x"}})) == "train.lr: expected a number, got 'x'"


def test_missing_required_key_is_named() -> None:
    with pytest.raises(UserError, match=r"^task: required, but not set$"):
        load_config(RunConfig)


def test_assignment_is_validated() -> None:
    config = ToyConfig()
    with pytest.raises(ValidationError):
        config.train.lr = -1.0


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("epochs", 0),
        ("batch_size", -1),
        ("lr", 0.0),
        ("weight_decay", -0.1),
        ("momentum", 1.0),
        ("lr_gamma", 1.0),
        ("lr_gamma", 0.0),
        ("warmup_steps", -1),
        ("clip_norm", 0.0),
        ("patience", 0),
        ("eval_every", 0),
        ("seed", -1),
        ("threads", 0),
        ("precision", "fp16"),
        ("lr_schedule", "linear"),
        ("max_minutes", 0.0),
    ],
)
def test_train_config_rejects_out_of_range_values(key: str, value: Any) -> None:
    with pytest.raises(ValidationError):
        TrainConfig.model_validate({key: value})


# --- malformed input -----------------------------------------------------------------------


@pytest.mark.parametrize("override", ["train.lr", "=0.1", "train..lr=1", ".lr=1", "train.=1"])
def test_malformed_override(override: str) -> None:
    assert str(error_of(overrides=[override])) == (
        f"--set {override}: expected KEY=VALUE, e.g. --set train.lr=0.001"
    )


def test_overrides_must_not_be_a_single_string() -> None:
    with pytest.raises(TypeError):
        load_config(ToyConfig, overrides="train.lr=0.1")


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    text = "task: toy\ntrain:\n  lr: [0.1, 0.2\n  epochs: 3\n"
    path = write(tmp_path, text)
    error = error_of(path)
    assert error.path == str(path)
    assert error.line is not None and error.line >= line_of(text, "lr:")
    assert "invalid YAML" in error.message


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "- train\n- model\n"))
    assert error.line == 1
    assert "top level must be a mapping" in error.message


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    assert str(error_of(path)) == f"{path}: config file not found"


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("data:\n  text_field: caf\xe9\n".encode("latin-1"))
    assert "not valid UTF-8" in str(error_of(path))


# --- dumping, saving, documenting ----------------------------------------------------------


def changed_config() -> ToyConfig:
    return load_config(
        ToyConfig,
        overrides=[
            "train.lr=3e-4",
            "train.max_steps=100",
            "train.clip_norm=null",
            "model.sizes=[3, 5]",
            "data.path=data/x y.txt",
            "data.text_field=10",
        ],
    )


def test_saved_config_loads_back_equal(tmp_path: Path) -> None:
    config = changed_config()
    assert config.data.text_field == "10"
    save_config(config, tmp_path / "config.yaml")
    assert load_config(ToyConfig, tmp_path / "config.yaml") == config
    assert load_config(ToyConfig, base=yaml.safe_load(dump_config(config))) == config
    assert [p.name for p in tmp_path.iterdir()] == ["config.yaml"]  # no temp file left


def test_dump_lists_every_key_in_declaration_order() -> None:
    dumped = yaml.safe_load(dump_config(changed_config()))
    assert list(dumped) == list(ToyConfig.model_fields)
    assert list(dumped["train"]) == list(TrainConfig.model_fields)
    assert dump_config(changed_config()) == dump_config(changed_config())


def test_config_keys_cover_every_leaf_with_type_and_default() -> None:
    rows = {key: (kind, doc) for key, kind, doc in config_keys(ToyConfig)}
    expected = {"task"} | {
        f"{section}.{name}"
        for section, model in (
            ("train", TrainConfig),
            ("model", ToyModelConfig),
            ("data", ToyDataConfig),
        )
        for name in model.model_fields
    }
    assert set(rows) == expected
    assert rows["train.lr"][0] == "float"
    assert rows["train.max_steps"][0] == "int | null"
    assert rows["train.optimizer"][0] == "sgd | adam | adamw | asgd"
    assert rows["train.lr"][1].endswith(f"Default: {TrainConfig().lr}.")
    assert rows["train.clip_value"][1].endswith("Default: null.")
    assert TrainConfig.model_fields["epochs"].description in rows["train.epochs"][1]


def test_every_train_field_is_documented() -> None:
    undocumented = [n for n, f in TrainConfig.model_fields.items() if not f.description]
    assert undocumented == []
