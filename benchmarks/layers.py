"""Layer speed: rnnkit's layers against torch.nn's, training step and inference, same run.

For each hidden size H (input size H, batch B, T steps) every rnnkit layer is timed next to
its reference — the torch.nn layer of the same type, or torch.nn.LSTM for the variants torch
lacks — and reported as throughput in tokens/s and as the ratio of rnnkit's time to the
reference's (1.00 = as fast; 2.00 = half as fast).

    python benchmarks/layers.py                     # B=64, T=100, H in 128 256 512
    python benchmarks/layers.py --hidden 256 --repeats 3 --threads 1
    python benchmarks/layers.py --python-loop       # the LSTM and GRU loops in Python, not compiled
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

import torch
from torch import nn

import rnnkit
from common import interleaved_times, print_table, ratio, write_json
from rnnkit.nn.compiled_loop import SWITCH

Factory = Callable[[int], nn.Module]

REFERENCES: dict[str, Factory] = {
    "RNN": lambda h: nn.RNN(h, h),
    "LSTM": lambda h: nn.LSTM(h, h),
    "GRU": lambda h: nn.GRU(h, h),
}
# name -> (rnnkit layer, the torch.nn layer it is compared with)
CANDIDATES: dict[str, tuple[Factory, str]] = {
    "RNN auto": (lambda h: rnnkit.RNN(h, h), "RNN"),
    "RNN loop": (lambda h: rnnkit.RNN(h, h, backend="loop"), "RNN"),
    "LSTM auto": (lambda h: rnnkit.LSTM(h, h), "LSTM"),
    "LSTM loop": (lambda h: rnnkit.LSTM(h, h, backend="loop"), "LSTM"),
    "GRU auto": (lambda h: rnnkit.GRU(h, h), "GRU"),
    "GRU loop": (lambda h: rnnkit.GRU(h, h, backend="loop"), "GRU"),
    "layer-norm LSTM": (lambda h: rnnkit.LSTM(h, h, layer_norm=True), "LSTM"),
    "peephole LSTM": (lambda h: rnnkit.LSTM(h, h, peephole=True), "LSTM"),
    "zoneout LSTM": (lambda h: rnnkit.LSTM(h, h, zoneout=0.1), "LSTM"),
    "recurrent-dropout LSTM": (lambda h: rnnkit.LSTM(h, h, recurrent_dropout=0.25), "LSTM"),
    "layer-norm GRU": (lambda h: rnnkit.GRU(h, h, layer_norm=True), "LSTM"),
    "Jordan": (lambda h: rnnkit.JordanRNN(h, h), "LSTM"),
    "minGRU (scan)": (lambda h: rnnkit.MinGRU(h, h), "LSTM"),
}
MODES = ("train", "inference")


def runner(layer: nn.Module, x: torch.Tensor, mode: str) -> Callable[[], None]:
    """One training step (forward + backward) or one inference pass of ``layer`` on ``x``."""
    layer.train(mode == "train")

    def train() -> None:
        output, _ = layer(x)
        output.sum().backward()

    def infer() -> None:
        with torch.no_grad():
            layer(x)

    return train if mode == "train" else infer


def measure(hidden: int, batch: int, steps: int, repeats: int) -> list[dict[str, object]]:
    """Time every candidate and every reference at one hidden size, all interleaved."""
    torch.manual_seed(0)
    x = torch.randn(steps, batch, hidden)
    layers = {name: make(hidden) for name, make in REFERENCES.items()}
    layers |= {name: make(hidden) for name, (make, _) in CANDIDATES.items()}
    rows: list[dict[str, object]] = []
    for mode in MODES:
        runners = [runner(m, x, mode) for m in layers.values()]
        times = dict(zip(layers, interleaved_times(runners, repeats), strict=True))
        for name, (_, reference) in CANDIDATES.items():
            rows.append(
                {
                    "hidden": hidden,
                    "mode": mode,
                    "layer": name,
                    "reference": f"torch.nn.{reference}",
                    "tokens_per_s": batch * steps / min(times[name]),
                    "reference_tokens_per_s": batch * steps / min(times[reference]),
                    "time_ratio": ratio(times[name], times[reference]),
                }
            )
    return rows


def table(rows: list[dict[str, object]], mode: str, hidden_sizes: list[int]) -> list[list[object]]:
    """One table row per layer: its time ratio, then its tokens/s, at each hidden size."""
    cell = {(r["layer"], r["hidden"]): r for r in rows if r["mode"] == mode}
    return [
        [name, f"torch.nn.{reference}"]
        + [cell[name, h]["time_ratio"] for h in hidden_sizes]
        + [f"{cell[name, h]['tokens_per_s']:,.0f}" for h in hidden_sizes]
        for name, (_, reference) in CANDIDATES.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hidden", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own)")
    parser.add_argument(
        "--python-loop", action="store_true", help="run the LSTM and GRU time loops in Python"
    )
    parser.add_argument("--json", help="where to write the results (default results/layers.json)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.python_loop:
        os.environ[SWITCH] = "0"
    rows = [row for h in args.hidden for row in measure(h, args.batch, args.steps, args.repeats)]
    columns = ["layer", "reference", *(f"ratio H={h}" for h in args.hidden)]
    columns += [f"tok/s H={h}" for h in args.hidden]
    for mode in MODES:
        title = (
            f"{mode}: B={args.batch}, T={args.steps}; median time / reference time "
            "(lower is faster), best tokens/s"
        )
        print_table(title, columns, table(rows, mode, args.hidden))
    settings = {
        "batch": args.batch,
        "steps": args.steps,
        "repeats": args.repeats,
        "threads": torch.get_num_threads(),
        "time_loops": "python" if args.python_loop else "compiled",
    }
    print("wrote", write_json("layers", {"settings": settings, "rows": rows}, args.json))


if __name__ == "__main__":
    main()
