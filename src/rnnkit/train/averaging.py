"""Non-monotonically triggered averaged SGD (NT-ASGD, Merity et al. 2017, "Regularizing and
Optimizing LSTM Language Models"): ``train.optimizer=asgd``.

Training runs plain SGD. After each evaluation ``k`` with validation score ``v_k``, averaging is
triggered once

    k > n  and  v_k is worse than the best of v_1 .. v_{k-n}

(``n = train.asgd_nonmono``: the score has not improved on what it was ``n`` evaluations ago).
From then on the average of the iterates after every later step is kept,

    w̄_t = w̄_{t-1} + (w_t - w̄_{t-1}) / t     (t = 1, 2, ... steps since the trigger)

and evaluations and the saved best model use ``w̄``, while SGD goes on from ``w``. (The
reference code switches to ``torch.optim.ASGD(t0=0, lambd=0)``, which steps as SGD does but
whose average ``ax`` leaves out the first iterate after the switch: a one-step difference.)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn


class ParameterAverage:
    """The NT-ASGD trigger and the running average of the parameters (module docstring)."""

    def __init__(self, nonmono: int, higher_is_better: bool = False) -> None:
        if nonmono < 1:
            raise ValueError(f"nonmono must be at least 1, got {nonmono}")
        self.nonmono, self.higher_is_better = nonmono, higher_is_better
        self.history: list[float] = []  # every validation score, in order
        self.average: list[Tensor] | None = None  # w̄, once triggered
        self.count = 0  # steps averaged

    @property
    def active(self) -> bool:
        return self.average is not None

    def after_evaluation(self, score: float, parameters: Iterable[nn.Parameter]) -> bool:
        """Record ``score``; start averaging if it triggers (True then)."""
        earlier, self.history = self.history, [*self.history, score]
        if self.active or len(earlier) <= self.nonmono:
            return False
        best = (
            max(earlier[: -self.nonmono])
            if self.higher_is_better
            else min(earlier[: -self.nonmono])
        )
        if not (score < best if self.higher_is_better else score > best):
            return False
        self.average = [torch.zeros_like(p, dtype=torch.float32) for p in parameters]
        return True

    @torch.no_grad()
    def update(self, parameters: Iterable[nn.Parameter]) -> None:
        """Fold the parameters after an optimizer step into the average (if active)."""
        if self.average is None:
            return
        self.count += 1
        for mean, p in zip(self.average, parameters, strict=True):
            mean.add_(p.float() - mean, alpha=1.0 / self.count)

    @contextmanager
    def applied(self, model: nn.Module) -> Iterator[None]:
        """Inside the block the model holds the average (if active), outside its own weights."""
        if self.average is None or self.count == 0:
            yield
            return
        own = [p.detach().clone() for p in model.parameters()]
        with torch.no_grad():
            for p, mean in zip(model.parameters(), self.average, strict=True):
                p.copy_(mean)
        try:
            yield
        finally:
            with torch.no_grad():
                for p, saved in zip(model.parameters(), own, strict=True):
                    p.copy_(saved)

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history, "average": self.average, "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history, self.count = list(state["history"]), int(state["count"])
        self.average = state["average"]
