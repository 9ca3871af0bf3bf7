"""Inference latency of exported graphs in ONNX Runtime against the same model in PyTorch, in
the same run: the classifier (a padded batch of texts), the language model's sequence graph
(scoring a batch of text) and its single-step graph (one generated token per row), at batch
1 and 64, on the same number of threads.

Each graph comes from ``rnnkit export`` of a run trained for a few steps with the task's
default model size (latency does not depend on the weights' values). Times are medians of
interleaved rounds; the ratio is ONNX Runtime's time over PyTorch's (below 1: ONNX Runtime is
faster).

    python benchmarks/onnx_latency.py                  # 2 threads, texts of <= 40 tokens
    python benchmarks/onnx_latency.py --threads 1 --length 100
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

import onnxruntime
import torch

from common import interleaved_times, print_table, ratio, write_json
from rnnkit.export import export_run
from rnnkit.export.graph import Graph
from rnnkit.export.task_graphs import plan_export
from rnnkit.tasks import load_run, train_run

RUNS = {"classify": "builtin:sentiment", "lm": "builtin:reber"}


def trained(task: str, folder: Path) -> Path:
    """A run of ``task`` with its default model, trained for a few steps."""
    out = folder / task
    train_run(task, [RUNS[task]], out, overrides=["train.max_steps=5"], live=False)
    return out


def inputs_of(graph: Graph, batch: int, length: int) -> tuple[torch.Tensor, ...]:
    """The graph's example inputs (mixed lengths where it takes lengths), seeded."""
    return graph.example(batch, length, torch.Generator().manual_seed(batch * 1000 + length))


def candidates(
    graph: Graph, path: Path, inputs: tuple[torch.Tensor, ...], threads: int
) -> tuple[Callable[[], object], Callable[[], object]]:
    """The PyTorch module and the ONNX Runtime session of one graph, each on ``inputs``."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {port.name: x.numpy() for port, x in zip(graph.inputs, inputs, strict=True)}
    module = graph.module.eval()

    def pytorch() -> object:
        with torch.inference_mode():
            return module(*inputs)

    def ort() -> object:
        return session.run(None, feed)

    return pytorch, ort


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--length", type=int, default=40, help="tokens per text (longest)")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--json", help="results file (default results/onnx_latency.json)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for task in RUNS:
            run = load_run(trained(task, Path(folder)))
            report = export_run(run, Path(folder) / f"{task}-onnx" / "model.onnx")
            for graph, written in zip(plan_export(run).graphs, report.graphs, strict=True):
                for batch in (1, 64):
                    inputs = inputs_of(graph, batch, args.length)
                    pytorch, ort = candidates(graph, written.path, inputs, args.threads)
                    times = interleaved_times([pytorch, ort], args.repeats, warmup=3)
                    torch_ms, ort_ms = (1000 * statistics.median(t) for t in times)
                    speed = ratio(times[1], times[0])
                    rows.append([f"{task} {graph.name}", batch, torch_ms, ort_ms, speed])
    title = f"ONNX Runtime vs PyTorch latency ({args.threads} threads, length {args.length})"
    print_table(title, ["graph", "batch", "PyTorch ms", "ORT ms", "ORT / PyTorch"], rows)
    settings = {"threads": args.threads, "length": args.length, "repeats": args.repeats}
    keys = ("graph", "batch", "pytorch_ms", "onnxruntime_ms", "ratio")
    results = [dict(zip(keys, row, strict=True)) for row in rows]
    payload = {"settings": settings, "onnxruntime": onnxruntime.__version__, "results": results}
    print("wrote", write_json("onnx_latency", payload, args.json))


if __name__ == "__main__":
    main()
