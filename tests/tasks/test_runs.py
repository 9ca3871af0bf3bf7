"""The run lifecycle in-process: `train_run` then `load_run`, one manifest check per load, and
a run directory written by rnnkit 0.1.0 (before the package layout changed) still loads, gives
the same numbers and resumes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rnnkit.checkpoint import manifest, read_metrics_log
from rnnkit.errors import UserError
from rnnkit.tasks import Generates, load_run, train_run
from rnnkit.tasks.lm import LanguageModelling

OLD_RUN = Path(__file__).parent / "data" / "lm_run_0.1.0"


@pytest.fixture
def verifications(monkeypatch) -> list[Path]:
    """Every directory whose manifest is verified, in order."""
    seen: list[Path] = []
    original = manifest.verify_manifest

    def counting(directory: Path):
        seen.append(Path(directory))
        return original(directory)

    monkeypatch.setattr("rnnkit.checkpoint.store.verify_manifest", counting)
    return seen


def test_load_run_gives_the_trained_model_in_eval_mode(corpus, tmp_path, tiny_lm, verifications):
    out = tmp_path / "run"
    final = train_run("lm", [str(corpus)], out, overrides=[*tiny_lm, "train.max_steps=4"])
    verifications.clear()
    run = load_run(out)
    assert verifications == [out]  # one check of the manifest for one load
    assert isinstance(run.task, LanguageModelling) and not run.model.training
    assert run.metrics == final
    saved = load_file(out / "model.safetensors")
    for name, tensor in run.model.state_dict().items():
        assert torch.equal(tensor, saved[name]), name


def test_resume_checks_the_last_checkpoint_once(corpus, tmp_path, tiny_lm, verifications):
    out = tmp_path / "run"
    train_run("lm", [str(corpus)], out, overrides=[*tiny_lm, "train.max_steps=4"], live=False)
    verifications.clear()
    resumed = [*tiny_lm, "train.max_steps=6"]
    train_run("lm", [str(corpus)], out, overrides=resumed, resume=True, live=False)
    assert verifications.count(out / "last") == 1
    assert read_metrics_log(out)[-1]["step"] == 6


def test_a_use_of_a_run_may_not_change_what_its_model_and_tokenizer_were_saved_with(
    corpus, tmp_path, tiny_lm
):
    out = tmp_path / "run"
    train_run("lm", [str(corpus)], out, overrides=[*tiny_lm, "train.max_steps=2"], live=False)
    for key, value in [("model.hidden_size", "999"), ("data.tokenizer", "word")]:
        with pytest.raises(
            UserError, match=rf"cannot change {key} \(saved .*, given '?{value}'?\)"
        ):
            load_run(out, overrides=[f"{key}={value}"])
    changed = load_run(out, overrides=["train.batch_size=3"])
    assert changed.task.config.train.batch_size == 3  # how it is used may change


def test_load_run_refuses_what_is_not_a_run(tmp_path):
    with pytest.raises(UserError, match="not a run directory"):
        load_run(tmp_path)
    with pytest.raises(UserError, match="missing: no such run directory"):
        load_run(tmp_path / "missing")


def copy_of_old_run(tmp_path: Path) -> Path:
    run_dir = tmp_path / "old"
    shutil.copytree(OLD_RUN, run_dir)
    return run_dir


def test_a_run_directory_of_version_0_1_0_loads_with_the_same_results(tmp_path):
    """``lm_run_0.1.0`` was written, and its expected figures computed, by rnnkit 0.1.0."""
    expected = json.loads(OLD_RUN.with_name("lm_run_0.1.0.expected.json").read_text())
    text = OLD_RUN.with_name("lm_run_0.1.0.text.txt")
    run = load_run(copy_of_old_run(tmp_path))
    assert isinstance(run.task, Generates)
    metrics = run.task.evaluate_files(run.model, [text])
    old_metrics = {name: metrics[name] for name in expected["evaluate"]}  # later ones added
    assert old_metrics == pytest.approx(expected["evaluate"], rel=1e-6)
    assert run.task.generate(run.model, "the cell", 30, greedy=True) == [expected["greedy"]]


def test_a_run_directory_of_version_0_1_0_resumes(tmp_path):
    run_dir = copy_of_old_run(tmp_path)
    text = OLD_RUN.with_name("lm_run_0.1.0.text.txt")
    final = train_run(
        "lm", [str(text)], run_dir, overrides=["train.max_steps=7"], resume=True, live=False
    )
    assert [record["step"] for record in read_metrics_log(run_dir)] == [5, 7]
    assert torch.isfinite(torch.tensor(final["valid"]["loss"]))
