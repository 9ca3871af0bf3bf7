"""``rnnkit train classify|tag``, ``evaluate`` and ``predict`` through the real console script,
on built-in data, and the one-line errors of bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(sys.executable).parent / "rnnkit"
TINY = ["--set", "model.embedding_dim=16", "--set", "model.hidden_size=16",
        "--set", "train.threads=1", "--set", "train.lr=0.01"]  # fmt: skip


def rnnkit(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=300, input=stdin
    )


def test_classify_train_evaluate_predict(tmp_path):
    out = str(tmp_path / "run")
    trained = rnnkit(
        "train", "classify", "--data", "builtin:sentiment", "--out", out, *TINY,
        "--set", "train.epochs=4",
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert "padding" in trained.stdout and "valid: accuracy" in trained.stdout
    evaluated = rnnkit("evaluate", out, "--data", "builtin:sentiment-test", "--json")
    metrics = json.loads(evaluated.stdout)
    assert metrics["accuracy"] > 0.8 and set(metrics["per_class"]) == {"negative", "positive"}
    shown = rnnkit("evaluate", out, "--data", "builtin:sentiment-test")
    assert "confusion" in shown.stdout and "per class" in shown.stdout
    predicted = rnnkit("predict", out, "-", stdin="a truly wonderful film\nthe plot was dull\n")
    assert predicted.returncode == 0, predicted.stderr
    labels = [line.split("\t")[0] for line in predicted.stdout.splitlines()]
    assert labels == ["positive", "negative"]


def test_tag_train_evaluate_predict(tmp_path):
    out = str(tmp_path / "run")
    trained = rnnkit(
        "train", "tag", "--data", "builtin:ner", "--out", out, *TINY,
        "--set", "train.max_steps=80", "--set", "model.char_hidden_size=8",
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    evaluated = rnnkit("evaluate", out, "--data", "builtin:ner-test", "--json")
    assert json.loads(evaluated.stdout)["f1"] > 0.8
    conll = tmp_path / "input.conll"
    conll.write_text("Omar\tx\nvisited\tx\nLima\tx\n\nHelix\tx\nCorp\tx\n", encoding="utf-8")
    predicted = rnnkit("predict", out, str(conll))
    assert predicted.returncode == 0, predicted.stderr
    blocks = predicted.stdout.strip("\n").split("\n\n")
    assert [len(block.splitlines()) for block in blocks] == [3, 2]
    assert predicted.stdout.splitlines()[0].startswith("Omar\tx\t")  # the input line, then a tag


def test_bad_inputs_are_one_line_errors(tmp_path):
    bad = tmp_path / "train.csv"
    bad.write_text("text,label\ngood film,pos\nno label here\n", encoding="utf-8")
    result = rnnkit("train", "classify", "--data", str(bad), "--out", str(tmp_path / "r"))
    assert result.returncode == 2
    assert result.stderr.startswith("rnnkit: error: ") and f"{bad}:3:" in result.stderr
    assert "Traceback" not in result.stderr
