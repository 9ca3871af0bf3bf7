"""The ``sketch`` task: splits from ``.npz`` keys, ``--valid`` files and held-out ``.ndjson``
drawings, the scale and ``N_max``, batches that carry the trainer's step, the annealed KL
weight, and drawings in the data's units."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import raised, sketches_of, write
from rnnkit.data.sketches import scale_factor
from rnnkit.models.sketch_rnn import kl_divergence, reconstruction_losses
from rnnkit.tasks.sketch import SketchGeneration
from rnnkit.tasks.sketch_config import SketchConfig
from rnnkit.train.config import load_config
from rnnkit.train.task import DataSources

TINY = ["model.hidden_size=8", "model.encoder_size=4", "model.latent_size=3",
        "model.num_mixtures=2", "train.batch_size=2"]  # fmt: skip
LENGTHS = {"train": [3, 7, 5, 4, 6, 300], "valid": [2, 8], "test": [5]}


def make_task(*overrides: str) -> SketchGeneration:
    return SketchGeneration(load_config(SketchConfig, overrides=[*TINY, *overrides]))


@pytest.fixture
def npz(tmp_path: Path) -> Path:
    path = tmp_path / "set.npz"
    np.savez(path, **{k: sketches_of(v, i) for i, (k, v) in enumerate(LENGTHS.items())})
    return path


def test_npz_keys_are_the_splits(npz: Path) -> None:
    task = make_task()
    task.prepare(DataSources(train=[npz]))
    assert {split: len(s) for split, s in task.sketches.items()} == {
        "train": 5,
        "valid": 2,
        "test": 1,
    }
    assert task.n_max == 9 and task.dropped == 1  # the longest kept has 8 points; 300 is too long
    train = [s.astype(np.float32) for s in sketches_of(LENGTHS["train"], 0)[:5]]
    assert task.scale == pytest.approx(scale_factor(train))
    assert np.allclose(task.sketches["train"][1][:, :2] * task.scale, train[1][:, :2])
    assert json.loads(task.assets()["sketch.json"]) == {"scale": task.scale, "n_max": 9}
    assert "(1 longer than 250 points dropped); padded to N_max=9" in task.summary()


def test_valid_files_and_held_out_drawings(npz: Path, tmp_path: Path) -> None:
    lines = [json.dumps({"drawing": [[[0, 3 * i, 5], [0, i, 9]]]}) for i in range(20)]
    drawings = write(tmp_path, "cats.ndjson", "\n".join(lines) + "\n")
    held_out = make_task()
    held_out.prepare(DataSources(train=[drawings]))
    assert {split: len(s) for split, s in held_out.sketches.items()} == {"train": 18, "valid": 2}
    given = make_task()
    given.prepare(DataSources(train=[npz], valid=[drawings], test=[npz]))
    assert [len(given.sketches[split]) for split in ("valid", "test")] == [20, 1]
    train_only = tmp_path / "train_only.npz"
    np.savez(train_only, train=sketches_of([4], 0))
    message = raised(lambda: make_task().prepare(DataSources(train=[npz], valid=[train_only])))
    assert message == f"{train_only}: has no 'valid' sketches (its keys: train)"


def test_batches_carry_the_trainer_step_and_are_augmented(npz: Path) -> None:
    task = make_task()
    task.prepare(DataSources(train=[npz]))
    batches = task.train_batches(epoch=2, shard=0, num_shards=1)
    assert len(batches) == 3 and [batch["step"] for batch in batches] == [6, 7, 8]
    first = next(iter(batches))
    assert first["strokes"].shape == (2, 9, 5) and torch.equal(
        first["strokes"], next(iter(task.train_batches(2, 0, 1)))["strokes"]
    )
    plain = make_task("data.augment=0")
    plain.prepare(DataSources(train=[npz]))
    unaugmented = next(iter(plain.train_batches(2, 0, 1)))["strokes"]
    assert not torch.equal(first["strokes"][..., :2], unaugmented[..., :2])
    assert torch.equal(first["strokes"][..., 2:], unaugmented[..., 2:])


def test_the_kl_weight_is_annealed_by_step(npz: Path) -> None:
    task = make_task("train.kl_anneal_rate=0.5", "train.kl_min=0")
    task.prepare(DataSources(train=[npz]))
    model = task.build_model()
    batch = next(iter(task.train_batches(0, 0, 1)))

    def loss_at(step: int) -> float:
        torch.manual_seed(0)
        return float(task.loss(model, {**batch, "step": step}, None)[0].detach())

    torch.manual_seed(0)
    with torch.no_grad():
        output = model(batch["strokes"], batch["lengths"])
    offsets, pen = reconstruction_losses(output.mixture, batch["strokes"], batch["lengths"])
    kl = float(kl_divergence(output.mu, output.log_var).mean())
    reconstruction = float(offsets.mean() + pen.mean())
    for step, eta in [(0, 0.01), (1, 1 - 0.99 * 0.5), (60, 1.0)]:
        assert loss_at(step) == pytest.approx(reconstruction + 0.5 * eta * kl, rel=1e-5)


def test_drawings_continue_the_start_in_the_data_units(npz: Path) -> None:
    task = make_task("data.max_length=12")
    task.prepare(DataSources(train=[npz]))
    model = task.build_model()
    start = np.array([[0, 0, 0], [12, -7, 1]], dtype=np.float32)
    drawn = task.draw(model, 3, temperature=0.5, start=start, seed=4)
    assert len(drawn) == 3 and all(2 <= len(s) <= 12 for s in drawn)
    for sketch in drawn:
        assert np.allclose(sketch[:2], start, atol=1e-4)
    again = task.draw(model, 3, temperature=0.5, start=start, seed=4)
    assert all(np.array_equal(a, b) for a, b in zip(drawn, again, strict=True))
    assert "temperature must be a finite number > 0" in raised(lambda: task.draw(model, 1, 0))
    assert "pen states 0 or 1" in raised(lambda: task.draw(model, 1, start=[[5, 0, 7]]))
    long_start = np.zeros((12, 3), dtype=np.float32)
    assert "has 12 points; the model draws at most 12" in raised(
        lambda: task.draw(model, 1, start=long_start)
    )
