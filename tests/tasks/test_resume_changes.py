"""What a resumed run's config may change: changes to what was trained (``model.*``, the seed,
the data's tokens and split) are refused with both values named, before anything is written;
changes to how training goes on are applied and announced."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import raised
from rnnkit.checkpoint import LAST_DIR, load_checkpoint, read_metrics_log
from rnnkit.errors import UserError
from rnnkit.tasks import train_run
from rnnkit.tasks.resume_changes import Change, config_changes, resume_notes

SAVED = {
    "task": "lm",
    "train": {"max_steps": 100, "lr": 0.002, "seed": 0, "optimizer": "adamw"},
    "model": {"cell": "lstm", "hidden_size": 128},
    "data": {"tokenizer": "char", "valid_fraction": 0.1, "bucket": True, "text_field": "text"},
    "decode": {"beam_size": 5},
}


def given(**changes: object) -> dict:
    """`SAVED` with ``changes`` (``train__lr=0.1`` sets ``train.lr``)."""
    config = {k: dict(v) if isinstance(v, dict) else v for k, v in SAVED.items()}
    for key, value in changes.items():
        section, name = key.split("__")
        config[section][name] = value
    return config


def test_no_change_is_nothing_to_announce():
    assert config_changes(SAVED, given()) == []
    assert resume_notes(SAVED, given(), "runs/x") == []


def test_changes_are_leaf_keys_and_a_key_on_one_side_differs_from_none():
    assert config_changes({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3, "d": [1]}}) == [
        Change("a.c", 2, 3),
        Change("a.d", None, [1]),
    ]
    assert config_changes({"a": {"b": 1}}, {"a": {}}) == [Change("a.b", 1, None)]


def test_training_changes_are_announced_with_both_values():
    notes = resume_notes(
        SAVED,
        given(train__max_steps=200, train__lr=0.01, data__bucket=False, decode__beam_size=1),
        "runs/x",
    )
    assert notes == [
        "resuming with train.max_steps = 200 (was 100)",
        "resuming with train.lr = 0.01 (was 0.002)",
        "resuming with data.bucket = false (was true)",
        "resuming with decode.beam_size = 1 (was 5)",
    ]


def test_a_model_change_is_refused_naming_the_key_both_values_and_the_run():
    message = raised(lambda: resume_notes(SAVED, given(model__hidden_size=256), "runs/x"))
    assert message == (
        "runs/x: cannot change model.hidden_size (saved 128, given 256) on --resume; start a "
        "new run with another --out"
    )


def test_every_refused_key_is_named_even_beside_allowed_ones():
    changed = given(
        model__cell="gru",
        data__tokenizer="word",
        data__valid_fraction=0.2,
        train__seed=1,
        train__optimizer="sgd",
        train__max_steps=200,
        data__text_field="body",
    )
    message = raised(lambda: resume_notes(SAVED, changed, "runs/x"))
    for part in [
        "model.cell (saved 'lstm', given 'gru')",
        "data.tokenizer (saved 'char', given 'word')",
        "data.valid_fraction (saved 0.1, given 0.2)",
        "train.seed (saved 0, given 1)",
        "train.optimizer (saved 'adamw', given 'sgd')",
    ]:
        assert part in message
    assert "max_steps" not in message and "text_field" not in message


@pytest.mark.parametrize(
    ("key", "allowed"),
    [
        ("task", False),
        ("model.dropout", False),
        ("train.seed", False),
        ("train.select_by", False),
        ("data.vocab_size", False),
        ("data.min_freq", False),
        ("data.n_mels", False),
        ("data.some_key_added_later", False),
        ("train.epochs", True),
        ("train.weight_decay", True),
        ("train.eval_every", True),
        ("decode.seed", True),
        ("data.max_length", True),
        ("data.label_field", True),
    ],
)
def test_which_keys_may_change(key, allowed):
    assert Change(key, 1, 2).fixed is not allowed


# --- through train_run -------------------------------------------------------------------------
def files_of(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}


def test_a_resumed_run_refuses_a_model_change_untouched_and_continues_with_more_steps(
    corpus, tmp_path, tiny_lm, capsys
):
    out = tmp_path / "run"
    train_run("lm", [str(corpus)], out, overrides=[*tiny_lm, "train.max_steps=3"], live=False)
    before = files_of(out)

    wider = [*tiny_lm, "train.max_steps=5", "model.hidden_size=32"]
    with pytest.raises(UserError) as caught:
        train_run("lm", [str(corpus)], out, overrides=wider, resume=True, live=False)
    assert caught.value.path == str(out)
    assert "model.hidden_size (saved 16, given 32)" in caught.value.message
    assert "max_steps" not in caught.value.message
    assert files_of(out) == before

    capsys.readouterr()
    longer = [*tiny_lm, "train.max_steps=5", "train.weight_decay=0.01"]
    train_run("lm", [str(corpus)], out, overrides=longer, resume=True, live=False)
    printed = capsys.readouterr().out
    assert printed.count("resuming with train.max_steps = 5 (was 3)") == 1
    assert printed.count("resuming with train.weight_decay = 0.01 (was 0.0)") == 1
    assert read_metrics_log(out)[-1]["step"] == 5
    state = load_checkpoint(out / LAST_DIR).load_trainer_state()
    assert state["optimizer"]["param_groups"][0]["weight_decay"] == 0.01  # applied, not the saved
