"""``rnnkit export``: a trained run as ONNX graphs checked against PyTorch, with the tokenizer
and label files and a JSON description beside them.

``export_run(run, "out/model.onnx")`` writes, into ``out/``:

- ``model.onnx`` — the task's first graph, and ``model.NAME.onnx`` for each further one (a
  language model's single-step graph, a translator's decoder step, ...);
- ``model.json`` — the description: every graph's inputs and outputs (name, shape with its
  dynamic axes named, dtype, meaning), the task's facts a runtime needs (labels, special token
  ids, a CRF's transition scores, ...), the asset files, and the check's result;
- ``model.FILE`` for each of the run's own files (``tokenizer.json``, ``labels.json``, ...).

Nothing is left at the destination unless every graph passed its check: the files are written
to a staging folder beside it, checked, and only then moved into place.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rnnkit
from rnnkit.checkpoint.atomic import json_text
from rnnkit.checkpoint.manifest import MANIFEST_NAME
from rnnkit.checkpoint.store import CONFIG_NAME, METRICS_NAME, MODEL_NAME, TRAINER_STATE_NAME
from rnnkit.errors import UserError
from rnnkit.export.graph import ExportPlan, Graph
from rnnkit.export.onnx_files import (
    CHECK_SIZES,
    OPSET,
    max_difference,
    require_onnx,
    write_graph,
)
from rnnkit.export.task_graphs import plan_export
from rnnkit.tasks.generate import TRAINING_TEXTS_FILE
from rnnkit.tasks.runs import LoadedRun

TOLERANCE = 1e-4
# checkpoint files a runtime does not need: the weights, config and metrics (in the graphs and
# the description), and a copy of the training texts (the novelty filter of `rnnkit generate`,
# which would ship training data with the model)
NOT_EXPORTED = {
    CONFIG_NAME, MODEL_NAME, METRICS_NAME, TRAINER_STATE_NAME, MANIFEST_NAME, TRAINING_TEXTS_FILE
}  # fmt: skip
FORMAT = "rnnkit-onnx"


@dataclass(frozen=True)
class ExportedGraph:
    """One written graph: its ``name``, the ``path`` it was written to, and the largest
    absolute difference to PyTorch found by the check."""

    name: str
    path: Path
    max_difference: float


@dataclass(frozen=True)
class ExportReport:
    """What `export_run` wrote: the graphs, the JSON description and the asset files."""

    graphs: list[ExportedGraph]
    description: Path
    assets: list[Path]


def export_run(run: LoadedRun, out: str | Path, *, tolerance: float = TOLERANCE) -> ExportReport:
    """Export ``run`` as ONNX to ``out`` (a ``.onnx`` path) and the files beside it; a
    `UserError` if the task cannot be exported or a graph differs from PyTorch by more than
    ``tolerance`` at any checked batch size and length."""
    require_onnx()
    out = Path(out)
    if out.suffix != ".onnx":
        raise UserError("the output must be a .onnx file", path=out)
    if out.is_dir():
        raise UserError("is a folder; give the .onnx file to write", path=out)
    if not tolerance >= 0:
        raise UserError(f"the tolerance must be a number >= 0, got {tolerance}")
    plan = plan_export(run)
    created = [p for p in (out.parent, *out.parent.parents) if not p.exists()]
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.stem}.export-") as staging:
            staged = Path(staging)
            graphs = [
                _write_checked(graph, staged / _graph_file(out.stem, i, graph), tolerance)
                for i, graph in enumerate(plan.graphs)
            ]
            assets = _write_assets(run, staged, out.stem)
            description = staged / f"{out.stem}.json"
            description.write_text(_description(run, plan, graphs, assets, tolerance))
            files = [g.path for g in graphs] + list(assets.values()) + [description]
            moved = {path: out.parent / path.name for path in files}
            stale = _previous_export(out) - set(moved.values())
            for source, target in moved.items():
                source.replace(target)
            for path in stale:
                path.unlink(missing_ok=True)
    except BaseException:
        for folder in created:  # innermost first; none is left that this call made
            folder.rmdir()
        raise
    return ExportReport(
        [ExportedGraph(g.name, moved[g.path], g.max_difference) for g in graphs],
        moved[description],
        [moved[path] for path in assets.values()],
    )


def _previous_export(out: Path) -> set[Path]:
    """The files an earlier export to ``out`` wrote, as its description lists them: those the
    new one does not write again are removed, so no stale graph is left beside the new ones."""
    description = out.with_suffix(".json")
    try:
        described = json.loads(description.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    if not isinstance(described, dict) or described.get("format") != FORMAT:
        return set()
    names = [graph.get("file") for graph in described.get("graphs", {}).values()]
    names += list(described.get("assets", {}).values())
    return {
        out.parent / name for name in names if isinstance(name, str) and Path(name).name == name
    }


def _graph_file(stem: str, index: int, graph: Graph) -> str:
    return f"{stem}.onnx" if index == 0 else f"{stem}.{graph.name}.onnx"


def _write_checked(graph: Graph, path: Path, tolerance: float) -> ExportedGraph:
    write_graph(graph, path)
    difference = max_difference(graph, path)
    if not difference <= tolerance:
        raise UserError(
            f"the exported {graph.name!r} graph differs from PyTorch by {difference:.3g} "
            f"(more than {tolerance:g}); nothing was written"
        )
    return ExportedGraph(graph.name, path, difference)


def _write_assets(run: LoadedRun, staging: Path, stem: str) -> dict[str, Path]:
    """The task's own files of the run (tokenizer, labels, ...) as ``STEM.NAME`` in
    ``staging``, by name: every checkpoint file but those `NOT_EXPORTED`."""
    written = {}
    for name in run.checkpoint.files:
        if name not in NOT_EXPORTED:
            written[name] = staging / f"{stem}.{name}"
            written[name].write_bytes(run.checkpoint.read_bytes(name))
    return written


def _description(
    run: LoadedRun,
    plan: ExportPlan,
    graphs: list[ExportedGraph],
    assets: dict[str, Path],
    tolerance: float,
) -> str:
    """The JSON description of an export (docs/export.md)."""
    import onnxruntime

    described: dict[str, Any] = {
        "format": FORMAT,
        "format_version": 1,
        "rnnkit": rnnkit.__version__,
        "task": run.task.name,
        "opset": OPSET,
        "graphs": {
            graph.name: graph.describe(written.path.name)
            for graph, written in zip(plan.graphs, graphs, strict=True)
        },
        "assets": {name: path.name for name, path in assets.items()},
        "facts": plan.facts,
        "check": {
            "runtime": f"onnxruntime {onnxruntime.__version__}",
            "sizes": [list(size) for size in CHECK_SIZES],
            "tolerance": tolerance,
            "max_abs_difference": {g.name: g.max_difference for g in graphs},
        },
    }
    return json_text(described)
