"""The ``rnnkit`` command end to end through the real console script, and the one-line errors
that bad input gets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import assert_one_line_error, run_main

SCRIPT = Path(sys.executable).parent / "rnnkit"
TINY = [
    "--set", "model.embedding_dim=8", "--set", "model.hidden_size=16",
    "--set", "train.batch_size=4", "--set", "train.bptt=16", "--set", "train.max_steps=6",
]  # fmt: skip


def rnnkit(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=300, env=env
    )


def test_train_evaluate_generate_through_the_console_script(corpus, tmp_path):
    out = tmp_path / "run"
    trained = rnnkit("train", "lm", "--data", str(corpus), "--out", str(out), *TINY)
    assert trained.returncode == 0, trained.stderr
    assert "valid: loss" in trained.stdout
    evaluated = rnnkit("evaluate", str(out), "--data", str(corpus), "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads(evaluated.stdout)
    assert (
        set(metrics) == {"loss", "ppl", "bpc", "word_perplexity", "bits_per_char"}
        and metrics["loss"] > 0
    )
    args = ("generate", str(out), "--prompt", "the cell", "--length", "40", "--seed", "3")
    first, second = rnnkit(*args), rnnkit(*args)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout  # seeded
    assert first.stdout.startswith("the cell")


def test_missing_file(monkeypatch, capsys, tmp_path):
    missing = tmp_path / "nope.txt"
    status, _, err = run_main(
        monkeypatch, capsys, "train", "lm", "--data", str(missing), "--out", str(tmp_path / "r")
    )
    assert_one_line_error(status, err, str(missing))


def test_empty_file(monkeypatch, capsys, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    status, _, err = run_main(
        monkeypatch, capsys, "train", "lm", "--data", str(empty), "--out", str(tmp_path / "r")
    )
    assert_one_line_error(status, err, str(empty), "empty")


def test_non_utf8_byte_names_file_and_line(monkeypatch, capsys, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"first line\nsecond line\nthird \xff line\n")
    status, _, err = run_main(
        monkeypatch, capsys, "train", "lm", "--data", str(bad), "--out", str(tmp_path / "r")
    )
    assert_one_line_error(status, err, f"{bad}:3:", "UTF-8")


def test_unknown_config_key(monkeypatch, capsys, corpus, tmp_path):
    status, _, err = run_main(
        monkeypatch,
        capsys,
        "train",
        "lm",
        "--data",
        str(corpus),
        "--out",
        str(tmp_path / "r"),
        "--set",
        "train.lrr=0.1",
    )
    assert_one_line_error(status, err, "train.lrr", "train.lr")


def test_wrong_value_type_in_config_file(monkeypatch, capsys, corpus, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("train:\n  epochs: 2\n  lr: fast\n")
    status, _, err = run_main(
        monkeypatch,
        capsys,
        "train",
        "lm",
        "--data",
        str(corpus),
        "--out",
        str(tmp_path / "r"),
        "--config",
        str(config),
    )
    assert_one_line_error(status, err, f"{config}:3", "train.lr")


def test_existing_run_directory_needs_resume(monkeypatch, capsys, corpus, tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "something").write_text("x")
    status, _, err = run_main(
        monkeypatch, capsys, "train", "lm", "--data", str(corpus), "--out", str(out)
    )
    assert_one_line_error(status, err, "--resume")


def test_tampered_model_fails_the_manifest_check(monkeypatch, capsys, corpus, tmp_path):
    out = tmp_path / "run"
    status, _, _ = run_main(
        monkeypatch, capsys, "train", "lm", "--data", str(corpus), "--out", str(out), *TINY
    )
    assert status in (0, None)
    weights = out / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    status, _, err = run_main(monkeypatch, capsys, "evaluate", str(out), "--data", str(corpus))
    assert_one_line_error(status, err, "model.safetensors", "manifest")


def test_debug_shows_the_traceback(tmp_path):
    env = {"RNNKIT_DEBUG": "1", "PATH": "/usr/bin:/bin"}
    result = rnnkit("evaluate", str(tmp_path / "missing"), "--data", "x.txt", env=env)
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_version(monkeypatch, capsys):
    status, out, _ = run_main(monkeypatch, capsys, "--version")
    assert status == 0 and out.startswith("rnnkit ")
