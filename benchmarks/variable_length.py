"""Variable-length batches: rnnkit's ``lengths=`` (and `PackedSequence` input) against torch's
packed computation and against the same batch padded and unmasked, in the same run.

For each cell (LSTM, GRU, and the Elman RNN, which keeps torch's packing), direction, hidden
size H (input size H too), length distribution and thread count: a time-major batch of 32
sequences padded to 100 steps, run

* ``rnnkit``: ``rnnkit.LSTM(...)(x, lengths=L)`` (native backend);
* ``rnnkit packed``: the same layer on ``pack_padded_sequence(x, L)``, unpacked after;
* ``torch packed``: ``torch.nn.LSTM`` on ``pack_padded_sequence(x, L, enforce_sorted=False)``,
  then ``pad_packed_sequence``, as torch users write it;
* ``padded``: ``torch.nn.LSTM`` on ``x`` with no lengths at all (wrong at padded steps, the
  speed a fused kernel reaches on the batch).

Training times forward + backward of the sum of the outputs and the final ``h``; inference
times the forward under ``torch.no_grad()`` in evaluation mode. The table shows milliseconds of
the best round and the median ratios over interleaved rounds: ``torch packed / rnnkit`` (the
speed-up) and ``rnnkit / padded`` (what the lengths cost).

    python benchmarks/variable_length.py
    python benchmarks/variable_length.py --cells lstm --hidden 128 --threads 2 --rounds 9
    python benchmarks/variable_length.py --device cuda --threads 1

On a GPU every call ends with ``torch.cuda.synchronize()``, so each time is the work's own.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit
from common import interleaved_times, print_table, ratio, write_json

CELLS = {"lstm": (rnnkit.LSTM, nn.LSTM), "gru": (rnnkit.GRU, nn.GRU), "rnn": (rnnkit.RNN, nn.RNN)}
BATCH, STEPS = 32, 100


def length_distribution(name: str, generator: torch.Generator) -> Tensor:
    """``uniform``: each length uniform in [10, 100]; ``all-100``: every sequence full;
    ``one-long``: one sequence of 100 among sequences of 10."""
    if name == "uniform":
        return torch.randint(10, STEPS + 1, (BATCH,), generator=generator)
    if name == "all-100":
        return torch.full((BATCH,), STEPS)
    lengths = torch.full((BATCH,), 10)
    lengths[BATCH // 2] = STEPS
    return lengths


def candidates(
    cell: str, hidden: int, bidirectional: bool, lengths: Tensor, training: bool, device: str
) -> dict[str, Callable[[], object]]:
    """The four ways of running the batch, each a no-argument function."""
    ours_cls, torch_cls = CELLS[cell]
    ours = ours_cls(hidden, hidden, bidirectional=bidirectional).to(device).train(training)
    theirs = torch_cls(hidden, hidden, bidirectional=bidirectional).to(device).train(training)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(STEPS, BATCH, hidden, device=device, requires_grad=training)

    def finish(out: Tensor, state: Tensor | tuple[Tensor, ...]) -> None:
        if training:
            h = state[0] if isinstance(state, tuple) else state
            (out.sum() + h.sum()).backward()

    def rnnkit_lengths() -> None:
        finish(*ours(x, lengths=lengths))

    def rnnkit_packed() -> None:
        out, state = ours(pack_padded_sequence(x, lengths, enforce_sorted=False))
        finish(pad_packed_sequence(out, total_length=STEPS)[0], state)

    def torch_packed() -> None:
        out, state = theirs(pack_padded_sequence(x, lengths, enforce_sorted=False))
        finish(pad_packed_sequence(out, total_length=STEPS)[0], state)

    def padded() -> None:
        finish(*theirs(x))

    functions = {
        "rnnkit": rnnkit_lengths,
        "rnnkit packed": rnnkit_packed,
        "torch packed": torch_packed,
        "padded": padded,
    }
    if not training:
        functions = {name: torch.no_grad()(function) for name, function in functions.items()}
    if device == "cuda":
        functions = {name: synchronized(function) for name, function in functions.items()}
    return functions


def synchronized(function: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        function()
        torch.cuda.synchronize()

    return run


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    generator = torch.Generator().manual_seed(0)
    results = []
    grid = itertools.product(
        args.threads, args.cells, (False, True), args.hidden, args.lengths, ("train", "infer")
    )
    for threads, cell, bidirectional, hidden, distribution, mode in grid:
        torch.set_num_threads(threads)
        lengths = length_distribution(distribution, generator)
        functions = candidates(cell, hidden, bidirectional, lengths, mode == "train", args.device)
        rounds = interleaved_times(list(functions.values()), args.rounds)
        times = dict(zip(functions, rounds, strict=True))
        results.append(
            {
                "threads": threads,
                "cell": cell,
                "bidirectional": bidirectional,
                "hidden": hidden,
                "lengths": distribution,
                "mode": mode,
                "best_ms": {name: 1000 * min(t) for name, t in times.items()},
                "speedup_vs_torch_packed": ratio(times["torch packed"], times["rnnkit"]),
                "packed_input_speedup_vs_torch_packed": ratio(
                    times["torch packed"], times["rnnkit packed"]
                ),
                "vs_padded": ratio(times["rnnkit"], times["padded"]),
            }
        )
    return results


def device_name(device: str) -> str:
    return torch.cuda.get_device_name() if device == "cuda" else "cpu"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", nargs="+", default=list(CELLS), choices=list(CELLS))
    parser.add_argument("--hidden", nargs="+", type=int, default=[128, 256, 512])
    parser.add_argument(
        "--lengths", nargs="+", default=["uniform", "all-100", "one-long"],
        choices=["uniform", "all-100", "one-long"],
    )  # fmt: skip
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--out", help="JSON path (default benchmarks/results/variable_length.json)")
    args = parser.parse_args()
    results = measure(args)
    rows = [
        [
            r["threads"], r["cell"], "bi" if r["bidirectional"] else "uni", r["hidden"],
            r["lengths"], r["mode"], *(r["best_ms"][name] for name in r["best_ms"]),
            r["speedup_vs_torch_packed"], r["packed_input_speedup_vs_torch_packed"],
            r["vs_padded"],
        ]
        for r in results
    ]  # fmt: skip
    columns = [
        "threads", "cell", "dir", "H", "lengths", "mode", "rnnkit ms", "rnnkit packed ms",
        "torch packed ms", "padded ms", "packed/rnnkit", "packed/rnnkit packed", "rnnkit/padded",
    ]  # fmt: skip
    print_table(f"Variable-length batches, N={BATCH}, T={STEPS}", columns, rows)
    path = write_json(
        "variable_length", {"batch": BATCH, "steps": STEPS, "results": results}, args.out
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
