"""The trainer knows no task: a regression task it has never heard of (`conftest.Regression`)
trains, evaluates, checkpoints and resumes bit for bit, with its own throughput unit."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from rnnkit.checkpoint import LAST_DIR, load_checkpoint, read_metrics_log
from rnnkit.train import Trainer


def fit(task, run_dir: Path, **kwargs) -> dict:
    return Trainer(task, run_dir, live=False, **kwargs).fit()


def test_a_task_the_trainer_never_heard_of_trains_and_is_saved(regression_task, tmp_path):
    task = regression_task("train.epochs=3", "train.batch_size=8", "train.lr=0.05")
    before = task.evaluate(task.build_model(), "valid")["loss"]
    final = fit(task, tmp_path / "run")
    assert final["valid"]["loss"] < before / 4
    log = read_metrics_log(tmp_path / "run")
    assert [record["step"] for record in log] == [10, 20, 30]
    assert all(record["examples_per_s"] > 0 for record in log)  # the task's own unit
    saved = load_checkpoint(tmp_path / "run")
    assert saved.metrics == final
    model = task.build_model()
    saved.load_weights(model)
    assert task.evaluate(model, "valid") == pytest.approx(final["valid"])


def test_the_logged_train_loss_is_the_mean_since_the_previous_evaluation(regression_task, tmp_path):
    task = regression_task("train.max_steps=12", "train.eval_every=5", "train.batch_size=8")
    fit(task, tmp_path / "run")
    logged = [record["train_loss"] for record in read_metrics_log(tmp_path / "run")]
    windows = [task.losses[0:5], task.losses[5:10], task.losses[10:12]]
    assert logged == pytest.approx([math.fsum(w) / len(w) for w in windows], rel=1e-12)


@pytest.mark.parametrize(
    "evaluations, stop",
    [(["train.eval_every=4"], 12), ([], 10)],
    ids=["middle-of-an-epoch", "end-of-an-epoch"],
)
def test_a_resumed_run_equals_an_uninterrupted_one(regression_task, tmp_path, evaluations, stop):
    # 10 batches per epoch: stopped at step 12, an evaluation, in the middle of epoch 2, or at
    # step 10, the end of epoch 1, evaluated once (not again as the resumed run ends the epoch)
    settings = ("train.epochs=3", "train.batch_size=8", *evaluations)
    fit(regression_task(*settings), tmp_path / "straight")
    fit(regression_task(*settings, f"train.max_steps={stop}"), tmp_path / "resumed")
    resume_from = load_checkpoint(tmp_path / "resumed" / LAST_DIR)
    fit(regression_task(*settings), tmp_path / "resumed", resume_from=resume_from)
    straight = load_file(tmp_path / "straight" / LAST_DIR / "model.safetensors")
    resumed = load_file(tmp_path / "resumed" / LAST_DIR / "model.safetensors")
    assert straight.keys() == resumed.keys()
    for name in straight:
        assert torch.equal(straight[name], resumed[name]), name
    clocks = ("examples_per_s", "elapsed_s")
    logs = [
        [{k: v for k, v in r.items() if k not in clocks} for r in read_metrics_log(run)]
        for run in (tmp_path / "straight", tmp_path / "resumed")
    ]
    assert logs[0] == logs[1]  # the same records, the mean train loss included, clocks aside


@pytest.mark.parametrize(
    "steering",
    [["train.lr_schedule=plateau", "train.lr_gamma=0.5"], ["train.optimizer=asgd"]],
    ids=["plateau", "nt-asgd"],
)
def test_stops_between_evaluations_do_not_steer_a_resumed_run(regression_task, tmp_path, steering):
    # 10 batches per epoch, evaluated at each epoch's end; the second run stops (and is
    # evaluated) at steps 15, 37, 44 and 58, is resumed each time, and must train and anneal
    # or average exactly as the first, which never stopped
    settings = ("train.epochs=8", "train.batch_size=8", "train.lr=0.3", *steering)
    fit(regression_task(*settings), tmp_path / "straight")
    run = tmp_path / "stopped"
    fit(regression_task(*settings, "train.max_steps=15"), run)
    for stop in ("train.max_steps=37", "train.max_steps=44", "train.max_steps=58", None):
        task = regression_task(*settings, *([stop] if stop else []))
        fit(task, run, resume_from=load_checkpoint(run / LAST_DIR))
    straight = load_file(tmp_path / "straight" / LAST_DIR / "model.safetensors")
    stopped = load_file(run / LAST_DIR / "model.safetensors")
    for name in straight:
        assert torch.equal(straight[name], stopped[name]), name
    scheduled = {r["step"]: r for r in read_metrics_log(tmp_path / "straight")}
    logged = [r for r in read_metrics_log(run) if r["step"] in scheduled]
    assert [r["step"] for r in logged] == list(scheduled)
    for record in logged:
        expected = scheduled[record["step"]]
        assert (record["valid_loss"], record["lr"]) == (expected["valid_loss"], expected["lr"])
    assert len({r["lr"] for r in logged}) > 1 or "asgd" in steering[0]  # the plateau was hit


def test_a_step_takes_the_share_of_the_learning_rate_its_task_gives_the_batch(
    regression_task, tmp_path
):
    # batches of 30, 30 and 20 examples, each step's rate scaled by its batch's size over 30:
    # plain SGD must move the weights by exactly lr × factor × gradient, and log the rate
    # without the factor
    task = regression_task(
        "train.epochs=1", "train.batch_size=30", "train.lr=0.1", "train.optimizer=sgd",
        "train.clip_norm=null",
    )  # fmt: skip
    task.lr_factor = lambda batch: len(batch[1]) / 30
    initial: list[torch.nn.Module] = []
    build = task.build_model

    def build_and_keep() -> torch.nn.Module:
        model = build()
        initial.append(copy.deepcopy(model))
        return model

    task.build_model = build_and_keep
    fit(task, tmp_path / "run")
    expected = initial[0]
    factors = []
    for x, y in task.train_batches(0, 0, 1):
        loss = F.mse_loss(expected(x).squeeze(-1), y)
        gradients = torch.autograd.grad(loss, list(expected.parameters()))
        factors.append(len(y) / 30)
        with torch.no_grad():
            for parameter, gradient in zip(expected.parameters(), gradients, strict=True):
                parameter -= 0.1 * factors[-1] * gradient
    assert factors == [1.0, 1.0, 2 / 3]
    trained = load_file(tmp_path / "run" / LAST_DIR / "model.safetensors")
    for name, parameter in expected.state_dict().items():
        torch.testing.assert_close(trained[name], parameter, rtol=1e-6, atol=1e-7)
    assert [record["lr"] for record in read_metrics_log(tmp_path / "run")] == [0.1]


def test_resuming_a_finished_run_says_so(regression_task, tmp_path, capsys):
    fit(regression_task("train.max_steps=3"), tmp_path / "run")
    resume_from = load_checkpoint(tmp_path / "run" / LAST_DIR)
    fit(regression_task("train.max_steps=3"), tmp_path / "run", resume_from=resume_from)
    assert "the run has already finished (step 3" in capsys.readouterr().out
    assert [record["step"] for record in read_metrics_log(tmp_path / "run")] == [3]


def with_test_split(task):
    """``task`` scored on a test split too (its validation points)."""
    task.data["test"] = task.data["valid"]
    return task


def test_a_resumed_run_not_given_the_test_data_keeps_the_best_models_test_results(
    regression_task, tmp_path
):
    first = fit(with_test_split(regression_task("train.max_steps=3")), tmp_path / "run")
    resume_from = load_checkpoint(tmp_path / "run" / LAST_DIR)
    again = fit(regression_task("train.max_steps=3"), tmp_path / "run", resume_from=resume_from)
    assert again["test"] == first["test"]  # the same best model: its results stand
    assert load_checkpoint(tmp_path / "run").metrics == again


def test_a_new_best_model_drops_the_test_results_of_the_old_one(regression_task, tmp_path):
    settings = ("train.batch_size=8", "train.lr=0.05")
    fit(with_test_split(regression_task(*settings, "train.max_steps=3")), tmp_path / "run")
    resume_from = load_checkpoint(tmp_path / "run" / LAST_DIR)
    task = regression_task(*settings, "train.max_steps=30")
    final = fit(task, tmp_path / "run", resume_from=resume_from)
    assert "test" not in final and "test" not in load_checkpoint(tmp_path / "run").metrics
    best = task.build_model()
    load_checkpoint(tmp_path / "run").load_weights(best)
    assert final["valid"] == pytest.approx(task.evaluate(best, "valid"))


def test_max_steps_decides_when_epochs_is_unset(regression_task, tmp_path):
    task = regression_task("train.max_steps=50", "train.batch_size=40")  # 2 batches per epoch
    fit(task, tmp_path / "steps")
    assert len(task.losses) == 50  # 25 epochs: the default ten do not cut the run short
    capped = regression_task("train.max_steps=50", "train.batch_size=40", "train.epochs=3")
    fit(capped, tmp_path / "capped")
    assert len(capped.losses) == 6  # an explicit epochs still applies
    plain = regression_task("train.batch_size=40")
    fit(plain, tmp_path / "plain")
    assert len(plain.losses) == 20  # neither set: ten epochs
