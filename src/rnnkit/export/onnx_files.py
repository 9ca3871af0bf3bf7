"""Writing a `Graph` to an ONNX file and checking it against its PyTorch module with ONNX Runtime.

Graphs are traced with torch's TorchScript-based exporter (``dynamo=False``): it maps torch's
fused LSTM / GRU / RNN kernels to ONNX's ``LSTM`` / ``GRU`` / ``RNN`` operators, whose sequence
length stays dynamic, where ``torch.export`` cannot trace the data-dependent checks on
``lengths``. Tracing records one path through the Python code, so every graph is run again at
other batch sizes and lengths (`max_difference`): a graph that only works at the traced shape
fails that check instead of being delivered.
"""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path

import numpy as np
import torch

from rnnkit.errors import UserError
from rnnkit.export.graph import Graph

OPSET = 17
# (batch, length) of the example traced, and of the checks after it: batch 1, odd sizes, a
# length of 1, and lengths longer than the traced one.
TRACE_SIZE = (2, 5)
CHECK_SIZES = ((1, 1), (1, 9), (3, 4), (5, 13), (8, 7))


def require_onnx() -> None:
    """A `UserError` saying how to install the export extra, when onnx or onnxruntime is missing."""
    for module in ("onnx", "onnxruntime"):
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise UserError(
                f"ONNX export needs {module}: pip install 'rnnkit[onnx]' ({error})"
            ) from None


def write_graph(graph: Graph, path: Path, seed: int = 0) -> None:
    """Trace ``graph.module`` on an example and write it to ``path``, checked by ``onnx``."""
    import onnx

    inputs = graph.example(*TRACE_SIZE, torch.Generator().manual_seed(seed))
    with warnings.catch_warnings(), torch.no_grad():
        # The tracer warns about every Python bool it records; the checks afterwards are what
        # tell whether one of them mattered.
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                graph.module.eval(),
                inputs,
                str(path),
                input_names=[port.name for port in graph.inputs],
                output_names=[port.name for port in graph.outputs],
                dynamic_axes=graph.dynamic_axes(),
                opset_version=OPSET,
                dynamo=False,
            )
        except torch.onnx.errors.OnnxExporterError as error:
            raise UserError(
                f"torch cannot export the {graph.name!r} graph: {str(error).splitlines()[0]}"
            ) from error
    onnx.checker.check_model(str(path), full_check=True)


def max_difference(
    graph: Graph, path: Path, sizes: tuple[tuple[int, int], ...] = CHECK_SIZES, seed: int = 1
) -> float:
    """The largest absolute difference between ONNX Runtime's outputs for the graph at ``path``
    and the PyTorch module's, over examples of every ``(batch, length)`` in ``sizes``."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(seed)
    worst = 0.0
    for batch, length in sizes:
        inputs = graph.example(batch, length, generator)
        with torch.no_grad():
            expected = graph.module.eval()(*inputs)
        feed = {port.name: x.numpy() for port, x in zip(graph.inputs, inputs, strict=True)}
        try:
            outputs = session.run(None, feed)
        except Exception as error:  # onnxruntime's own exception types are not exported
            raise UserError(
                f"the exported {graph.name!r} graph fails in ONNX Runtime at batch {batch}, "
                f"length {length}: {str(error).splitlines()[0]}"
            ) from None
        for port, want, got in zip(graph.outputs, expected, outputs, strict=True):
            if tuple(want.shape) != got.shape:
                raise UserError(
                    f"the exported {graph.name!r} graph gives {port.name} of shape {got.shape} "
                    f"for batch {batch}, length {length}; PyTorch gives {tuple(want.shape)}"
                )
            worst = max(worst, _difference(want.float().numpy(), got.astype(np.float32)))
    return worst


def _difference(want: np.ndarray, got: np.ndarray) -> float:
    """The largest absolute difference; infinities must match exactly (masked log-probs)."""
    if want.size == 0:
        return 0.0
    if not np.array_equal(np.isinf(want), np.isinf(got)):
        return float("inf")
    finite = np.isfinite(want)
    return float(np.abs(want[finite] - got[finite]).max(initial=0.0))
