"""Sketch-RNN on Aaron Koblin's sheep (``../shared/data/sketch/aaron_sheep.npz``: 7,400 / 300 /
300 drawings) with the ``sketch`` task: the test reconstruction loss and KL after a wall-clock
budget, and grids of drawings — new sheep at two temperatures, and sheep completed from the
first 20 points of test drawings.

The task's defaults are used (smaller than the paper's sizes, so that half an hour on two CPU
cores trains a usable model), bar the thread count and the budget; ``--set`` changes them, e.g.
``--set model.hidden_size=512 --set model.encoder_size=256 --set model.latent_size=128`` for the
paper's sizes (Ha & Eck 2017 train for far longer, on a GPU).

    python benchmarks/sketch_sheep.py                    # 30 minutes of training
    python benchmarks/sketch_sheep.py --minutes 1 --out runs/sheep_quick --images /tmp/sheep \\
        --json /tmp/sheep.json                           # a smoke run, docs/ untouched
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import print_table, write_json
from rnnkit.checkpoint import write_text_atomic
from rnnkit.cli.sketch_figures import svg_grid
from rnnkit.data.sketch_files import read_sketch_splits
from rnnkit.tasks import Draws, load_run, train_run

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sketch" / "aaron_sheep.npz"
IMAGES = Path(__file__).resolve().parents[1] / "docs" / "img"
SETTINGS = ["train.threads=2", "train.epochs=10000"]  # the time budget decides
TEMPERATURES = (0.2, 0.8)
COMPLETION_POINTS = 20


def draw_grids(run: Path, folder: Path) -> list[str]:
    """New sheep at each of `TEMPERATURES`, and completions of test sheep, as SVG grids."""
    loaded = load_run(run)
    task = loaded.task
    assert isinstance(task, Draws)
    written = []
    for temperature in TEMPERATURES:
        sketches = task.draw(loaded.model, 9, temperature, seed=0)
        path = folder / f"sketch_sheep_t{temperature}.svg"
        write_text_atomic(path, svg_grid(sketches))
        written.append(str(path))
    starts = read_sketch_splits(DATA)["test"][:3]
    completed = [
        sketch
        for start in starts
        for sketch in task.draw(loaded.model, 3, 0.5, start=start[:COMPLETION_POINTS], seed=1)
    ]
    path = folder / "sketch_sheep_completed.svg"
    write_text_atomic(path, svg_grid(completed))
    return [*written, str(path)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=30, help="training budget")
    parser.add_argument("--out", type=Path, default=Path("runs/sketch_sheep"))
    parser.add_argument("--set", action="append", default=[], help="extra config KEY=VALUE")
    parser.add_argument("--json", help="results file (default results/sketch_sheep.json)")
    parser.add_argument("--images", type=Path, default=IMAGES, help="folder of the drawings")
    args = parser.parse_args()
    settings = [*SETTINGS, f"train.max_minutes={args.minutes}", *args.set]
    started = time.perf_counter()
    final = train_run("sketch", [str(DATA)], args.out, overrides=settings, live=False)
    minutes = (time.perf_counter() - started) / 60
    test = final["test"]
    args.images.mkdir(parents=True, exist_ok=True)
    images = draw_grids(args.out, args.images)
    print_table(
        f"Sketch-RNN on aaron_sheep (test set, {test['sketches']} sketches)",
        ["budget min", "steps", "epochs", "reconstruction", "offsets", "pen", "KL", "loss"],
        [[args.minutes, final["step"], final["epoch"], test["reconstruction"], test["offsets"],
          test["pen"], test["kl"], test["loss"]]],
    )  # fmt: skip
    payload = {
        "settings": settings,
        "test": test,
        "valid": final.get("valid"),
        "steps": final["step"],
        "epochs": final["epoch"],
        "train_minutes": minutes,
        "images": images,
    }
    print("wrote", write_json("sketch_sheep", payload, args.json), "and", ", ".join(images))


if __name__ == "__main__":
    main()
