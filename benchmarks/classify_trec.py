"""Question classification: accuracy of the `classify` task on TREC (Li & Roth 2002), the six
coarse classes (ABBR, DESC, ENTY, HUM, LOC, NUM), against the published CNN-rand (Kim 2014).

The CogComp files (``COARSE:fine question``, one a line) are converted to TSV in a temporary
folder: ``train_5500.label`` minus its last 10% (not shuffled) for training, that last 10% for
validation (it picks the best epoch, by macro-F1), and ``TREC_10.label`` for the test, evaluated
once at the end with the best model and never used to choose anything. The one non-ASCII byte of
the training file (0xF0 in "sister\\xf0city", stored in some copies as UTF-8 "ð") becomes a space,
as the torchtext and Hugging Face loaders do. Word embeddings are learned from these 4,907
questions alone (no pretrained vectors). Each named config is one run under the time budget
``train.max_minutes``, the cosine schedule annealing over it.

Reported per config: test accuracy and macro-F1, validation accuracy and macro-F1, minutes,
steps, epochs and the epoch of the best validation score.

    python benchmarks/classify_trec.py                                 # the final config, 10 min
    python benchmarks/classify_trec.py --minutes 2.5 --configs lower cased lower_min2 --no-test \
        --json benchmarks/results/classify_trec_configs.json          # choosing, on validation
"""

from __future__ import annotations

import argparse
import csv
import shutil
import tempfile
from pathlib import Path

from common import print_table, write_json
from rnnkit.checkpoint import read_metrics_log
from rnnkit.tasks import train_run

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "trec"
CNN_RAND = 0.912  # Kim (2014), "Convolutional Neural Networks for Sentence Classification"
VALID_FRACTION = 0.1
SETTINGS = [
    "data.tokenizer=word",
    "model.cell=lstm",
    "model.bidirectional=true",
    "model.embedding_dim=200",
    "model.hidden_size=200",
    "model.num_layers=1",
    "model.pooling=max",
    "model.mlp_hidden=0",
    "model.dropout=0.5",
    "train.batch_size=32",
    "train.optimizer=adam",
    "train.lr=0.002",
    "train.lr_schedule=cosine",
    "train.clip_norm=5.0",
    "train.epochs=1000",
    "train.threads=2",
]
CONFIGS = {
    "lower": ["data.lowercase=true", "data.min_freq=1"],
    "cased": ["data.lowercase=false", "data.min_freq=1"],
    "lower_min2": ["data.lowercase=true", "data.min_freq=2"],
}
FINAL = "lower_min2"


def read_questions(path: Path) -> list[tuple[str, str]]:
    """``(question, coarse label)`` of each line of a CogComp file."""
    text = path.read_bytes().decode("utf-8", errors="replace")  # the official 0xF0 -> U+FFFD
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        label, question = line.split(" ", 1)
        question = question.replace("\ufffd", " ").replace("\u00f0", " ").strip()
        rows.append((question, label.split(":", 1)[0]))
    return rows


def write_tsv(path: Path, rows: list[tuple[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, delimiter="\t", lineterminator="\n")
        writer.writerow(["text", "label"])
        writer.writerows(rows)


def convert(data: Path, folder: Path) -> dict[str, Path]:
    """``train.tsv``, ``valid.tsv`` (the last 10% of train_5500) and ``test.tsv`` in ``folder``."""
    train = read_questions(data / "train_5500.label")
    held = round(len(train) * VALID_FRACTION)
    splits = {
        "train": train[:-held],
        "valid": train[-held:],
        "test": read_questions(data / "TREC_10.label"),
    }
    paths = {}
    for name, rows in splits.items():
        paths[name] = folder / f"{name}.tsv"
        write_tsv(paths[name], rows)
    return paths


def run_config(
    name: str, files: dict[str, Path], minutes: float, out: Path, extra: list[str], test: bool
) -> dict:
    """Train config ``name`` for ``minutes`` into ``out/name``; its figures (without the test
    data when ``test`` is false: for choosing a config on the validation data alone)."""
    run_dir = out / name
    shutil.rmtree(run_dir, ignore_errors=True)  # this benchmark's own output of an earlier run
    settings = [*SETTINGS, *CONFIGS[name], *extra, f"train.max_minutes={minutes}"]
    final = train_run(
        "classify",
        [str(files["train"])],
        run_dir,
        valid=[str(files["valid"])],
        test=[str(files["test"])] if test else [],
        overrides=settings,
        live=False,
    )
    log = read_metrics_log(run_dir)
    best = max(log, key=lambda record: record["valid_macro_f1"])
    tested = final.get("test", {})
    return {
        "config": name,
        "test_accuracy": tested.get("accuracy", float("nan")),
        "test_macro_f1": tested.get("macro_f1", float("nan")),
        "valid_accuracy": final["valid"]["accuracy"],
        "valid_macro_f1": final["valid"]["macro_f1"],
        "minutes": log[-1]["elapsed_s"] / 60,
        "steps": log[-1]["step"],
        "epochs": log[-1]["epoch"],
        "best_epoch": best["epoch"],
        "texts_per_s": log[-1]["texts_per_s"],
        "test_per_class": tested.get("per_class"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA, help="folder of the .label files")
    parser.add_argument("--minutes", type=float, default=10, help="budget per config")
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=[FINAL])
    parser.add_argument("--out", type=Path, default=Path("runs/classify_trec"), help="run dirs")
    parser.add_argument(
        "--no-test", action="store_true", help="leave TREC_10 out (to compare configs)"
    )
    parser.add_argument("--set", dest="extra", action="append", default=[], help="extra config")
    parser.add_argument("--json", help="results file (default results/classify_trec.json)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        files = convert(args.data, Path(folder))
        sizes = {
            name: len(path.read_text(encoding="utf-8").splitlines()) - 1
            for name, path in files.items()
        }
        rows = [
            run_config(c, files, args.minutes, args.out, args.extra, not args.no_test)
            for c in args.configs
        ]
    columns = [
        "config",
        "test_accuracy",
        "test_macro_f1",
        "valid_accuracy",
        "valid_macro_f1",
        "minutes",
        "steps",
        "epochs",
        "best_epoch",
    ]
    title = f"TREC-6 question classification: BiLSTM + max pooling, {args.minutes:g} min each"
    print_table(title, columns, [[r[c] for c in columns] for r in rows])
    print(f"reference: CNN-rand (Kim 2014) test accuracy {CNN_RAND:.3f}")
    settings = {
        "data": str(args.data),
        "sizes": sizes,
        "minutes": args.minutes,
        "test": not args.no_test,
        "config": [*SETTINGS, *args.extra],
        "configs": {c: CONFIGS[c] for c in args.configs},
        "reference": {"CNN-rand (Kim 2014) test accuracy": CNN_RAND},
    }
    print("wrote", write_json("classify_trec", {"settings": settings, "rows": rows}, args.json))


if __name__ == "__main__":
    main()
