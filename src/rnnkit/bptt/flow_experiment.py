"""The experiment behind ``rnnkit diagnose gradient-flow``: the gradient flow of several cells
on one batch of the adding problem, at initialisation and after a short training, and the
effect of gradient clipping, measured with `rnnkit.bptt.gradient_flow`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.bptt.gradient_flow import gradient_flow
from rnnkit.bptt.long_memory import EXPLODING_GAIN, AddingProblem, MemoryModel, MemoryProblem, train


@dataclass(frozen=True)
class FlowSettings:
    """Everything that produces a `flow_report`."""

    cells: tuple[str, ...]
    length: int = 200
    hidden: int = 128
    batch: int = 32
    seed: int = 0
    train_steps: int = 0
    lr: float = 1e-3
    clip_norm: float | None = 1.0  # None: train without clipping


def flow_report(settings: FlowSettings) -> dict[str, Any]:
    """Gradient flow of each cell on one batch of the adding problem, JSON-ready.

    Each cell gets a `MemoryModel` (hidden size ``settings.hidden``, initialised under
    ``settings.seed``) and the loss ``Σ_n (ŷ_n - y_n)²`` read at the last step. Returns::

        {"distances": [0, 1, ...],
         "cells": {cell: [‖∂L/∂h‖ at each distance], ...},   # at initialisation
         "trained": {...}, "train_loss": {cell: mean loss of the last 10% of steps},
                                                             # only with train_steps
         "clipping": {"clip_norm": c, "cells": {cell: {"before": ‖g‖, "after": ‖g‖}}},
         "settings": {...}}

    ``trained`` is measured after ``train_steps`` Adam steps (learning rate ``lr``, gradients
    clipped to ``clip_norm`` unless it is None) on fresh batches; ``clipping`` gives the norm of
    the training gradient at initialisation before and after clipping. Non-finite norms are
    None.
    """
    problem = AddingProblem(settings.length)
    inputs, targets = problem.sample(settings.batch, settings.seed)
    report: dict[str, Any] = {"distances": list(range(settings.length)), "cells": {}}
    clipping: dict[str, Any] = {"clip_norm": settings.clip_norm, "cells": {}}
    if settings.train_steps:
        report |= {"trained": {}, "train_loss": {}}
    for cell in settings.cells:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(settings.seed)
            model = MemoryModel(cell, problem.input_size, settings.hidden, problem.output_size)
        report["cells"][cell] = _flow_on_problem(model, inputs, targets)
        clipping["cells"][cell] = clipping_effect(
            model, problem, inputs, targets, settings.clip_norm
        )
        if settings.train_steps:
            losses = train(
                model, problem, steps=settings.train_steps, batch_size=settings.batch,
                lr=settings.lr, clip_norm=settings.clip_norm, seed=settings.seed + 1,
            )  # fmt: skip
            tail = losses[-max(1, len(losses) // 10) :]
            report["train_loss"][cell] = _finite(sum(tail) / len(tail))
            report["trained"][cell] = _flow_on_problem(model, inputs, targets)
    settings_record = asdict(settings) | {"task": "adding", "exploding_gain": EXPLODING_GAIN}
    return report | {"clipping": clipping, "settings": settings_record}


def clipping_effect(
    model: nn.Module,
    problem: MemoryProblem,
    inputs: Tensor,
    targets: Tensor,
    clip_norm: float | None,
) -> dict[str, float | None]:
    """Total norm of the training gradient on one batch before and after clipping it (the
    same twice when ``clip_norm`` is None)."""
    model.zero_grad()
    problem.loss(model(inputs), targets).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    before = nn.utils.get_total_norm(grads)
    if clip_norm is not None:
        nn.utils.clip_grads_with_norm_(model.parameters(), clip_norm, before)
    after = nn.utils.get_total_norm(grads)
    model.zero_grad()
    return {"before": _finite(float(before)), "after": _finite(float(after))}


def _flow_on_problem(model: MemoryModel, inputs: Tensor, targets: Tensor) -> list[float | None]:
    def loss(outputs: Tensor) -> Tensor:  # Σ_n (ŷ_n - y_n)², read at the last step
        return F.mse_loss(model.readout(outputs[:, -1]).squeeze(-1), targets, reduction="sum")

    return [_finite(v) for v in gradient_flow(model.layer, inputs, loss=loss).hidden]


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
