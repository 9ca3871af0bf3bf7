"""``rnnkit demo``: what it does to the run directory it is given (it deletes an earlier run
there, and nothing else), and a tiny demo end to end through `train_run` and `load_run`."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from rnnkit.cli.demo import PROMPTS, prepare_run_dir, run_demo
from rnnkit.errors import UserError
from rnnkit.tasks import load_run


def test_a_new_or_empty_directory_is_left_as_it_is(tmp_path):
    prepare_run_dir(tmp_path / "new")
    assert not (tmp_path / "new").exists()
    (tmp_path / "empty").mkdir()
    prepare_run_dir(tmp_path / "empty")
    assert (tmp_path / "empty").is_dir()


def test_an_earlier_run_is_replaced(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "last").mkdir(parents=True)
    (run_dir / "config.yaml").write_text("task: lm\n")
    (run_dir / "last" / "model.safetensors").write_bytes(b"old")
    prepare_run_dir(run_dir)
    assert not run_dir.exists()


def test_a_directory_that_is_not_a_run_is_refused_and_kept(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(UserError, match="not a run directory"):
        prepare_run_dir(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_a_tiny_demo_trains_saves_and_writes(tmp_path, capsys):
    tiny = ("model.hidden_size=16", "model.embedding_dim=8", "train.max_steps=3")
    result = run_demo(tmp_path / "demo", 1.0, sample_length=20, settings=tiny)
    starts = [sample[: len(prompt)] for sample, prompt in zip(result.samples, PROMPTS, strict=True)]
    assert starts == list(PROMPTS)
    assert result.metrics["step"] == 3 and "bpc" in result.metrics["valid"]
    assert load_run(tmp_path / "demo").metrics == result.metrics
    assert "Training a character-level LSTM" in capsys.readouterr().out


@pytest.mark.slow
def test_the_real_demo_learns_within_its_budget(tmp_path):
    """``rnnkit demo`` as ``make demo`` runs it, two and a quarter minutes: the validation bits
    per character fall well below a unigram model's (about 4.4 on this corpus)."""
    script = Path(sys.executable).parent / "rnnkit"
    done = subprocess.run(
        [str(script), "demo", "--out", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    found = re.search(r"^valid: .*\bbpc (\d+\.\d+)", done.stdout, re.MULTILINE)
    assert found is not None, done.stdout
    assert float(found.group(1)) < 3.0
    assert done.stdout.count("sample") >= len(PROMPTS)
