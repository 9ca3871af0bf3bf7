"""Long memory: Elman RNN, LSTM, GRU and minGRU on the adding problem and copy memory.

Every cell gets the same fixed budget at every sequence length — the same number of Adam steps
on fresh batches, batch size, hidden size, learning rate and gradient clipping — and is then
scored on a fixed test set (the same for every cell) against the trivial baseline:

* adding problem (Hochreiter & Schmidhuber 1997; Le et al. 2015): test MSE; always predicting 1
  scores 1/6 ≈ 0.167. T is the sequence length.
* copy memory (Arjovsky et al. 2016): cross-entropy per step, against the memoryless
  10 ln 8 / (T + 20), and the accuracy on the 10 copied symbols (chance: 1/8). T is the delay;
  sequences are T + 20 steps long.

"ratio" is the test error over the baseline: 1 learns nothing, 0 is perfect.

    python benchmarks/memory.py                 # 2,000 steps, T in 50 100 200 400: 3.4 CPU-hours
    python benchmarks/memory.py --quick         # 20 steps at T = 20: a smoke test
    python benchmarks/memory.py --jobs 2 --threads 1   # two runs at a time, one core each
    python benchmarks/memory.py --tasks adding --lengths 100 --cells lstm gru --steps 500
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

import torch

from common import print_table, write_json
from rnnkit.bptt.long_memory import (
    LAYERS,
    AddingProblem,
    CopyProblem,
    MemoryModel,
    MemoryProblem,
    evaluate,
    train,
)

TASKS = {"adding": AddingProblem, "copy": CopyProblem}
ERROR = {"adding": "mse", "copy": "cross_entropy"}


def run(problem: MemoryProblem, cell: str, args: argparse.Namespace) -> dict[str, object]:
    """Train one cell on one problem under the budget of ``args``; its test scores."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(args.seed)
        model = MemoryModel(cell, problem.input_size, args.hidden, problem.output_size)
    start = time.perf_counter()
    losses = train(
        model, problem, steps=args.steps, batch_size=args.batch, lr=args.lr,
        clip_norm=args.clip, seed=args.seed + 1,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    test_inputs, test_targets = problem.sample(args.test_size, args.seed + 2)
    metrics = evaluate(model, problem, test_inputs, test_targets)
    error = metrics[ERROR[problem.name]]
    tail = losses[-max(1, len(losses) // 10) :]
    row = {"task": problem.name, "T": _length(problem), "cell": cell, "error": error}
    row |= {"baseline": problem.baseline(), "ratio": error / problem.baseline()}
    row |= {"accuracy": metrics.get("accuracy"), "train_loss": sum(tail) / len(tail)}
    return row | {"train_seconds": seconds}


def _length(problem: MemoryProblem) -> int:
    return problem.length if isinstance(problem, AddingProblem) else problem.delay


def _finite(row: dict[str, object]) -> dict[str, object]:
    """NaN / inf (a diverged run) as None, so that the JSON stays standard."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}


def table(rows: list[dict[str, object]], task: str) -> list[list[object]]:
    shown = ("T", "cell", "error", "baseline", "ratio", "accuracy", "train_seconds")
    return [["-" if r[k] is None else r[k] for k in shown] for r in rows if r["task"] == task]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", nargs="+", choices=sorted(TASKS), default=["adding", "copy"])
    parser.add_argument("--lengths", nargs="+", type=int, default=[50, 100, 200, 400])
    parser.add_argument(
        "--cells",
        nargs="+",
        choices=list(LAYERS),
        default=["rnn", "lstm", "lstm_fb1", "gru", "mingru"],
    )
    parser.add_argument("--steps", type=int, default=2000, help="Adam steps per run")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--clip", type=float, default=1.0, help="gradient clipping norm")
    parser.add_argument("--test-size", type=int, default=1000, help="test sequences per task")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch threads per process")
    parser.add_argument("--jobs", type=int, default=1, help="runs side by side, one per process")
    parser.add_argument("--quick", action="store_true", help="20 steps, T = 20, 200 test sequences")
    parser.add_argument("--json", help="where to write the results (default results/memory.json)")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.lengths, args.test_size = 20, [20], 200
    return args


def set_up_process(threads: int) -> None:
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)  # vanishing gradients in denormal floats: up to 8x slower


def run_one(name: str, length: int, cell: str, args: argparse.Namespace) -> dict[str, object]:
    row = _finite(run(TASKS[name](length), cell, args))
    print(f"{name} T={length} {cell}: {row['error']}", flush=True)
    return row


def run_all(args: argparse.Namespace) -> list[dict[str, object]]:
    """Every (task, length, cell) run, in that order; ``args.jobs`` processes side by side."""
    runs = [(n, t, c) for n in args.tasks for t in args.lengths for c in args.cells]
    if args.jobs == 1:
        set_up_process(args.threads)
        return [run_one(*key, args) for key in runs]
    spawn = multiprocessing.get_context("spawn")  # a forked OpenMP thread pool can hang
    with ProcessPoolExecutor(
        args.jobs, mp_context=spawn, initializer=set_up_process, initargs=(args.threads,)
    ) as pool:
        futures = [pool.submit(run_one, *key, args) for key in runs]
        return [future.result() for future in futures]


def main() -> None:
    args = parse_args()
    rows = run_all(args)
    columns = [
        "T",
        "cell",
        "test error",
        "baseline",
        "error / baseline",
        "copy accuracy",
        "train s",
    ]
    for name in args.tasks:
        title = (
            f"{name}: test {ERROR[name]} after {args.steps} steps (batch {args.batch}, "
            f"hidden {args.hidden}, Adam lr {args.lr:g}, clip {args.clip:g})"
        )
        print_table(title, columns, table(rows, name))
    settings = {k: v for k, v in vars(args).items() if k != "json"}
    print("wrote", write_json("memory", {"settings": settings, "rows": rows}, args.json))


if __name__ == "__main__":
    main()
