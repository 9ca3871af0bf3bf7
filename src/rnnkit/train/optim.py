"""Optimizers and learning-rate schedules, from the ``train.*`` config keys.

The learning rate at optimizer step ``s`` (counted from 0) in epoch ``e`` is

    lr(s) = train.lr × warmup(s) × decay(s, e) × plateau

* ``warmup(s) = min(1, (s + 1) / warmup_steps)`` (linear warm-up; 1 without warm-up);
* ``decay``: ``constant`` 1; ``step`` 1 before epoch ``d = lr_decay_start`` (default
  ``lr_step_size``), then ``lr_gamma ** (1 + (e - d) // lr_step_size)`` (Zaremba et al. 2014:
  the full rate for 4 epochs, then halved every epoch); ``cosine``
  ``(1 + cos(π · p)) / 2`` with ``p`` the fraction of the run done: of its steps after
  warm-up, or of its time budget ``train.max_minutes`` if that is further along;
* ``plateau``: multiplied by ``lr_gamma`` after each evaluation that does not improve on the
  best validation score (the "anneal on plateau" of Zaremba et al. 2014; 1 for the others).

A step may take a share of that rate: the optimizer runs at ``lr(s) × f`` with the task's
factor ``f`` for the batch (`rnnkit.train.Task.lr_factor`, 1 for most tasks).

The schedule's state is a few numbers, saved with the checkpoint for an exact resume.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from rnnkit.train.config import TrainConfig


def build_optimizer(
    parameters: Iterable[nn.Parameter], config: TrainConfig
) -> torch.optim.Optimizer:
    """SGD (with momentum), Adam or AdamW at ``config.lr``; ``asgd`` runs SGD, averaged by the
    trainer once triggered (`rnnkit.train.averaging`)."""
    params = list(parameters)
    if config.optimizer in ("sgd", "asgd"):
        return torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)


class Schedule:
    """Sets the optimizer's learning rate before every step (see the module docstring)."""

    def __init__(
        self, optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int
    ) -> None:
        self.optimizer, self.config, self.total_steps = optimizer, config, max(total_steps, 1)
        self.plateau = 1.0
        self.rate = config.lr  # the scheduled rate of the latest step, before its batch's factor

    def lr(self, step: int, epoch: int, time_done: float = 0.0) -> float:
        """The learning rate of optimizer step ``step`` (from 0) in epoch ``epoch`` (from 0),
        ``time_done`` of the time budget being spent (0 without one)."""
        config = self.config
        warmup = min(1.0, (step + 1) / config.warmup_steps) if config.warmup_steps else 1.0
        decay = 1.0
        if config.lr_schedule == "step":
            start = config.lr_step_size if config.lr_decay_start is None else config.lr_decay_start
            if epoch >= start:
                decay = config.lr_gamma ** (1 + (epoch - start) // config.lr_step_size)
        elif config.lr_schedule == "cosine":
            span = max(self.total_steps - config.warmup_steps, 1)
            done = min(max(max(step - config.warmup_steps, 0) / span, time_done), 1.0)
            decay = 0.5 * (1.0 + math.cos(math.pi * done))
        return config.lr * warmup * decay * self.plateau

    def apply(self, step: int, epoch: int, time_done: float = 0.0, factor: float = 1.0) -> float:
        """Set the learning rate for step ``step``, times its batch's ``factor``, and return
        the scheduled rate (without the factor)."""
        self.rate = self.lr(step, epoch, time_done)
        for group in self.optimizer.param_groups:
            group["lr"] = self.rate * factor
        return self.rate

    def after_evaluation(self, improved: bool) -> None:
        """Anneal on a plateau: multiply by ``lr_gamma`` when the evaluation did not improve."""
        if self.config.lr_schedule == "plateau" and not improved:
            self.plateau *= self.config.lr_gamma

    def state_dict(self) -> dict[str, Any]:
        return {"plateau": self.plateau}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.plateau = float(state["plateau"])
