"""Layer speed: rnnkit's layers against torch.nn's, training step and inference, same run.

For each hidden size H (input size H, batch B, T steps) every rnnkit layer is timed next to
its reference — the torch.nn layer of the same type, or torch.nn.LSTM for the variants torch
lacks — and reported as throughput in tokens/s and as the ratio of rnnkit's time to the
reference's (1.00 = as fast; 2.00 = half as fast). With ``--rounds R`` the whole sweep runs R
times and each cell gives the median of the R ratios, and their range: the machine's slow
spells outlast one sweep's interleaved repeats.

    python benchmarks/layers.py                     # B=64, T=100, H in 128 256 512
    python benchmarks/layers.py --rounds 3          # three sweeps, median and range of each
    python benchmarks/layers.py --hidden 256 --repeats 3 --threads 1
    python benchmarks/layers.py --python-loop       # the LSTM and GRU loops in Python, not compiled
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Callable
from typing import Any

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


def measure(hidden: int, batch: int, steps: int, repeats: int) -> list[dict[str, Any]]:
    """Time every candidate and every reference at one hidden size, all interleaved."""
    torch.manual_seed(0)
    x = torch.randn(steps, batch, hidden)
    layers = {name: make(hidden) for name, make in REFERENCES.items()}
    layers |= {name: make(hidden) for name, (make, _) in CANDIDATES.items()}
    rows: list[dict[str, Any]] = []
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


def combine(sweeps: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The sweeps' rows cell by cell: the median of their time ratios (each round's in
    ``time_ratio_rounds``) and the best tokens/s."""
    rows = []
    for cells in zip(*sweeps, strict=True):
        ratios = [cell["time_ratio"] for cell in cells]
        rows.append(
            cells[0]
            | {
                "time_ratio": statistics.median(ratios),
                "time_ratio_rounds": ratios,
                "tokens_per_s": max(cell["tokens_per_s"] for cell in cells),
                "reference_tokens_per_s": max(cell["reference_tokens_per_s"] for cell in cells),
            }
        )
    return rows


def shown_ratio(row: dict[str, Any]) -> str:
    """``1.05``, or with several rounds ``1.05 (0.97-1.12)``: the median and the range."""
    rounds = row["time_ratio_rounds"]
    spread = f" ({min(rounds):.2f}-{max(rounds):.2f})" if len(rounds) > 1 else ""
    return f"{row['time_ratio']:.2f}{spread}"


def table(rows: list[dict[str, Any]], mode: str, hidden_sizes: list[int]) -> list[list[object]]:
    """One table row per layer: its time ratio, then its tokens/s, at each hidden size."""
    cell = {(r["layer"], r["hidden"]): r for r in rows if r["mode"] == mode}
    return [
        [name, f"torch.nn.{reference}"]
        + [shown_ratio(cell[name, h]) for h in hidden_sizes]
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
    parser.add_argument(
        "--rounds", type=int, default=1, help="whole sweeps; each cell is their median ratio"
    )
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
    sweeps = [
        [row for h in args.hidden for row in measure(h, args.batch, args.steps, args.repeats)]
        for _ in range(args.rounds)
    ]
    rows = combine(sweeps)
    columns = ["layer", "reference", *(f"ratio H={h}" for h in args.hidden)]
    columns += [f"tok/s H={h}" for h in args.hidden]
    for mode in MODES:
        title = (
            f"{mode}: B={args.batch}, T={args.steps}; median time / reference time "
            f"(lower is faster){' over rounds (range)' if args.rounds > 1 else ''}, best tokens/s"
        )
        print_table(title, columns, table(rows, mode, args.hidden))
    settings = {
        "batch": args.batch,
        "steps": args.steps,
        "repeats": args.repeats,
        "rounds": args.rounds,
        "threads": torch.get_num_threads(),
        "time_loops": "python" if args.python_loop else "compiled",
    }
    print("wrote", write_json("layers", {"settings": settings, "rows": rows}, args.json))


if __name__ == "__main__":
    main()
