"""Real processes: a training run killed with SIGKILL resumes from its last checkpoint, and a
two-process torchrun run equals one process with the same global batch."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import torch
from safetensors.torch import load_file

from conftest import BIN, torchrun
from rnnkit.checkpoint import read_metrics_log
from rnnkit.tasks.runs import train_run


def sets(settings: list[str]) -> list[str]:
    return [arg for setting in settings for arg in ("--set", setting)]


def test_a_run_killed_with_sigkill_resumes_from_its_last_checkpoint(corpus, tmp_path, tiny_lm):
    settings = [*tiny_lm, "train.max_steps=300", "train.eval_every=10", "train.epochs=100"]
    out = tmp_path / "killed"
    command = [
        str(BIN / "rnnkit"),
        "train",
        "lm",
        "--data",
        str(corpus),
        "--out",
        str(out),
        *sets(settings),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    # a step is logged once RUN/last holds it, so a logged step has its checkpoint
    while not read_metrics_log(out) and time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode()  # still training
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    logged = read_metrics_log(out)
    assert logged and logged[-1]["step"] < 300  # killed part-way

    train_run("lm", [str(corpus)], out, overrides=settings, resume=True, live=False)
    train_run("lm", [str(corpus)], tmp_path / "straight", overrides=settings, live=False)
    resumed, straight = (
        load_file(out / "last" / "model.safetensors"),
        load_file(tmp_path / "straight" / "last" / "model.safetensors"),
    )
    for name in straight:
        assert torch.equal(resumed[name], straight[name]), name
    assert read_metrics_log(out)[-1]["step"] == 300


def test_two_processes_equal_one_with_the_same_global_batch(corpus, tmp_path):
    common = [
        "model.embedding_dim=8",
        "model.hidden_size=16",
        "model.dropout=0.0",
        "train.bptt=16",
        "train.threads=1",
        "train.max_steps=6",
    ]
    two = tmp_path / "two"
    settings = sets([*common, "train.batch_size=4"])
    result = torchrun("train", "lm", "--data", str(corpus), "--out", str(two), *settings)
    assert result.returncode == 0, result.stderr[-3000:]
    train_run(
        "lm", [str(corpus)], tmp_path / "one", overrides=[*common, "train.batch_size=8"], live=False
    )
    one_weights, two_weights = (
        load_file(tmp_path / "one" / "last" / "model.safetensors"),
        load_file(two / "last" / "model.safetensors"),
    )
    for name in one_weights:
        torch.testing.assert_close(two_weights[name], one_weights[name], rtol=0, atol=1e-5)
