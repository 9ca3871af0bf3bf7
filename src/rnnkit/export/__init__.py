"""ONNX export of trained runs (``rnnkit export``), checked against PyTorch with ONNX Runtime.

`export_run` writes a run's graphs, a JSON description and its tokenizer / label files;
`rnnkit.export.graph` says what a graph is; each task's graphs are planned in its own module
(`rnnkit.export.task_graphs` lists them). Needs the ``onnx`` extra (onnx, onnxruntime).
"""

from rnnkit.export.exporter import ExportedGraph, ExportReport, export_run
from rnnkit.export.viterbi import viterbi

__all__ = ["ExportReport", "ExportedGraph", "export_run", "viterbi"]
