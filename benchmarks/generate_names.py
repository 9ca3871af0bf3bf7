"""Names to order (``../shared/data/names``) with the `generate` task: given names by gender,
surnames by language.

For each corpus, every category's names are shuffled (seed 0) and split 80 / 10 / 10 into
train / valid / test; then

* a conditional model (``model.condition``: the category beside every input character) is
  trained on the training names, one file per category, and scored on the test names:
  nats per character (the end of each name included) overall and per category;
* the same model trained unconditioned (every name in one category) is scored on the same test
  names — conditioning should help, not hurt;
* a character classifier (the `classify` task, trained on the same training names) judges
  ``--samples`` names drawn at temperature 1 from each category: the share labelled with the
  asked-for category (for reference, the classifier's own accuracy on the test names), and the
  shares of unique samples and of samples not in the training data.

    python benchmarks/generate_names.py                 # about 10 minutes on 2 cores
    python benchmarks/generate_names.py --corpus gender --epochs 2 --out runs/names_quick
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from common import print_table, write_json
from rnnkit.tasks import load_run, train_run

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "names"
CORPORA = {"gender": DATA / "gender", "language": DATA / "by_language"}
SPLITS = ("train", "valid", "test")


def split_corpus(folder: Path, work: Path) -> dict[str, list[Path]]:
    """Each category file of ``folder`` split 80 / 10 / 10, written as ``work/SPLIT/CAT.txt``."""
    files: dict[str, list[Path]] = {split: [] for split in SPLITS}
    for source in sorted(folder.glob("*.txt")):
        names = [line.strip() for line in source.read_text(encoding="utf-8").splitlines()]
        names = [name for name in names if name]
        random.Random(0).shuffle(names)
        cut = [0, int(0.8 * len(names)), int(0.9 * len(names)), len(names)]
        for index, split in enumerate(SPLITS):
            target = work / split / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("\n".join(names[cut[index] : cut[index + 1]]) + "\n", "utf-8")
            files[split].append(target)
    return files


def merged(files: list[Path], target: Path) -> Path:
    """The names of ``files`` in one file (one category: the unconditioned model's data)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(path.read_text(encoding="utf-8") for path in files), "utf-8")
    return target


def classifier_table(files: list[Path], target: Path) -> Path:
    """A ``text,label`` CSV of the names in ``files``, labelled by file stem."""
    rows = ["text,label"]
    for path in files:
        rows += [f'"{n}",{path.stem}' for n in path.read_text("utf-8").split("\n") if n]
    target.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", choices=[*CORPORA, "both"], default="both")
    parser.add_argument("--epochs", type=int, default=15, help="training epochs of each model")
    parser.add_argument("--samples", type=int, default=500, help="samples judged per category")
    parser.add_argument("--out", type=Path, default=Path("runs/generate_names"))
    parser.add_argument("--json", help="results file (default results/generate_names.json)")
    args = parser.parse_args()
    model = [f"train.epochs={args.epochs}", "train.threads=2", "train.lr_schedule=plateau"]
    corpora = list(CORPORA) if args.corpus == "both" else [args.corpus]
    results, per_category = [], {}
    for corpus in corpora:
        work = args.out / corpus
        files = split_corpus(CORPORA[corpus], work / "data")
        test = [str(path) for path in files["test"]]
        runs = {}
        for kind, train, valid in (
            ("conditional", files["train"], files["valid"]),
            ("unconditioned", [merged(files["train"], work / "all" / "train" / "names.txt")],
             [merged(files["valid"], work / "all" / "valid" / "names.txt")]),
        ):  # fmt: skip
            out = work / kind
            train_run("generate", [str(p) for p in train], out, valid=[str(p) for p in valid],
                      overrides=model)  # fmt: skip
            runs[kind] = load_run(out)
        judge_out = work / "classifier"
        train_run("classify", [str(classifier_table(files["train"], work / "train.csv"))],
                  judge_out, valid=[str(classifier_table(files["valid"], work / "valid.csv"))],
                  overrides=["data.tokenizer=char", "data.lowercase=false", "train.epochs=10",
                             "train.threads=2"])  # fmt: skip
        judge = load_run(judge_out)
        judge_accuracy = judge.task.evaluate_files(
            judge.model, [str(classifier_table(files["test"], work / "test.csv"))]
        )["accuracy"]
        conditional = runs["conditional"]
        scores = conditional.task.evaluate_files(conditional.model, test)
        merged_test = merged(files["test"], work / "all" / "test" / "names.txt")
        plain = runs["unconditioned"].task.evaluate_files(
            runs["unconditioned"].model, [str(merged_test)]
        )
        judged = conditional.task.judge(conditional.model, judge.task, judge.model, args.samples)
        results.append(
            {
                "corpus": corpus,
                "test_names": sum(v["texts"] for v in scores["per_category"].values()),
                "nats_per_char": scores["loss"],
                "unconditioned_nats_per_char": plain["loss"],
                "judged_accuracy": judged["judged_accuracy"],
                "classifier_test_accuracy": judge_accuracy,
                "unique": judged["unique"],
                "novel": judged["novel"],
            }
        )
        per_category[corpus] = {
            category: {**values, "judged": judged["judged"][category]}
            for category, values in scores["per_category"].items()
        }
        print(results[-1])
    print_table(
        "names to order: test nats per character, samples judged by a classifier",
        ["corpus", "test names", "nats/char", "unconditioned", "judged acc.",
         "classifier acc.", "unique", "novel"],
        [[r["corpus"], r["test_names"], r["nats_per_char"], r["unconditioned_nats_per_char"],
          r["judged_accuracy"], r["classifier_test_accuracy"], r["unique"], r["novel"]]
         for r in results],
    )  # fmt: skip
    for corpus, table in per_category.items():
        print_table(
            f"{corpus}: per category",
            ["category", "test names", "nats/char", "judged as asked"],
            [[c, v["texts"], v["loss"], v["judged"]] for c, v in table.items()],
        )
    payload = {"settings": model, "samples": args.samples, "results": results,
               "per_category": per_category}  # fmt: skip
    print("wrote", write_json("generate_names", payload, args.json))


if __name__ == "__main__":
    main()
