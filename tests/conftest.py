"""Fixtures shared across the test suite."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit import cli
from rnnkit.checkpoint import LoadedCheckpoint
from rnnkit.errors import UserError
from rnnkit.train import DataSources, RunConfig, Task
from rnnkit.train.config import load_config

WORDS = "the cell state carries memory through the sequence and the gates decide what to keep"


def write(tmp_path: Path, name: str, text: str) -> Path:
    """Write ``text`` as UTF-8 to ``tmp_path / name``, line endings untouched."""
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def raised(call: Callable[[], Any]) -> str:
    """The message of the `UserError` that ``call()`` raises."""
    with pytest.raises(UserError) as caught:
        call()
    return str(caught.value)


def write_corpus(path: Path, characters: int, seed: int = 0) -> Path:
    """A small deterministic text of words and line breaks, for language-model runs."""
    rng = random.Random(seed)
    lines, size = [], 0
    while size < characters:
        line = " ".join(rng.choice(WORDS.split()) for _ in range(rng.randint(3, 9))) + "."
        lines.append(line)
        size += len(line) + 1
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def tiny_lm() -> list[str]:
    """Config overrides for a language model small enough to train in a test."""
    return [
        "model.embedding_dim=8",
        "model.hidden_size=16",
        "train.batch_size=4",
        "train.bptt=16",
        "train.threads=1",
    ]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """About 6,000 characters of training text."""
    return write_corpus(tmp_path / "train.txt", 6000)


# --- a task the trainer has never heard of ---------------------------------------------------
class RegressionConfig(RunConfig):
    """A run of `Regression`: the `train` section only."""

    task: Literal["regression"] = "regression"


class Regression(Task):
    """Linear regression on 96 fixed points, y = x·w + noise: the smallest complete `Task`."""

    name = "regression"
    config_class = RegressionConfig
    unit = "examples"

    def __init__(self, config: RunConfig) -> None:
        super().__init__(config)
        self.losses: list[float] = []  # every training loss, in order

    def prepare(self, sources: DataSources, saved: LoadedCheckpoint | None = None) -> None:
        generator = torch.Generator().manual_seed(123)
        x = torch.randn(96, 3, generator=generator)
        y = x @ torch.tensor([1.5, -2.0, 0.5]) + 0.1 * torch.randn(96, generator=generator)
        self.data = {"train": (x[:80], y[:80]), "valid": (x[80:], y[80:])}

    def load_assets(self, checkpoint: LoadedCheckpoint) -> None:
        """Nothing to restore: the task has no vocabulary."""

    def assets(self) -> dict[str, bytes | str]:
        return {}

    def build_model(self) -> nn.Module:
        return nn.Linear(3, 1)

    def summary(self) -> str:
        return "80 training examples"

    def train_batches(self, epoch: int, shard: int, num_shards: int) -> list[tuple[Tensor, Tensor]]:
        x, y = self.data["train"]
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(epoch))
        size = self.config.train.batch_size
        return [(x[rows], y[rows]) for rows in order[shard::num_shards].split(size)]

    def loss(self, model: nn.Module, batch: Any, carry: Any) -> tuple[Tensor, int, None]:
        x, y = batch
        loss = F.mse_loss(model(x).squeeze(-1), y)
        self.losses.append(float(loss.detach()))
        return loss, len(y), None

    def splits(self) -> list[str]:
        return [split for split in ("valid", "test") if split in self.data]

    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        x, y = self.data[split]
        with torch.no_grad():
            return {"loss": float(F.mse_loss(model(x).squeeze(-1), y))}

    def evaluate_files(self, model: nn.Module, paths: Sequence[Path | str]) -> dict[str, float]:
        return self.evaluate(model, "valid")


@pytest.fixture
def regression_task() -> Callable[..., Regression]:
    """Make a prepared `Regression` task from ``KEY=VALUE`` overrides of its config."""

    def make(*overrides: str) -> Regression:
        task = Regression(load_config(RegressionConfig, overrides=["train.threads=1", *overrides]))
        task.prepare(DataSources())
        return task

    return make


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread for a module of tiny models: on a busy two-core machine, two threads
    fight over the cores and make such models many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def sketches_of(lengths: list[int], seed: int = 0) -> np.ndarray:
    """An object array of int16 stroke-3 sketches of ``lengths`` points, as the data sets hold."""
    rng = np.random.default_rng(seed)
    array = np.empty(len(lengths), dtype=object)
    for index, length in enumerate(lengths):
        sketch = rng.integers(-40, 40, size=(length, 3)).astype(np.int16)
        sketch[:, 2] = rng.integers(0, 2, size=length)
        array[index] = sketch
    return array


# --- the command in other processes ----------------------------------------------------------
BIN = Path(sys.executable).parent


def torchrun(*args: str, timeout: float = 150) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc-per-node 2 rnnkit ARGS``, one thread per process.

    A run that outlives ``timeout`` fails the test with every process's Python stacks (torchrun
    and its workers, each in a session of its own, are sent SIGABRT with ``PYTHONFAULTHANDLER``
    set, so each prints them), not a bare timeout: a hang, in training or at exit, says where.
    """
    command = [str(BIN / "torchrun"), "--standalone", "--nproc-per-node", "2", str(BIN / "rnnkit")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"}
    with subprocess.Popen(
        [*command, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    ) as process:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            family = [process.pid, *children(process.pid)]
            signal_all(family, signal.SIGABRT)
            try:
                out, err = process.communicate(timeout=30)
            finally:
                signal_all(family, signal.SIGKILL)
            pytest.fail(f"torchrun ran past {timeout} s; stacks:\n{err[-20000:]}\n{out[-2000:]}")
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # "pid (name) state ppid ...": the name may hold spaces, so split after its ")"
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def signal_all(pids: list[int], number: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # it may have ended
            os.kill(pid, number)


# --- the command in this process ------------------------------------------------------------
def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """``rnnkit ARGS`` in this process: (exit status, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["rnnkit", *args])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def assert_one_line_error(status: int, err: str, *fragments: str) -> None:
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("rnnkit: error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]
