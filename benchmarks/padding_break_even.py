"""Where padding stops paying: an LSTM (or GRU) batch on the padded route (the flag of
`rnnkit.nn.native_padding`) against the same batch packed, as the share of padding grows.

Batches of 32 sequences padded to 100 steps: ``k`` of them 100 steps long (k = 16, 4, 1), the
rest ``short`` (70, 50, 30, 10, 5), which spans padding shares from 0.15 to 0.92. Both routes are
rnnkit's own, forced in turn; the ratio is packed time / padded time (> 1: padding pays), the
median over interleaved rounds. The limits in ``native_padding.PADDING_LIMITS`` are read off
this table: the largest share at which the ratio stays at or above 1 for every size. With
``--dtype`` float16 / float64 or ``--proj-size`` the LSTM runs ATen's step loop instead of
oneDNN, where rnnkit always packs; the sweep shows why.

    python benchmarks/padding_break_even.py --threads 1
    python benchmarks/padding_break_even.py --threads 2
    python benchmarks/padding_break_even.py --hidden 128 --proj-size 64
    python benchmarks/padding_break_even.py --hidden 128 --dtype float64
    python benchmarks/padding_break_even.py --hidden 128 --cell gru
"""

from __future__ import annotations

import argparse
import itertools
from typing import Any

import torch
from torch import nn

import rnnkit
from common import interleaved_times, lengths_route, print_table, ratio, write_json

BATCH, STEPS = 32, 100
CELLS = {"lstm": rnnkit.LSTM, "gru": rnnkit.GRU}


def timed_route(layer: nn.Module, x: torch.Tensor, lengths: torch.Tensor, padded: bool):
    """One forward (and backward, if ``x`` requires grad) on the forced route."""

    def run() -> None:
        with lengths_route(padded), torch.set_grad_enabled(x.requires_grad):
            out, state = layer(x, lengths=lengths)
            if x.requires_grad:
                h = state[0] if isinstance(state, tuple) else state
                (out.sum() + h.sum()).backward()

    return run


def sweep(
    hidden: int, bidirectional: bool, training: bool, args: argparse.Namespace
) -> list[dict[str, Any]]:
    projection = {"proj_size": args.proj_size} if args.proj_size else {}
    layer = CELLS[args.cell](hidden, hidden, bidirectional=bidirectional, **projection)
    dtype = getattr(torch, args.dtype)
    layer = layer.to(dtype)
    x = torch.randn(STEPS, BATCH, hidden, dtype=dtype, requires_grad=training)
    rows = []
    for short, long_ in itertools.product((70, 50, 30, 10, 5), (16, 4, 1)):
        lengths = torch.full((BATCH,), short)
        lengths[:long_] = STEPS
        share = 1 - float(lengths.sum()) / (BATCH * STEPS)
        padded, packed = interleaved_times(
            [timed_route(layer, x, lengths, True), timed_route(layer, x, lengths, False)],
            args.rounds,
        )
        rows.append({"padding": share, "packed_over_padded": ratio(packed, padded)})
    return sorted(rows, key=lambda row: row["padding"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--hidden", nargs="+", type=int, default=[128, 512])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--dtype", default="float32", choices=["float32", "bfloat16", "float16", "float64"]
    )
    parser.add_argument("--proj-size", type=int, default=0, help="LSTM projection size")
    parser.add_argument("--cell", default="lstm", choices=list(CELLS))
    parser.add_argument("--out", help="JSON path (default results/padding_break_even_tN.json)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = []
    for hidden, bidirectional, training in itertools.product(
        args.hidden, (False, True), (True, False)
    ):
        rows = sweep(hidden, bidirectional, training, args)
        results.append({"hidden": hidden, "bidirectional": bidirectional,
                        "mode": "train" if training else "infer", "sweep": rows})  # fmt: skip
    shares = [f"{row['padding']:.2f}" for row in results[0]["sweep"]]
    table = [[r["hidden"], "bi" if r["bidirectional"] else "uni", r["mode"],
              *(row["packed_over_padded"] for row in r["sweep"])] for r in results]  # fmt: skip
    kind = args.dtype + (f", proj_size={args.proj_size}" if args.proj_size else "")
    title = f"packed / padded time by share of padding, {args.cell} ({kind}), {args.threads} thr."
    print_table(title, ["H", "dir", "mode", *shares], table)
    name = f"padding_break_even_t{args.threads}"
    if args.cell != "lstm" or args.dtype != "float32" or args.proj_size:
        name += f"_{args.cell}_{args.dtype}" + (f"_proj{args.proj_size}" if args.proj_size else "")
    payload = {"cell": args.cell, "dtype": args.dtype, "proj_size": args.proj_size}
    payload.update(batch=BATCH, steps=STEPS)
    print("wrote", write_json(name, {**payload, "results": results}, args.out))


if __name__ == "__main__":
    main()
