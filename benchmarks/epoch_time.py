"""Training-epoch time of ``classify`` on TREC and ``tag`` on UD English EWT (UPOS): with and
without length-bucketed batches (``data.bucket``), and with variable lengths on torch's fused
kernel (padded, `rnnkit.nn.native_padding`) against the earlier route, packing every batch.

Each task runs with its default model on its real training data; an epoch's batches come from
``task.train_batches`` (shuffled under both orders), and each round times the task's own step
(loss, backward, gradient clipping, Adam) over the first ``--batches`` of them. The epoch time
is that time scaled to the epoch's batch count; the four variants run interleaved, round after
round, after a warm-up round each (oneDNN builds its kernels once per shape), and the table
gives the best round of each and the padding fraction of the epoch.

    python benchmarks/epoch_time.py
    python benchmarks/epoch_time.py --tasks tag --batches 60 --rounds 3
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from classify_trec import convert
from common import interleaved_times, lengths_route, print_table, write_json
from rnnkit.data.bucketing import padding_fraction
from rnnkit.tasks import task_class
from rnnkit.train.config import load_config
from rnnkit.train.task import DataSources

DATA = Path(__file__).resolve().parents[2] / "shared/data"
UD_TRAIN = DATA / "ud_english_ewt/en_ewt-ud-train.conllu"
SETTINGS = {"classify": [], "tag": ["data.tag_column=upos"]}
ROUTES = ("padded", "packed")


def prepared_task(name: str, data: Path, bucket: bool, threads: int) -> Any:
    cls = task_class(name)
    overrides = [*SETTINGS[name], f"data.bucket={str(bucket).lower()}", f"train.threads={threads}"]
    task = cls(load_config(cls.config_class, None, overrides))
    task.prepare(DataSources(train=[str(data)]))
    return task


def epoch_step(task: Any, limit: int, route: str) -> tuple[Callable[[], None], float, int]:
    """A function that trains the task's model on the first ``limit`` batches of epoch 0 on
    ``route``; the epoch's padding fraction and batch count."""
    batches = task.train_batches(0, 0, 1)
    lengths = [task.length(e) for e in task.examples["train"]]
    padding = padding_fraction(batches.batches, lengths)
    collated = [batches.collate(indices) for indices in batches.batches[:limit]]
    torch.manual_seed(0)
    model = task.build_model().train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    forced = False if route == "packed" else None  # "packed": the route before, every batch

    def run() -> None:
        with lengths_route(forced):
            for batch in collated:
                loss = task.loss(model, batch, None)[0]
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 5.0)
                optimizer.step()

    return run, padding, len(batches.batches)


def measure(name: str, data: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    variants, functions = [], []
    for bucket in (True, False):
        task = prepared_task(name, data, bucket, args.threads)
        for route in ROUTES:
            run, padding, count = epoch_step(task, args.batches, route)
            variants.append({"task": name, "bucket": bucket, "route": route,
                             "padding": padding, "epoch_batches": count})  # fmt: skip
            functions.append(run)
    times = interleaved_times(functions, args.rounds)
    for variant, seconds in zip(variants, times, strict=True):
        timed = min(args.batches, variant["epoch_batches"])
        variant["epoch_s"] = min(seconds) * variant["epoch_batches"] / timed
        variant["round_s"] = seconds
    baseline = next(v for v in variants if v["bucket"] and v["route"] == "packed")["epoch_s"]
    for variant in variants:
        variant["vs_bucketed_packed"] = variant["epoch_s"] / baseline
    return variants


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["classify", "tag"])
    parser.add_argument("--trec", type=Path, default=DATA / "trec")
    parser.add_argument("--ud", type=Path, default=UD_TRAIN)
    parser.add_argument("--batches", type=int, default=80, help="batches timed per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", help="JSON path (default benchmarks/results/epoch_time.json)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # as the trainer does
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.tasks:
            data = convert(args.trec, Path(scratch))["train"] if name == "classify" else args.ud
            results.extend(measure(name, data, args))
    rows = [[r["task"], "on" if r["bucket"] else "off", r["route"], r["padding"], r["epoch_s"],
             r["vs_bucketed_packed"]] for r in results]  # fmt: skip
    columns = ["task", "bucketing", "lengths route", "padding", "epoch s", "vs bucketed+packed"]
    print_table(f"Epoch time, {args.threads} threads", columns, rows)
    settings = {k: str(v) for k, v in vars(args).items()}
    print("wrote", write_json("epoch_time", {"settings": settings, "results": results}, args.out))


if __name__ == "__main__":
    main()
