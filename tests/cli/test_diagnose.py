"""``rnnkit diagnose gradient-flow``: in process through typer's runner, and end to end through
the installed console script (which needs ``diagnose_app`` mounted in `rnnkit.cli`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

from rnnkit.cli.diagnose import diagnose_app

TINY = ["--length", "20", "--hidden", "8", "--batch", "4", "--seed", "1"]


def _check_report(out: Path, cells: list[str], trained: bool) -> dict:
    report = json.loads((out / "gradient_flow.json").read_text(encoding="utf-8"))
    assert (out / "gradient_flow.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report["distances"] == list(range(20))
    assert list(report["cells"]) == cells
    assert all(len(norms) == 20 and norms[0] > 0 for norms in report["cells"].values())
    assert ("trained" in report) == trained
    if trained:
        assert list(report["trained"]) == cells
        assert all(len(norms) == 20 for norms in report["trained"].values())
    assert list(report["clipping"]["cells"]) == cells
    settings = report["settings"]
    assert settings["length"] == 20 and settings["hidden"] == 8 and settings["batch"] == 4
    assert settings["seed"] == 1 and settings["cells"] == cells
    return report


def _app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(diagnose_app, name="diagnose")

    @app.callback()
    def _root() -> None:
        """The test's root."""

    return app


def test_gradient_flow_in_process(tmp_path):
    args = ["diagnose", "gradient-flow", "--cells", "rnn,lstm", "--no-exploding", *TINY]
    result = CliRunner().invoke(_app(), [*args, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = _check_report(tmp_path, ["rnn", "lstm"], trained=False)
    assert report["clipping"]["clip_norm"] == 1.0
    assert "lstm" in result.output


def test_clip_norm_zero_trains_without_clipping(tmp_path):
    args = ["diagnose", "gradient-flow", "--cells", "rnn", "--no-exploding", *TINY]
    args += ["--clip-norm", "0", "--train-steps", "1", "--out", str(tmp_path)]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 0, result.output
    report = _check_report(tmp_path, ["rnn"], trained=True)
    assert report["clipping"]["clip_norm"] is None
    assert report["settings"]["clip_norm"] is None
    assert "clip none" in result.output and "train loss" in result.output


def test_unknown_cell_is_a_usage_error(tmp_path):
    args = ["diagnose", "gradient-flow", "--cells", "rnn,elman", "--out", str(tmp_path)]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 2
    assert "elman" in result.output
    assert not (tmp_path / "gradient_flow.json").exists()


def test_console_script_end_to_end(tmp_path):
    """Runs the installed ``rnnkit`` command; needs ``app.add_typer(diagnose_app,
    name="diagnose")`` in `rnnkit.cli`."""
    script = shutil.which("rnnkit", path=str(Path(sys.executable).parent)) or "rnnkit"
    out = tmp_path / "flow"
    command = [script, "diagnose", "gradient-flow", "--cells", "gru,lstm_fb1", *TINY]
    completed = subprocess.run(
        [*command, "--train-steps", "2", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    report = _check_report(out, ["gru", "lstm_fb1", "rnn_relu_large_init"], trained=True)
    assert report["settings"]["train_steps"] == 2
