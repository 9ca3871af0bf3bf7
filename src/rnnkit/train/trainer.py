"""`Trainer`: trains any `Task` — optimizer steps, evaluation, checkpoints, early stopping.

One run, step by step:

1. seed every generator, set the thread count, flush denormal floats to zero (on a CPU they
   make vanishing gradients up to ten times slower), join the process group if launched by
   torchrun;
2. build the model (or restore it, with optimizer, schedule, RNG and position, from
   ``RUN/last`` when resuming);
3. for each epoch, for each batch of this process's shard: forward (``task.loss``, optionally
   under bf16 autocast), backward, clip, optimizer step; the task's carry (an LM's hidden
   state) passes from batch to batch, detached; throughput is counted in the task's `unit`;
4. evaluate at the end of each epoch (or every ``train.eval_every`` steps): log a record to
   ``RUN/metrics.jsonl`` (``train_loss`` is the mean over the steps since the previous
   evaluation; the scalar metrics, while ``metrics.json`` has them all), save ``RUN/`` when
   the validation metric improves and ``RUN/last`` always; stop early after
   ``train.patience`` evaluations without improvement, after ``train.max_steps`` steps or
   ``train.max_minutes`` minutes. A run stopped between two of these scheduled evaluations
   is evaluated once more as it stops (logged, ``RUN`` saved if better), but patience, the
   plateau schedule and NT-ASGD's trigger follow the scheduled evaluations only: resumed with
   a longer budget, the run goes on as if it had never stopped;
5. evaluate the best model on the validation and test data and write ``RUN/metrics.json``.

A resumed run continues exactly where ``RUN/last`` left off: on a CPU, a run interrupted and
resumed ends with the same weights, bit for bit, as one that was never interrupted.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence, Sized
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnkit.checkpoint import (
    LAST_DIR,
    LoadedCheckpoint,
    append_metrics,
    load_checkpoint,
    save_checkpoint,
)
from rnnkit.train.averaging import ParameterAverage
from rnnkit.train.config import dump_config
from rnnkit.train.distributed import Cluster
from rnnkit.train.optim import Schedule, build_optimizer
from rnnkit.train.precision import check_precision
from rnnkit.train.progress import TrainingProgress
from rnnkit.train.rng import capture_rng_state, restore_rng_state
from rnnkit.train.task import Task


@dataclass
class Position:
    """Where a run stands; saved with every checkpoint."""

    epoch: int = 0  # the epoch under way (from 0)
    batch: int = 0  # batches of it already trained on
    step: int = 0  # optimizer steps so far
    best: float | None = None  # best validation score so far: the model in RUN
    # best score of the scheduled evaluations, which patience, plateau and NT-ASGD follow
    scheduled_best: float | None = None
    stale: int = 0  # scheduled evaluations since scheduled_best
    elapsed: float = 0.0  # seconds of training so far, all sessions together


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def move_to(batch: Any, device: torch.device) -> Any:
    """``batch`` (tensors inside tuples, lists and dicts) on ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, tuple | list):
        return type(batch)(move_to(item, device) for item in batch)
    if isinstance(batch, dict):
        return {key: move_to(value, device) for key, value in batch.items()}
    return batch


@dataclass
class Meter:
    """This session's clock, training throughput and training loss since the last evaluation
    (checkpoints are saved at evaluations, so a resumed run has none to carry over)."""

    elapsed_before: float  # seconds of earlier sessions
    start: float = field(default_factory=time.monotonic)
    units: int = 0  # what the task counts (tokens, sentences, ...) trained on, all processes
    step_seconds: float = 0.0  # time in optimizer steps, without evaluations and checkpoints
    loss_sum: float = 0.0  # training loss summed over the steps since the last evaluation
    loss_steps: int = 0  # and the number of those steps

    def add_loss(self, loss: float) -> None:
        self.loss_sum, self.loss_steps = self.loss_sum + loss, self.loss_steps + 1

    def mean_loss(self) -> float:
        """The mean training loss of the steps since the last evaluation (nan if none)."""
        return self.loss_sum / self.loss_steps if self.loss_steps else math.nan

    def take_mean_loss(self) -> float:
        """`mean_loss`, then start a new mean (at an evaluation)."""
        mean = self.mean_loss()
        self.loss_sum, self.loss_steps = 0.0, 0
        return mean

    def seconds(self) -> float:
        """Wall-clock seconds of this session."""
        return time.monotonic() - self.start

    def throughput(self) -> float:
        """Units trained on per second of optimizer steps."""
        return self.units / max(self.step_seconds, 1e-9)


class Trainer:
    """Trains ``task`` into the run directory ``run_dir`` (see the module docstring).

    Args:
        task: a prepared `Task` (its data read, its tokenizers fitted or restored).
        run_dir: the run directory to write.
        resume_from: the checkpoint ``RUN/last`` to continue from (model, optimizer, schedule,
            RNG and position), as `rnnkit.checkpoint.load_checkpoint` returned it.
        live: draw a live progress bar (default: when stdout is an interactive terminal).
        notes: lines the main process prints before training, after the task's summary (e.g.
            the config changes of a resumed run).
    """

    def __init__(
        self,
        task: Task,
        run_dir: str | Path,
        *,
        resume_from: LoadedCheckpoint | None = None,
        live: bool | None = None,
        notes: Sequence[str] = (),
    ) -> None:
        self.task, self.run_dir, self.live = task, Path(run_dir), live
        self.notes = list(notes)
        self.resume_from = resume_from
        self.config = task.config.train
        self.cluster = Cluster.join(self.config.device)
        check_precision(self.config.precision, self.cluster.device)
        self.config_yaml = dump_config(task.config)
        self.position = Position()
        self.evaluated_at = 0

    # --- the run -------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        """Train, then return the final metrics (also written to ``RUN/metrics.json``)."""
        if self.config.threads:
            torch.set_num_threads(self.config.threads)
        # vanishing gradients reach denormal floats, which CPUs handle up to ~10x slower
        torch.set_flush_denormal(True)
        seed_everything(self.config.seed)
        model = self.task.build_model().to(self.cluster.device)
        if self.cluster.is_main:
            size = sum(p.numel() for p in model.parameters())
            print(f"{self.task.summary()}; model: {size:,} parameters", flush=True)
            for note in self.notes:
                print(note, flush=True)
        self.optimizer = build_optimizer(model.parameters(), self.config)
        self.averaging = (
            ParameterAverage(self.config.asgd_nonmono, self.task.higher_is_better)
            if self.config.optimizer == "asgd"
            else None
        )
        self.per_epoch = self._batches_per_epoch()
        total = self.config.epoch_limit * self.per_epoch  # inf: max_steps decides
        self.schedule = Schedule(
            self.optimizer, self.config, int(min(total, self.config.max_steps or total))
        )
        if self.resume_from is not None:
            carry = self._restore(model, self.resume_from)
        else:
            carry = None
            torch.manual_seed(self.config.seed + self.cluster.rank)  # dropout differs per rank
        self.evaluated_at = self.position.step
        wrapped = self.cluster.wrap(model)
        live = self.live if self.cluster.is_main else False
        progress = TrainingProgress(
            self.schedule.total_steps, self._budget(), live, self.position.step, self.task.unit
        )
        meter = Meter(self.position.elapsed)
        if self.resume_from is not None and self.cluster.is_main and self._finished():
            print(
                f"the run has already finished (step {self.position.step}, epoch "
                f"{self.position.epoch}); raise train.epochs or train.max_steps with --set to "
                "train on",
                flush=True,
            )
        try:
            while not self._finished():
                carry = self._train_epoch(model, wrapped, carry, meter, progress)
            if self.position.step > self.evaluated_at:  # stopped between two evaluations
                self._evaluate(model, carry, meter, progress, scheduled=False)
        finally:
            progress.close()
        final = self._finish(model) if self.cluster.is_main else {}
        self.cluster.barrier()
        self.cluster.leave()
        return final

    def _train_epoch(
        self,
        model: nn.Module,
        wrapped: nn.Module,
        carry: Any,
        meter: Meter,
        progress: TrainingProgress,
    ) -> Any:
        """Train on the rest of the current epoch, or until a stop; returns the carry."""
        position, task, cluster = self.position, self.task, self.cluster
        for index, batch in enumerate(
            task.train_batches(position.epoch, cluster.rank, cluster.world_size)
        ):
            if index < position.batch:
                continue  # trained on before the run was resumed
            if self._should_stop():  # checked before a step: a stop after the last one
                return carry  # still ends its epoch as scheduled
            batch = move_to(batch, cluster.device)
            started = time.monotonic()
            loss, count, carry = self._step(wrapped, batch, carry)
            meter.step_seconds += time.monotonic() - started
            position.batch, position.step = index + 1, position.step + 1
            position.elapsed = meter.elapsed_before + meter.seconds()
            meter.units += count * cluster.world_size
            meter.add_loss(loss)
            progress.update(position.step, position.epoch, meter.mean_loss(), meter.throughput())
            every = self.config.eval_every
            if every is not None and position.step % every == 0:
                self._evaluate(model, carry, meter, progress)
        position.epoch, position.batch = position.epoch + 1, 0
        # not again where the epoch's last step was evaluated (a checkpoint that earlier versions
        # wrote as a run stopped at an epoch's last step, before ending the epoch)
        if self.config.eval_every is None and position.step > self.evaluated_at:
            self._evaluate(model, None, meter, progress)
        return None

    def _step(self, model: nn.Module, batch: Any, carry: Any) -> tuple[float, int, Any]:
        """One optimizer step; returns the loss, the batch's size in the task's unit and the
        next carry."""
        budget = self._budget()
        time_done = self.position.elapsed / budget if budget else 0.0
        factor = self.task.lr_factor(batch)
        self.schedule.apply(self.position.step, self.position.epoch, time_done, factor)
        model.train()
        bf16 = self.config.precision == "bf16"
        with torch.autocast(self.cluster.device.type, dtype=torch.bfloat16, enabled=bf16):
            loss, count, carry = self.task.loss(model, batch, carry)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.clip_value is not None:
            nn.utils.clip_grad_value_(model.parameters(), self.config.clip_value)
        if self.config.clip_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), self.config.clip_norm)
        self.optimizer.step()
        if self.averaging is not None:
            self.averaging.update(model.parameters())
        return float(loss.detach()), count, self.task.detach_carry(carry)

    # --- stopping --------------------------------------------------------------------------
    def _budget(self) -> float | None:
        return None if self.config.max_minutes is None else self.config.max_minutes * 60

    def _finished(self) -> bool:
        """Every epoch done, or a reason to stop (`_should_stop`)."""
        return self.position.epoch >= self.config.epoch_limit or self._should_stop()

    def _should_stop(self) -> bool:
        """Out of steps or time, or no improvement for ``patience`` evaluations."""
        config, position, budget = self.config, self.position, self._budget()
        stop = config.max_steps is not None and position.step >= config.max_steps
        stop = stop or (config.patience is not None and position.stale >= config.patience)
        if budget is not None:  # clocks differ between processes: stop together
            stop = self.cluster.any(stop or position.elapsed >= budget)
        return stop

    # --- evaluation and checkpoints --------------------------------------------------------
    def _evaluate(
        self,
        model: nn.Module,
        carry: Any,
        meter: Meter,
        progress: TrainingProgress,
        scheduled: bool = True,
    ) -> None:
        """Evaluate on the validation data, log, save ``RUN`` if better and ``RUN/last``; with
        NT-ASGD the evaluation and ``RUN`` hold the averaged weights once averaging began. Only
        a ``scheduled`` evaluation counts for patience, the plateau schedule and NT-ASGD."""
        position, task = self.position, self.task
        has_valid = self.cluster.is_main and "valid" in task.splits()
        with self._averaged(model):
            metrics = task.evaluate(model, "valid") if has_valid else {}
        score = self.cluster.broadcast([metrics.get(task.metric, math.nan)])[0]
        improved = self._improves(score, position.best)
        if improved:
            position.best = score
        self.evaluated_at = position.step
        train_loss = self.cluster.mean(meter.take_mean_loss())
        ranks = self._gather_rank_states(carry)
        saved = {"step": position.step, "valid": metrics}
        if self.cluster.is_main and improved:
            with self._averaged(model):
                self._save(self.run_dir, model, saved)
        if scheduled:
            self._follow(score, model, progress)
        if self.cluster.is_main:
            self._save(self.run_dir / LAST_DIR, model, saved, self._state(ranks))
            # logged once RUN/last holds this step: a run killed before never logs it twice
            self._log(train_loss, metrics, meter, progress)
        self.cluster.barrier()

    def _improves(self, score: float, best: float | None) -> bool:
        """Whether ``score`` beats ``best`` (a NaN score, from a task without validation data,
        always does)."""
        if best is None or math.isnan(score):
            return True
        return score > best if self.task.higher_is_better else score < best

    def _follow(self, score: float, model: nn.Module, progress: TrainingProgress) -> None:
        """What a scheduled evaluation's ``score`` steers: the count of evaluations without
        improvement (patience), the plateau schedule, NT-ASGD's trigger."""
        position = self.position
        improved = self._improves(score, position.scheduled_best)
        if improved:
            position.scheduled_best, position.stale = score, 0
        else:
            position.stale += 1
        self.schedule.after_evaluation(improved)
        averaging = self.averaging
        triggered = averaging is not None and averaging.after_evaluation(score, model.parameters())
        if triggered and self.cluster.is_main:
            progress.note(f"step {position.step}: validation stalled; averaging weights (ASGD)")

    def _averaged(self, model: nn.Module) -> AbstractContextManager[None]:
        """A block in which ``model`` holds its NT-ASGD average (its own weights without)."""
        return nullcontext() if self.averaging is None else self.averaging.applied(model)

    def _save(
        self,
        directory: Path,
        model: nn.Module,
        metrics: dict[str, Any],
        trainer_state: dict[str, Any] | None = None,
    ) -> None:
        save_checkpoint(
            directory,
            model=model,
            config_yaml=self.config_yaml,
            files=self.task.assets(),
            metrics=metrics,
            trainer_state=trainer_state,
        )

    def _log(
        self,
        train_loss: float,
        metrics: dict[str, Any],
        meter: Meter,
        progress: TrainingProgress,
    ) -> None:
        position = self.position
        record: dict[str, Any] = {
            "epoch": round(position.epoch + position.batch / max(self.per_epoch, 1), 3),
            "step": position.step,
            "train_loss": train_loss,
        }
        # the scalars only: per-class tables and confusion matrices go to metrics.json
        record |= {
            f"valid_{name}": value
            for name, value in metrics.items()
            if isinstance(value, int | float)
        }
        record |= {
            "lr": self.schedule.rate,
            f"{self.task.unit}_per_s": meter.throughput(),
            "elapsed_s": round(position.elapsed, 1),
        }
        append_metrics(self.run_dir, record)
        progress.log(record)

    def _gather_rank_states(self, carry: Any) -> list[dict[str, Any]] | None:
        """Every rank's RNG state and carry, on rank 0 (a resumed rank takes its own)."""
        own = {"rng": capture_rng_state(), "carry": move_to(carry, torch.device("cpu"))}
        if not self.cluster.distributed:
            return [own]
        gathered: list[Any] | None = (
            [None] * self.cluster.world_size if self.cluster.is_main else None
        )
        torch.distributed.gather_object(own, gathered, dst=0)
        return gathered

    def _state(self, ranks: list[dict[str, Any]] | None) -> dict[str, Any]:
        return {
            "position": asdict(self.position),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "averaging": None if self.averaging is None else self.averaging.state_dict(),
            "ranks": ranks,
        }

    def _restore(self, model: nn.Module, checkpoint: LoadedCheckpoint) -> Any:
        """Load ``checkpoint`` into the model, optimizer, schedule and position; the carry back."""
        checkpoint.load_weights(model, self.cluster.device)
        state = checkpoint.load_trainer_state(self.cluster.device)
        # checkpoints from before scheduled_best: every evaluation was a scheduled one
        saved = state["position"]
        self.position = Position(**{"scheduled_best": saved["best"], **saved})
        # loading restores the saved groups' settings too; keep the config's (weight_decay,
        # momentum), which a resumed run may change
        configured = [
            {k: v for k, v in group.items() if k != "params"}
            for group in self.optimizer.param_groups
        ]
        self.optimizer.load_state_dict(state["optimizer"])
        for group, settings in zip(self.optimizer.param_groups, configured, strict=True):
            group.update(settings)
        self.schedule.load_state_dict(state["schedule"])
        if self.averaging is not None and state.get("averaging") is not None:
            self.averaging.load_state_dict(state["averaging"])
        own = state["ranks"][self.cluster.rank % len(state["ranks"])]
        restore_rng_state(own["rng"])
        return move_to(own["carry"], self.cluster.device)

    def _batches_per_epoch(self) -> int:
        batches = self.task.train_batches(0, self.cluster.rank, self.cluster.world_size)
        return len(batches) if isinstance(batches, Sized) else sum(1 for _ in batches)

    def _finish(self, model: nn.Module) -> dict[str, Any]:
        """Evaluate the best model on every split and write ``RUN/metrics.json`` with it.

        A split this session was not given (a resumed run without ``--test``) keeps the results
        ``RUN/metrics.json`` holds for it: they are the same best model's, since a new best
        model is saved with its validation results alone."""
        best = load_checkpoint(self.run_dir)
        best.load_weights(model, self.cluster.device)
        splits = self.task.splits()
        kept = {
            split: results
            for split, results in best.metrics.items()
            if split not in ("step", "epoch", *splits) and results  # {}: no validation data
        }
        final: dict[str, Any] = {"step": self.position.step, "epoch": self.position.epoch, **kept}
        for split in splits:
            final[split] = self.task.evaluate(model, split)
        self._save(self.run_dir, model, final)
        return final
