"""``rnnkit train sketch``, ``evaluate`` and ``draw`` on the built-in doodles — training and one
drawing through the real console script, the rest in process — and the `UserError`s of bad
input (which the console script prints as one line)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import pytest
import typer
from test_classify_tag import rnnkit
from typer.testing import CliRunner

from rnnkit.cli.app import app as main_app
from rnnkit.cli.draw import draw
from rnnkit.errors import UserError

TINY = ["--set", "model.hidden_size=16", "--set", "model.encoder_size=8", "--set",
        "model.latent_size=4", "--set", "model.num_mixtures=3", "--set", "train.batch_size=50",
        "--set", "train.max_steps=4", "--set", "train.threads=1"]  # fmt: skip
START = [[0, 0, 0], [10, 0, 0], [0, 10, 1]]

draw_app = typer.Typer()
draw_app.command()(draw)


def run_draw(*args: str) -> typer.testing.Result:
    return CliRunner().invoke(draw_app, list(args))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sketch") / "run"
    result = rnnkit("train", "sketch", "--data", "builtin:doodles", "--out", str(out), *TINY)
    assert result.returncode == 0, result.stderr
    assert "padded to N_max=" in result.stdout and "valid: loss" in result.stdout
    return out


def test_train_evaluate_and_draw(trained: Path, tmp_path: Path) -> None:
    evaluated = CliRunner().invoke(
        main_app, ["evaluate", str(trained), "--data", "builtin:doodles", "--json"]
    )
    assert evaluated.exit_code == 0, evaluated.output
    metrics = json.loads(evaluated.stdout)
    assert {"loss", "reconstruction", "offsets", "pen", "kl"} <= set(metrics)
    assert metrics["sketches"] == 50 and metrics["dropped"] == 0
    assert metrics["reconstruction"] == pytest.approx(metrics["offsets"] + metrics["pen"])

    svg = tmp_path / "grid.svg"
    drawn = rnnkit("draw", str(trained), "--num", "4", "--out", str(svg), "--seed", "1")
    assert drawn.returncode == 0, drawn.stderr
    assert ElementTree.parse(svg).getroot().tag == "{http://www.w3.org/2000/svg}svg"
    png = tmp_path / "grid.png"
    assert run_draw(str(trained), "--num", "2", "--out", str(png)).exit_code == 0
    assert png.read_bytes().startswith(b"\x89PNG")


def test_draw_completes_a_partial_sketch(trained: Path, tmp_path: Path) -> None:
    start = tmp_path / "start.json"
    start.write_text(json.dumps(START), encoding="utf-8")
    svg = tmp_path / "completed.svg"
    args = [str(trained), "--from", str(start), "--num", "3", "--seed", "2", "--json"]
    result = run_draw(*args, "--out", str(svg))
    assert result.exit_code == 0, result.output
    sketches = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(sketches) == 3
    for sketch in sketches:
        assert np.allclose(np.array(sketch[:3]), START, atol=1e-3)  # the start, in its units
    assert svg.read_text(encoding="utf-8").count("<polyline") >= 3
    again = run_draw(*args)
    assert [json.loads(line) for line in again.stdout.splitlines()] == sketches
    head = run_draw(str(trained), "--from", str(start), "--points", "1", "--num", "1", "--json")
    assert json.loads(head.stdout)[0] == START[0]


def test_bad_input_gets_one_line(trained: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.ndjson"
    bad.write_text('{"drawing": [[[1, 2], [3, 4]]]}\n{"drawing": 5}\n', encoding="utf-8")
    args = ["train", "sketch", "--data", str(bad), "--out", str(tmp_path / "r"), *TINY]
    refused = CliRunner().invoke(main_app, args)
    assert str(refused.exception).startswith(f'{bad}:2: expected "drawing": a list of strokes')
    for args, message in [
        (["--out", "x.svg", "--temperature", "0"], "--temperature must be > 0, got 0.0"),
        (
            ["--json", "--from", str(tmp_path / "none.json")],
            f"{tmp_path / 'none.json'}: no such file",
        ),
        (["--json", "--from", str(bad.with_suffix(".txt"))], "unknown sketch file type .txt"),
        (["--out", str(tmp_path / "x.gif2")], "name the plot file .png, .svg or .pdf"),
        ([], "give --out FILE"),
    ]:
        result = run_draw(str(trained), *args)
        assert isinstance(result.exception, UserError) and message in str(result.exception)
