"""Sketch generation (``rnnkit train sketch``) after Sketch-RNN (Ha & Eck 2017).

Data (`rnnkit.data.sketch_files`): Sketch-RNN ``.npz`` files, whose ``train`` / ``valid`` /
``test`` keys are the splits (``--valid`` / ``--test`` optional; given, an ``.npz`` there gives
its ``valid`` / ``test`` key), Quick, Draw! ``.ndjson`` files (all of a file is one split; a
``data.valid_fraction`` of the training drawings is held out when no ``--valid`` is given), or
``builtin:doodles``. Sketches of more than ``data.max_length`` points are dropped. Offsets are
divided by the scale ``σ`` of the training set (`rnnkit.data.sketches.scale_factor`), saved
with ``N_max`` in ``sketch.json`` so that evaluation and drawing reuse them; every sketch is
padded to ``N_max`` = the longest sketch + 1 rows, so each one ends with an end-of-sketch row.

Model: `rnnkit.models.sketch_rnn.SketchRNN`. Training loss, per batch::

    loss = L_s + L_p + w_KL · η_step · max(L_KL, KL_min)
    η_step = 1 - (1 - η_min) · R^step

(``train.kl_weight``, ``train.kl_min``, ``train.kl_anneal_min``, ``train.kl_anneal_rate``; no
KL term for an unconditional model). The annealing needs the optimizer step, which the trainer
does not pass to `Task.loss`; each training batch carries it instead: batch ``i`` of epoch
``e`` is step ``e · (batches per epoch) + i``, exactly the trainer's count (one step per batch,
the same number of batches every epoch), so it is deterministic and a resumed run continues
the schedule where it stopped, with no state of its own to save.

Evaluation: ``offsets`` (L_s), ``pen`` (L_p), ``reconstruction`` (L_s + L_p), ``kl`` (L_KL,
conditional models) and ``loss`` = reconstruction + w_KL · max(kl, KL_min) — the objective
once annealed, which picks the best model — with ``z`` drawn from a generator seeded by
``train.seed``, so the numbers repeat. `SketchGeneration.draw` samples new sketches, or
completions of a partial one, in the original units.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.checkpoint import LoadedCheckpoint
from rnnkit.data.bucketing import bucket_batches
from rnnkit.data.sketch_files import read_sketch_splits, split_of
from rnnkit.data.sketches import (
    random_scale,
    rescale,
    scale_factor,
    to_stroke5,
    within_length,
)
from rnnkit.errors import UserError
from rnnkit.models.mixture_density import Mixture
from rnnkit.models.sketch_rnn import SketchOutput, SketchRNN, kl_divergence, reconstruction_losses
from rnnkit.tasks.sketch_config import SketchConfig
from rnnkit.tasks.supervised import train_and_valid
from rnnkit.train.config import RunConfig
from rnnkit.train.task import DataSources, Task

ASSET_FILE = "sketch.json"
EVAL_BATCH_SIZE = 100
Batch = dict[str, Any]


@dataclass
class EpochBatches:
    """The training batches of one epoch, built on demand: ``collate(indices, step)`` for
    each list of sketch indices, ``step`` counting from ``first_step``. Sized, so the trainer
    knows the epoch's length."""

    batches: list[list[int]]
    first_step: int
    collate: Callable[[list[int], int], Batch]

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[Batch]:
        for offset, indices in enumerate(self.batches):
            yield self.collate(indices, self.first_step + offset)


class SketchGeneration(Task):
    """Learn to draw: a Sketch-RNN trained on stroke sequences (see the module docstring)."""

    name = "sketch"
    config_class = SketchConfig
    metric = "loss"
    unit = "sketches"
    config: SketchConfig

    def __init__(self, config: RunConfig) -> None:
        super().__init__(config)
        self.scale = 1.0  # σ: offsets are divided by it
        self.n_max = 0  # rows every sketch is padded to
        self.sketches: dict[str, list[np.ndarray]] = {}  # scaled stroke-3, by split
        self.dropped, self.limit = 0, 0  # sketches read but too long or empty; the limit

    # --- data --------------------------------------------------------------------------------
    def prepare(self, sources: DataSources, saved: LoadedCheckpoint | None = None) -> None:
        raw = self._read_splits(sources)
        if saved is not None:
            self.load_assets(saved)
        self.limit = self._length_limit()
        for split, sketches in raw.items():
            raw[split], dropped = within_length(sketches, self.limit)
            self.dropped += dropped
        if not raw["train"]:
            raise UserError(
                f"no training sketches of 1 to {self.limit} points in "
                + ", ".join(map(str, sources.train))
            )
        if "valid" not in raw:
            fraction, seed = self.config.data.valid_fraction, self.config.train.seed
            raw |= train_and_valid(raw["train"], None, lambda _: "all", fraction, seed)
        if saved is None:
            self.scale = scale_factor(raw["train"])
            self.n_max = max(len(s) for sketches in raw.values() for s in sketches) + 1
        self.sketches = {split: self._scaled(sketches) for split, sketches in raw.items()}

    def _read_splits(self, sources: DataSources) -> dict[str, list[np.ndarray]]:
        """The stroke-3 sketches of each split: ``train`` from the training files; ``valid``
        and ``test`` from the files given for them, else from the training files' own splits
        where every one has them."""
        files = {str(source): read_sketch_splits(source) for source in sources.train}
        raw = {"train": [s for name, f in files.items() for s in split_of(f, "train", name)]}
        for split, given in (("valid", sources.valid), ("test", sources.test)):
            if given:
                raw[split] = [s for name in given for s in self._read(name, split)]
            elif all(split in f for f in files.values()):
                raw[split] = [s for f in files.values() for s in f[split]]
        return raw

    def _read(self, source: str | Path, split: str) -> list[np.ndarray]:
        return split_of(read_sketch_splits(source), split, source)

    def _length_limit(self) -> int:
        """The most points a sketch may have: ``data.max_length``, and ``N_max - 1`` once
        ``N_max`` is known."""
        limit = self.config.data.max_length
        return min(limit, self.n_max - 1) if self.n_max else limit

    def _scaled(self, sketches: list[np.ndarray]) -> list[np.ndarray]:
        return [rescale(s, 1 / self.scale) for s in sketches]

    # --- run assets and model ----------------------------------------------------------------
    def assets(self) -> dict[str, bytes | str]:
        return {ASSET_FILE: json.dumps({"scale": self.scale, "n_max": self.n_max})}

    def load_assets(self, checkpoint: LoadedCheckpoint) -> None:
        try:
            saved = json.loads(checkpoint.read_text(ASSET_FILE))
            self.scale, self.n_max = float(saved["scale"]), int(saved["n_max"])
        except (ValueError, KeyError, TypeError) as error:
            raise UserError(f"malformed {ASSET_FILE} ({error})", path=checkpoint.path) from None

    def build_model(self) -> SketchRNN:
        m = self.config.model
        return SketchRNN(
            latent_size=m.latent,
            encoder_size=m.encoder_size,
            hidden_size=m.hidden_size,
            num_mixtures=m.num_mixtures,
            cell=m.cell,
            num_layers=m.num_layers,
            dropout=m.dropout,
            layer_norm=m.layer_norm,
            forget_bias=m.forget_bias,
        )

    def summary(self) -> str:
        sizes = ", ".join(f"{split} {len(s):,}" for split, s in self.sketches.items())
        kind = "conditional (VAE)" if self.config.model.latent else "unconditional"
        return (
            f"sketches: {sizes} ({self.dropped:,} longer than {self.limit} points "
            f"dropped); padded to N_max={self.n_max}; offsets scaled by 1/{self.scale:.4g}; "
            f"{kind}"
        )

    # --- training ----------------------------------------------------------------------------
    def collate(self, sketches: Sequence[np.ndarray]) -> Batch:
        """``strokes`` (B, N_max, 5) stroke-5 and ``lengths`` (B,) of scaled sketches."""
        strokes = np.stack([to_stroke5(s, self.n_max) for s in sketches])
        lengths = torch.tensor([len(s) for s in sketches], dtype=torch.long)
        return {"strokes": torch.from_numpy(strokes), "lengths": lengths}

    def train_batches(self, epoch: int, shard: int, num_shards: int) -> EpochBatches:
        train, config = self.sketches["train"], self.config

        def collate(indices: list[int], step: int) -> Batch:
            rng = np.random.default_rng([config.train.seed, step])
            augment = config.data.augment
            chosen = [train[i] for i in indices]
            if augment > 0:
                chosen = [random_scale(s, augment, rng) for s in chosen]
            return {**self.collate(chosen), "step": step}

        batches = bucket_batches(
            [len(s) for s in train],
            config.train.batch_size,
            seed=config.train.seed,
            epoch=epoch,
            shard=shard,
            num_shards=num_shards,
            by_length=False,
        )
        return EpochBatches(batches, epoch * len(batches), collate)

    def kl_term(self, kl: Tensor) -> Tensor:
        """``w_KL · max(KL, KL_min)`` of a mean KL."""
        train = self.config.train
        return train.kl_weight * torch.clamp(kl, min=train.kl_min)

    def loss(self, model: nn.Module, batch: Batch, carry: Any) -> tuple[Tensor, int, None]:
        output: SketchOutput = model(batch["strokes"], batch["lengths"])
        mixture = Mixture(*(part.float() for part in output.mixture))  # bf16 autocast: fp32
        offsets, pen = reconstruction_losses(mixture, batch["strokes"], batch["lengths"])
        loss = offsets.mean() + pen.mean()
        if output.mu is not None and output.log_var is not None:
            train = self.config.train
            eta = 1 - (1 - train.kl_anneal_min) * train.kl_anneal_rate ** batch["step"]
            kl = kl_divergence(output.mu.float(), output.log_var.float()).mean()
            loss = loss + eta * self.kl_term(kl)
        return loss, len(batch["lengths"]), None

    # --- evaluation --------------------------------------------------------------------------
    def splits(self) -> list[str]:
        return [split for split in ("valid", "test") if self.sketches.get(split)]

    @torch.no_grad()
    def metrics(self, model: nn.Module, sketches: list[np.ndarray]) -> dict[str, Any]:
        """The losses of ``model`` on scaled ``sketches``, averaged over them."""
        model.eval()
        device = next(model.parameters()).device
        generator = torch.Generator(device).manual_seed(self.config.train.seed)
        totals = torch.zeros(3, dtype=torch.float64)  # offsets, pen, kl
        for begin in range(0, len(sketches), EVAL_BATCH_SIZE):
            batch = self.collate(sketches[begin : begin + EVAL_BATCH_SIZE])
            strokes, lengths = batch["strokes"].to(device), batch["lengths"].to(device)
            output: SketchOutput = model(strokes, lengths, generator)
            offsets, pen = reconstruction_losses(output.mixture, strokes, lengths)
            totals[0] += float(offsets.sum())
            totals[1] += float(pen.sum())
            if output.mu is not None and output.log_var is not None:
                totals[2] += float(kl_divergence(output.mu, output.log_var).sum())
        offsets, pen, kl = (totals / max(len(sketches), 1)).tolist()
        scores: dict[str, Any] = {"loss": offsets + pen, "reconstruction": offsets + pen}
        scores |= {"offsets": offsets, "pen": pen}
        if self.config.model.latent:
            scores["loss"] += float(self.kl_term(torch.tensor(kl)))
            scores["kl"] = kl
        return {**scores, "sketches": len(sketches)}

    def evaluate(self, model: nn.Module, split: str) -> dict[str, Any]:
        return self.metrics(model, self.sketches[split])

    def evaluate_files(self, model: nn.Module, paths: Sequence[Path | str]) -> dict[str, Any]:
        """The metrics on new files: an ``.npz`` file's (or the built-in set's) ``test``
        sketches, all of an ``.ndjson`` file's."""
        read = [s for path in paths for s in self._read(path, "test")]
        sketches, dropped = within_length(read, self._length_limit())
        if not sketches:
            raise UserError(f"no sketches of 1 to {self._length_limit()} points to evaluate")
        return {**self.metrics(model, self._scaled(sketches)), "dropped": dropped}

    # --- drawing -----------------------------------------------------------------------------
    def draw(
        self,
        model: nn.Module,
        num: int,
        temperature: float = 1.0,
        start: Any = None,
        seed: int | None = None,
    ) -> list[Any]:
        """``num`` sketches as stroke-3 arrays ``(T, 3)`` in the data's units, drawn at
        ``temperature`` (> 0; the paper's τ), of at most ``data.max_length`` points; each
        continues ``start`` (a stroke-3 array, in the data's units) when given. ``seed`` makes
        the drawing repeatable."""
        if not 0 < temperature < math.inf:
            raise UserError(f"the temperature must be a finite number > 0, got {temperature}")
        sketch_rnn = cast(SketchRNN, model).eval()
        device = next(sketch_rnn.parameters()).device
        generator = None if seed is None else torch.Generator(device).manual_seed(seed)
        prefix = None
        if start is not None and len(start):
            self._check_start(np.asarray(start, dtype=np.float32))
            scaled = rescale(np.asarray(start, dtype=np.float32), 1 / self.scale)
            prefix = torch.from_numpy(to_stroke5(scaled, len(scaled))).to(device)
        drawn = sketch_rnn.sample(
            num, temperature, generator, max_length=self.config.data.max_length, start=prefix
        )
        return [rescale(sketch.cpu().numpy(), self.scale) for sketch in drawn]

    def _check_start(self, start: np.ndarray) -> None:
        """A `UserError` unless ``start`` is a stroke-3 array ``(T, 3)`` of finite offsets,
        pen states 0 or 1, and fewer than ``data.max_length`` points (room to continue)."""
        limit = self.config.data.max_length
        if start.ndim != 2 or start.shape[1] != 3:
            raise UserError(f"a sketch to continue has rows [dx, dy, pen], got {start.shape}")
        if not np.isfinite(start).all() or not np.isin(start[:, 2], (0, 1)).all():
            raise UserError("a sketch to continue needs finite offsets and pen states 0 or 1")
        if len(start) >= limit:
            raise UserError(
                f"a sketch to continue has {len(start)} points; the model draws at most "
                f"{limit} (data.max_length)"
            )
