"""Image captioning on the built-in scenes with the ``caption`` task: Show, Attend and Tell (soft
attention over the encoder's 8 x 8 grid) against Show and Tell (the image as the decoder's first
input, no attention), each trained for the same wall-clock budget.

Data: ``builtin:scenes`` (2,000 generated 64 x 64 images of two coloured shapes, one above or
beside the other, 3-4 captions each; a tenth of the images held out for validation) and
``builtin:scenes-test`` (300 images). Reported: BLEU-1..4 (sacreBLEU, all references of each
image) and exact matches of the beam-search captions (beam 3) on the test images, the training
time and steps. One test image's attention maps are saved to docs/img/caption_attention.png.

    python benchmarks/caption_scenes.py                    # 5 minutes of training per model
    python benchmarks/caption_scenes.py --minutes 1 --out runs/caption_quick
    python benchmarks/caption_scenes.py --set model.attention_reg=1 --out runs/caption_reg1 \
        --json /tmp/caption_reg1.json --figure /tmp/caption_reg1.png   # with Xu et al.'s penalty
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import print_table, write_json
from rnnkit.cli.caption_figures import save_attention_figure
from rnnkit.data.builtin_scenes import builtin_images
from rnnkit.tasks import load_run, train_run

FIGURE = Path(__file__).resolve().parents[1] / "docs" / "img" / "caption_attention.png"
MODEL = ["train.lr=0.002", "train.lr_schedule=cosine", "train.epochs=1000"]
MODELS = {"show-attend-tell": ["model.attention=soft"], "show-tell": ["model.attention=none"]}


def train(out: Path, minutes: float, extra: list[str]) -> dict:
    """Train one model for ``minutes``; its test scores, minutes and steps."""
    started = time.perf_counter()
    final = train_run(
        "caption", ["builtin:scenes"], out, test=["builtin:scenes-test"], live=False,
        overrides=[*MODEL, f"train.max_minutes={minutes}", *extra],
    )  # fmt: skip
    return {**final["test"], "train_minutes": (time.perf_counter() - started) / 60,
            "steps": final["step"], "epochs": final["epoch"]}  # fmt: skip


def attention_figure(run: Path, path: Path) -> str:
    """Caption the first test image with ``run``'s model and save its attention maps."""
    image_file = run.parent / "scene-test-1.png"
    builtin_images("builtin:scenes-test")[0].image.save(image_file)
    loaded = load_run(run)
    (record,) = loaded.task.caption(loaded.model, [str(image_file)], attention=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_attention_figure(record, path)
    return str(record["caption"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=5, help="training budget per model")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (more pay only on an idle machine)"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/caption_scenes"))
    parser.add_argument("--json", help="results file (default results/caption_scenes.json)")
    parser.add_argument("--figure", type=Path, default=FIGURE, help="attention figure (PNG)")
    parser.add_argument("--set", action="append", default=[], help="extra config KEY=VALUE")
    args = parser.parse_args()
    results = []
    for name, extra in MODELS.items():
        settings = [*extra, f"train.threads={args.threads}", *args.set]
        scores = train(args.out / name, args.minutes, settings)
        results.append({"model": name, **scores})
        print(results[-1])
    caption = attention_figure(args.out / "show-attend-tell", args.figure)
    print_table(
        f"builtin:scenes-test captions ({args.minutes:g} min of training per model)",
        ["model", "BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "exact", "train min", "steps"],
        [[r["model"], r["bleu1"], r["bleu2"], r["bleu3"], r["bleu4"], r["exact_match"],
          f"{r['train_minutes']:.1f}", r["steps"]] for r in results],
    )  # fmt: skip
    print(f"attention of test image 1 ({caption!r}) saved to {args.figure}")
    payload = {"settings": MODEL, "models": MODELS, "minutes": args.minutes,
               "threads": args.threads, "results": results}  # fmt: skip
    print("wrote", write_json("caption_scenes", payload, args.json))


if __name__ == "__main__":
    main()
