"""Part-of-speech tagging: UPOS accuracy of the `tag` task on Universal Dependencies English EWT,
with and without character features, under the same wall-clock budget.

Each variant is one run of ``rnnkit train tag`` on ``en_ewt-ud-train.conllu``, the dev file
for validation (it picks the best epoch) and the test file evaluated once, at the end, with the
best model. No pretrained embeddings: the word embeddings are learned from the 204,577 training
words alone. The runs are made one after the other (each takes ``train.threads`` cores). The
budget ``train.max_minutes`` decides when each stops (``train.epochs`` is set beyond what it
allows); the cosine schedule anneals the learning rate over the budget.

Reported per variant: test and validation UPOS accuracy, test accuracy on the tokens whose word
is not in the training vocabulary (which only the character features can read), the minutes,
steps and epochs trained, the epoch of the best validation accuracy and the training throughput.

    python benchmarks/tag_ud.py                       # 25 minutes per variant
    python benchmarks/tag_ud.py --minutes 10 --set model.hidden_size=128
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path
from typing import Any

from common import print_table, write_json
from rnnkit.checkpoint import read_metrics_log
from rnnkit.data.conll import read_conllu
from rnnkit.data.tokenizers import normalize_digits
from rnnkit.tasks import load_run, train_run

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ud_english_ewt"
SETTINGS = [
    "data.tag_column=upos",
    "data.min_freq=2",  # singletons train <unk>, so unseen words meet a trained vector
    "data.normalize_digits=true",
    "model.cell=lstm",
    "model.embedding_dim=100",
    "model.hidden_size=200",
    "model.num_layers=1",
    "model.dropout=0.5",
    "model.char_embedding_dim=25",
    "model.char_hidden_size=50",
    "train.batch_size=32",
    "train.optimizer=adam",
    "train.lr=0.002",
    "train.lr_schedule=cosine",
    "train.clip_norm=5.0",
    "train.epochs=100",
    "train.threads=2",
]
VARIANTS = {"chars": ["model.char_features=true"], "no_chars": ["model.char_features=false"]}


def unseen_word_accuracy(run_dir: Path, test: Path) -> tuple[float, int]:
    """Test accuracy on the tokens whose (looked-up) word is not in the run's vocabulary, and
    how many such tokens there are; via the task's own `predict`."""
    run = load_run(run_dir)
    task: Any = run.task
    data = task.config.data
    predicted = task.predict(run.model, test)
    gold = read_conllu(test, tag_field="upos")
    right = total = 0
    for record, sentence in zip(predicted, gold, strict=True):
        for token, guess, tag in zip(sentence.tokens, record["tags"], sentence.tags, strict=True):
            word = token.lower() if data.lowercase else token
            word = normalize_digits(word) if data.normalize_digits else word
            if word not in task.words:
                total += 1
                right += guess == tag
    return right / max(total, 1), total


def run_variant(name: str, data: Path, minutes: float, out: Path, extra: list[str]) -> dict:
    """Train one variant for ``minutes`` into ``out/name``; its figures."""
    run_dir = out / name
    shutil.rmtree(run_dir, ignore_errors=True)  # this benchmark's own output of an earlier run
    settings = [*SETTINGS, *VARIANTS[name], *extra, f"train.max_minutes={minutes}"]
    test = data / "en_ewt-ud-test.conllu"
    load_before = os.getloadavg()[0]  # other work on the machine takes the budget's steps
    final = train_run(
        "tag",
        [str(data / "en_ewt-ud-train.conllu")],
        run_dir,
        valid=[str(data / "en_ewt-ud-dev.conllu")],
        test=[str(test)],
        overrides=settings,
        live=False,
    )
    log = read_metrics_log(run_dir)
    best = max(log, key=lambda record: record["valid_accuracy"])
    unseen, unseen_tokens = unseen_word_accuracy(run_dir, test)
    return {
        "variant": name,
        "test_accuracy": final["test"]["accuracy"],
        "valid_accuracy": final["valid"]["accuracy"],
        "test_unseen_accuracy": unseen,
        "test_unseen_tokens": unseen_tokens,
        "minutes": log[-1]["elapsed_s"] / 60,
        "steps": log[-1]["step"],
        "epochs": log[-1]["epoch"],
        "best_epoch": best["epoch"],
        "tokens_per_s": log[-1]["tokens_per_s"],
        "load_avg_before": load_before,
        "load_avg_after": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA, help="en_ewt-ud-*.conllu folder")
    parser.add_argument("--minutes", type=float, default=25, help="budget per variant")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--out", type=Path, default=Path("runs/tag_ud"), help="run directories")
    parser.add_argument("--set", dest="extra", action="append", default=[], help="extra config")
    parser.add_argument("--json", help="results file (default results/tag_ud.json)")
    args = parser.parse_args()
    rows = [run_variant(v, args.data, args.minutes, args.out, args.extra) for v in args.variants]
    columns = [
        "variant",
        "test_accuracy",
        "valid_accuracy",
        "test_unseen_accuracy",
        "test_unseen_tokens",
        "minutes",
        "steps",
        "epochs",
        "best_epoch",
        "tokens_per_s",
    ]
    title = f"UPOS tagging, UD English EWT: BiLSTM, {args.minutes:g} min each"
    print_table(title, columns, [[r[c] for c in columns] for r in rows])
    settings = {
        "data": str(args.data),
        "minutes": args.minutes,
        "config": [*SETTINGS, *args.extra],
        "variants": {v: VARIANTS[v] for v in args.variants},
    }
    print("wrote", write_json("tag_ud", {"settings": settings, "rows": rows}, args.json))


if __name__ == "__main__":
    main()
