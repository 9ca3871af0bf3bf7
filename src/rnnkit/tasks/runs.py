"""The life of a run directory: `train_run` starts or resumes training into it (what
``rnnkit train`` does), `load_run` reads the trained model back for inference (what
``evaluate``, ``generate`` and the other inference commands do). Each loads a checkpoint once,
checked against its manifest once, and hands that same `LoadedCheckpoint` to the task and the
trainer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from torch import nn

from rnnkit.checkpoint import CONFIG_NAME, LAST_DIR, LoadedCheckpoint, load_checkpoint
from rnnkit.errors import UserError
from rnnkit.tasks.registry import task_class
from rnnkit.tasks.resume_changes import refuse_saved_model_changes, resume_notes
from rnnkit.train.config import load_config
from rnnkit.train.task import DataSources, Task
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
    and the tokenizers saved there; ``config`` and ``overrides`` still apply on top, to change
    how training goes on (e.g. more ``train.max_steps`` or epochs, another ``train.lr``), and
    each change is announced. Changing what was trained — ``model.*``, ``train.seed``,
    ``train.optimizer``, ``train.select_by`` or a ``data.*`` key that shapes the tokens,
    labels, features or split — is a `UserError` that names the keys, before anything is
    written (see `rnnkit.tasks.resume_changes`). The ``data`` files may differ. Without
    ``resume``, ``out`` must be new or empty.
    """
    cls = task_class(task)
    run_dir = Path(out)
    saved, base = None, None
    if resume:
        saved = load_checkpoint(run_dir / LAST_DIR)
        base = yaml.safe_load(saved.config_yaml)
        if base.get("task") != task:
            raise UserError(f"holds a {base.get('task')!r} run, not {task!r}", path=run_dir)
    elif _file_in_the_way(run_dir):
        raise UserError("is a file, or inside one; --out must name a folder", path=run_dir)
    elif run_dir.exists() and any(run_dir.iterdir()):
        raise UserError(
            "already holds files; pass --resume to continue its run, or choose another --out",
            path=run_dir,
        )
    run_config = load_config(cls.config_class, config, overrides, base=base)
    notes: list[str] = []
    if base is not None:  # the saved config as this version reads it: keys added since filled in
        before = load_config(cls.config_class, base=base).model_dump(mode="json")
        notes = resume_notes(before, run_config.model_dump(mode="json"), run_dir)
    runner = cls(run_config)
    runner.prepare(DataSources(train=list(data), valid=list(valid), test=list(test)), saved)
    return Trainer(runner, run_dir, resume_from=saved, live=live, notes=notes).fit()


def _file_in_the_way(run_dir: Path) -> bool:
    """Whether ``run_dir`` or the nearest of its parents that exists is not a folder."""
    existing = next((p for p in (run_dir, *run_dir.parents) if p.exists()), None)
    return existing is not None and not existing.is_dir()


@dataclass
class LoadedRun:
    """A trained run, ready for inference: its task (with tokenizers and labels), its best
    model in eval mode, and the checkpoint they came from."""

    task: Task
    model: nn.Module
    checkpoint: LoadedCheckpoint

    @property
    def metrics(self) -> dict[str, Any]:
        """The evaluation results saved with the model (``metrics.json``)."""
        return self.checkpoint.metrics


def load_run(
    run_dir: str | Path, *, map_location: str = "cpu", overrides: Sequence[str] = ()
) -> LoadedRun:
    """The task (with its tokenizers) and the best model saved in ``run_dir``, in eval mode;
    ``overrides`` (``"decode.beam_size=1"``) change the saved config for this use only, but
    not a ``model.*`` key or a data key that built the saved tokenizers (a `UserError`)."""
    path = Path(run_dir)
    if not path.exists():
        raise UserError("no such run directory", path=path)
    if not (path / CONFIG_NAME).is_file():
        raise UserError("not a run directory (it has no config.yaml)", path=path)
    checkpoint = load_checkpoint(path)
    saved = yaml.safe_load(checkpoint.config_yaml)
    name = saved.get("task") if isinstance(saved, dict) else None
    cls = task_class(str(name))
    config = load_config(cls.config_class, overrides=overrides, base=saved)
    if overrides:
        as_saved = load_config(cls.config_class, base=saved).model_dump(mode="json")
        refuse_saved_model_changes(as_saved, config.model_dump(mode="json"), path)
    task = cls(config)
    task.load_assets(checkpoint)
    model = task.build_model()
    checkpoint.load_weights(model, map_location)
    return LoadedRun(task, model.eval(), checkpoint)
