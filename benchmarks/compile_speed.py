"""``torch.compile`` on rnnkit's layers: the time-loop path compiled (inductor) against the same
layer run eagerly, and torch.nn.LSTM eager as the common reference, in the same run.

The loop path (layer norm, peepholes, zoneout, recurrent dropout, ``backend="loop"``) is Python
stepping through time; compiled, the steps are traced once into one graph and fused. The table
gives each candidate's time relative to the eager loop (below 1: compile helps) and to
torch.nn.LSTM, for a training step (forward + backward) and inference, plus the one-off compile
time. The native path is left out: torch.compile runs torch's kernels outside its graph, for
rnnkit's layers as for torch.nn.LSTM, so compiling changes nothing there.

    python benchmarks/compile_speed.py                       # B=16, T=50, H=128, 1 thread
    python benchmarks/compile_speed.py --hidden 256 --steps 100 --threads 2
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from torch import nn

import rnnkit
from common import interleaved_times, print_table, ratio, write_json

LAYERS: dict[str, Callable[[int], nn.Module]] = {
    "layer-norm LSTM": lambda h: rnnkit.LSTM(h, h, layer_norm=True),
    "peephole LSTM": lambda h: rnnkit.LSTM(h, h, peephole=True),
    "LSTM loop": lambda h: rnnkit.LSTM(h, h, backend="loop"),
    "GRU loop": lambda h: rnnkit.GRU(h, h, backend="loop"),
}


def step(layer: nn.Module, x: torch.Tensor, train: bool) -> Callable[[], None]:
    """A training step (forward + backward) or an inference pass of ``layer`` on ``x``."""

    def run() -> None:
        if train:
            layer(x)[0].sum().backward()
        else:
            with torch.no_grad():
                layer(x)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", help="results file (default results/compile_speed.json)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(args.steps, args.batch, args.hidden)
    reference = nn.LSTM(args.hidden, args.hidden)
    rows, results = [], []
    for name, make in LAYERS.items():
        for train in (True, False):
            layer = make(args.hidden).train(train)
            compiled = torch.compile(layer)
            started = time.perf_counter()
            step(compiled, x, train)()  # the first call compiles
            compile_seconds = time.perf_counter() - started
            eager_t, compiled_t, torch_t = interleaved_times(
                [step(layer, x, train), step(compiled, x, train), step(reference, x, train)],
                args.repeats,
            )
            mode = "train" if train else "inference"
            result = {
                "layer": name,
                "mode": mode,
                "compiled_vs_eager": ratio(compiled_t, eager_t),
                "eager_vs_torch_lstm": ratio(eager_t, torch_t),
                "compiled_vs_torch_lstm": ratio(compiled_t, torch_t),
                "compile_seconds": compile_seconds,
            }
            results.append(result)
            rows.append([name, mode, *list(result.values())[2:]])
            print(result, flush=True)
    print_table(
        f"torch.compile, B={args.batch} T={args.steps} H={args.hidden}, {args.threads} thread(s)"
        " (time ratios)",
        ["layer", "mode", "compiled / eager", "eager / torch LSTM", "compiled / torch LSTM",
         "compile s"],
        rows,
    )  # fmt: skip
    payload = {"batch": args.batch, "steps": args.steps, "hidden": args.hidden,
               "threads": args.threads, "results": results}  # fmt: skip
    print("wrote", write_json("compile_speed", payload, args.json))


if __name__ == "__main__":
    main()
