"""Language-model quality against the clock: the validation loss a character-level LSTM reaches
on Tiny Shakespeare within fixed wall-clock budgets.

Each budget is its own run of ``rnnkit train lm`` (first 90% of the text for training, last
10% for validation — the task's default split), with the cosine schedule annealing over the
budget. Reported: the best validation loss in nats per token, bits per character of the text
(the same figure whatever the tokenizer, so ``--set data.tokenizer=bpe`` compares fairly), the
steps and epochs done, and the training throughput.

    python benchmarks/lm_quality.py --data ../shared/data/tinyshakespeare/input.txt
    python benchmarks/lm_quality.py --data input.txt --minutes 5 10 20 --set model.hidden_size=512
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from common import print_table, write_json
from rnnkit.checkpoint import read_metrics_log
from rnnkit.tasks.runs import train_run

SETTINGS = [
    "model.cell=lstm",
    "model.num_layers=2",
    "model.embedding_dim=64",
    "model.hidden_size=512",
    "model.dropout=0.2",
    "train.batch_size=64",
    "train.bptt=128",
    "train.lr=0.003",
    "train.lr_schedule=cosine",
    "train.warmup_steps=100",
    "train.epochs=1000",
    "train.eval_every=200",
    "train.threads=2",
    "train.precision=bf16",
]


def run_budget(data: Path, minutes: float, out: Path, extra: list[str]) -> dict[str, float]:
    """Train for ``minutes`` into ``out``; the best validation figures and the pace."""
    run_dir = out / f"{minutes:g}min"
    shutil.rmtree(run_dir, ignore_errors=True)  # this benchmark's own output of an earlier run
    settings = [*SETTINGS, *extra, f"train.max_minutes={minutes}"]
    final = train_run("lm", [str(data)], run_dir, overrides=settings, live=False)
    log = read_metrics_log(run_dir)
    loss = final["valid"]["loss"]
    return {
        "minutes": minutes,
        "valid_loss_nats": loss,  # per token: a character, or a BPE piece with data.tokenizer=bpe
        "valid_bpc": final["valid"]["bits_per_char"],  # over the text's characters, any tokens
        "steps": log[-1]["step"],
        "epochs": log[-1]["epoch"],
        "tokens_per_s": log[-1]["tokens_per_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--minutes", type=float, nargs="+", default=[5, 10, 20])
    parser.add_argument("--out", type=Path, default=Path("runs/lm_quality"), help="run directories")
    parser.add_argument("--set", dest="extra", action="append", default=[], help="extra config")
    parser.add_argument("--json", help="results file (default results/lm_quality.json)")
    args = parser.parse_args()
    rows = [run_budget(args.data, minutes, args.out, args.extra) for minutes in args.minutes]
    columns = ["minutes", "valid_loss_nats", "valid_bpc", "steps", "epochs", "tokens_per_s"]
    title = "char-level LSTM: best validation loss per time budget"
    print_table(title, columns, [[r[c] for c in columns] for r in rows])
    settings = {"data": str(args.data), "config": [*SETTINGS, *args.extra]}
    print("wrote", write_json("lm_quality", {"settings": settings, "rows": rows}, args.json))


if __name__ == "__main__":
    main()
