"""Starting and resuming training runs: what ``rnnkit train`` does, as a library call."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from rnnkit.errors import UserError
from rnnkit.models.registry import task_class
from rnnkit.train.checkpoint import LAST_DIR, load_checkpoint
from rnnkit.train.config import load_config
from rnnkit.train.task import DataSources
from rnnkit.train.trainer import Trainer


def train_run(
    task: str,
    data: Sequence[str],
    out: str | Path,
    *,
    valid: Sequence[str] = (),
    test: Sequence[str] = (),
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
    resume: bool = False,
    live: bool | None = None,
) -> dict[str, Any]:
    """Train ``task`` on ``data`` into the run directory ``out``; the final metrics.

    The config is the task's defaults, then the YAML file ``config``, then ``overrides``
    (``"train.lr=0.001"``). With ``resume`` the run continues from ``out/last`` with the config
    saved there (``config`` and ``overrides`` still apply on top, e.g. to add epochs) and the
    tokenizers saved there. Without it, ``out`` must be new or empty.
    """
    cls = task_class(task)
    run_dir = Path(out)
    saved, base = None, None
    if resume:
        saved = load_checkpoint(run_dir / LAST_DIR)
        base = yaml.safe_load(saved.config_yaml)
        if base.get("task") != task:
            raise UserError(f"holds a {base.get('task')!r} run, not {task!r}", path=run_dir)
    elif run_dir.exists() and any(run_dir.iterdir()):
        raise UserError(
            "already holds files; pass --resume to continue its run, or choose another --out",
            path=run_dir,
        )
    run_config = load_config(cls.config_class, config, overrides, base=base)
    runner = cls(run_config)
    runner.prepare(DataSources(train=list(data), valid=list(valid), test=list(test)), saved)
    return Trainer(runner, run_dir, resume=resume, live=live).fit()
