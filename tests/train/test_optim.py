"""Learning-rate schedules against their formulas, computed here independently."""

from __future__ import annotations

import math

import pytest
import torch

from rnnkit.train.config import TrainConfig
from rnnkit.train.optim import Schedule, build_optimizer


def schedule(total_steps: int = 100, **settings) -> Schedule:
    config = TrainConfig(**settings)
    optimizer = build_optimizer([torch.nn.Parameter(torch.zeros(1))], config)
    return Schedule(optimizer, config, total_steps)


def test_linear_warmup_then_constant():
    s = schedule(lr=0.1, warmup_steps=4)
    assert [round(s.lr(step, 0), 6) for step in range(6)] == [0.025, 0.05, 0.075, 0.1, 0.1, 0.1]


def test_cosine_decays_to_zero_over_the_steps_after_warmup():
    s = schedule(total_steps=110, lr=1.0, lr_schedule="cosine", warmup_steps=10)
    assert s.lr(10, 0) == pytest.approx(1.0)
    assert s.lr(60, 0) == pytest.approx(0.5)
    assert s.lr(85, 0) == pytest.approx((1 + math.cos(math.pi * 0.75)) / 2)
    assert s.lr(110, 0) == pytest.approx(0.0, abs=1e-12)


def test_cosine_follows_the_time_budget_when_it_is_further_along():
    s = schedule(total_steps=1000, lr=1.0, lr_schedule="cosine")
    assert s.lr(10, 0, time_done=0.5) == pytest.approx(0.5)
    assert s.lr(900, 0, time_done=0.5) == pytest.approx((1 + math.cos(math.pi * 0.9)) / 2)


def test_step_schedule_decays_every_few_epochs():
    s = schedule(lr=1.0, lr_schedule="step", lr_step_size=2, lr_gamma=0.1)
    assert [s.lr(0, epoch) for epoch in range(5)] == pytest.approx([1, 1, 0.1, 0.1, 0.01])


def test_step_schedule_can_hold_the_full_rate_first_as_zaremba_et_al():
    s = schedule(lr=1.0, lr_schedule="step", lr_decay_start=4, lr_gamma=0.5)
    assert [s.lr(0, epoch) for epoch in range(7)] == pytest.approx([1, 1, 1, 1, 0.5, 0.25, 0.125])


def test_plateau_anneals_on_stalled_evaluations_and_resumes():
    s = schedule(lr=1.0, lr_schedule="plateau", lr_gamma=0.5)
    s.after_evaluation(improved=True)
    s.after_evaluation(improved=False)
    s.after_evaluation(improved=False)
    assert s.apply(0, 0) == pytest.approx(0.25)
    assert s.optimizer.param_groups[0]["lr"] == pytest.approx(0.25)
    fresh = schedule(lr=1.0, lr_schedule="plateau")
    fresh.load_state_dict(s.state_dict())
    assert fresh.lr(0, 0) == pytest.approx(0.25)


@pytest.mark.parametrize(
    "name, cls",
    [("sgd", torch.optim.SGD), ("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)],
)
def test_optimizers(name, cls):
    config = TrainConfig(optimizer=name, lr=0.5, momentum=0.9, weight_decay=0.01)
    optimizer = build_optimizer([torch.nn.Parameter(torch.zeros(1))], config)
    assert isinstance(optimizer, cls)
    assert optimizer.param_groups[0]["weight_decay"] == 0.01
    if name == "sgd":
        assert optimizer.param_groups[0]["momentum"] == 0.9
