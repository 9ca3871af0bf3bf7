"""Where padding stops paying: an LSTM batch on the padded route (the flag of
`rnnkit.nn.native_padding`) against the same batch packed, as the share of padding grows.

Batches of 32 sequences padded to 100 steps: ``k`` of them 100 steps long (k = 16, 4, 1), the
rest ``short`` (70, 50, 30, 10, 5), which spans padding shares from 0.15 to 0.92. Both routes are
rnnkit's own, forced in turn; the ratio is packed time / padded time (> 1: padding pays), the
median over interleaved rounds. The limits in ``native_padding.PADDING_LIMITS`` are read off
this table: the largest share at which the ratio stays at or above 1 for every size.

    python benchmarks/padding_break_even.py --threads 1
    python benchmarks/padding_break_even.py --threads 2
"""

from __future__ import annotations

import argparse
import itertools
from typing import Any

import torch

import rnnkit
import rnnkit.nn.recurrent_layer as recurrent_layer
from common import interleaved_times, print_table, ratio, write_json

BATCH, STEPS = 32, 100


def timed_route(layer: rnnkit.LSTM, x: torch.Tensor, lengths: torch.Tensor, padded: bool):
    """One forward (and backward, if ``x`` requires grad) on the forced route."""

    def run() -> None:
        chosen = recurrent_layer.runs_padded
        recurrent_layer.runs_padded = lambda config, x, share: padded  # type: ignore[assignment]
        try:
            with torch.set_grad_enabled(x.requires_grad):
                out, (h, _) = layer(x, lengths=lengths)
                if x.requires_grad:
                    (out.sum() + h.sum()).backward()
        finally:
            recurrent_layer.runs_padded = chosen

    return run


def sweep(hidden: int, bidirectional: bool, training: bool, rounds: int) -> list[dict[str, Any]]:
    layer = rnnkit.LSTM(hidden, hidden, bidirectional=bidirectional)
    x = torch.randn(STEPS, BATCH, hidden, requires_grad=training)
    rows = []
    for short, long_ in itertools.product((70, 50, 30, 10, 5), (16, 4, 1)):
        lengths = torch.full((BATCH,), short)
        lengths[:long_] = STEPS
        share = 1 - float(lengths.sum()) / (BATCH * STEPS)
        padded, packed = interleaved_times(
            [timed_route(layer, x, lengths, True), timed_route(layer, x, lengths, False)], rounds
        )
        rows.append({"padding": share, "packed_over_padded": ratio(packed, padded)})
    return sorted(rows, key=lambda row: row["padding"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--hidden", nargs="+", type=int, default=[128, 512])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", help="JSON path (default results/padding_break_even_tN.json)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = []
    for hidden, bidirectional, training in itertools.product(
        args.hidden, (False, True), (True, False)
    ):
        rows = sweep(hidden, bidirectional, training, args.rounds)
        results.append({"hidden": hidden, "bidirectional": bidirectional,
                        "mode": "train" if training else "infer", "sweep": rows})  # fmt: skip
    shares = [f"{row['padding']:.2f}" for row in results[0]["sweep"]]
    table = [[r["hidden"], "bi" if r["bidirectional"] else "uni", r["mode"],
              *(row["packed_over_padded"] for row in r["sweep"])] for r in results]  # fmt: skip
    title = f"packed / padded time by share of padding, LSTM, {args.threads} thread(s)"
    print_table(title, ["H", "dir", "mode", *shares], table)
    name = f"padding_break_even_t{args.threads}"
    print("wrote", write_json(name, {"batch": BATCH, "steps": STEPS, "results": results}, args.out))


if __name__ == "__main__":
    main()
