"""German -> English translation on Multi30k (Elliott et al. 2016): BLEU and chrF of the
`translate` task after a fixed training budget, and its translation speed.

Training reads the raw, cased files (``raw/train.de`` / ``raw/train.en``; ``raw/val`` picks the
best model by greedy BLEU at every epoch), with byte-level BPE vocabularies of 6,000 per side.
The model is a one-layer LSTM encoder-decoder (embedding 256, hidden 512) with Luong's general
attention, without input feeding and in bf16 autocast: on 2 cores that trained 2.7x faster
than with input feeding in fp32 (4,881 against 1,790 target tokens/s), so the budget holds more
epochs. The run with input feeding, ``results/translate_multi30k_input_feed.json``, is the last
command below.
The test set ``test_2016_flickr`` is translated once at the end, greedily and with a beam of 5,
and scored three ways:

* ``bleu`` / ``chrf``: sacreBLEU (13a tokenisation, cased) of the detokenised output against the
  raw references, the standard measure;
* ``bleu_lc_tok``: BLEU of the lower-cased output against the lower-cased, tokenised references
  of ``tok/`` (their ``&apos;``-style escapes undone), both split by sacreBLEU's 13a tokeniser —
  the measure of the PyTorch tutorials that report BLEU on lower-cased, tokenised Multi30k.

Speed: sentences per second over the first 256 test sentences, greedy vs beam 5, in batches of
1 and of 64 (`rnnkit.tasks.translate.Translation.translate`).

    python benchmarks/translate_multi30k.py                  # 30 minutes of training, then tests
    python benchmarks/translate_multi30k.py --minutes 2 --out runs/m30k_quick
    python benchmarks/translate_multi30k.py --skip-training  # re-score the run in --out
    python benchmarks/translate_multi30k.py --set model.input_feed=true \
        --set train.precision=fp32 --out runs/translate_multi30k_input_feed \
        --json benchmarks/results/translate_multi30k_input_feed.json
"""

from __future__ import annotations

import argparse
import html
import time
from pathlib import Path

import sacrebleu
import torch

from common import machine, print_table, write_json
from rnnkit.checkpoint import read_metrics_log
from rnnkit.tasks import load_run, train_run

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "multi30k"
TEST = "test_2016_flickr"
TUTORIAL_BLEU = 28.3  # a public PyTorch reproduction of Bahdanau attention, lower-cased tokenised
SETTINGS = [
    "data.src=de",
    "data.tgt=en",
    "data.tokenizer=bpe",
    "data.vocab_size=6000",
    "model.cell=lstm",
    "model.embedding_dim=256",
    "model.hidden_size=512",
    "model.num_layers=1",
    "model.attention=general",
    "model.input_feed=false",
    "model.dropout=0.3",
    "model.label_smoothing=0.1",
    "train.batch_size=64",
    "train.optimizer=adam",
    "train.lr=0.002",
    "train.lr_schedule=cosine",
    "train.warmup_steps=200",
    "train.clip_norm=5.0",
    "train.epochs=1000",
    "train.threads=2",
    "train.precision=bf16",
]
SPEED_SENTENCES = 256


def train(out: Path, minutes: float, extra: list[str]) -> dict:
    """Train into ``out`` for ``minutes``; the training log's summary."""
    raw = DATA / "raw"
    train_run(
        "translate",
        [str(raw / "train")],
        out,
        valid=[str(raw / "val")],
        overrides=[*SETTINGS, *extra, f"train.max_minutes={minutes}"],
        live=False,
    )
    log = read_metrics_log(out)
    best = max(log, key=lambda record: record["valid_bleu"])
    return {
        "minutes": log[-1]["elapsed_s"] / 60,
        "steps": log[-1]["step"],
        "epochs": log[-1]["epoch"],
        "best_epoch": best["epoch"],
        "valid_bleu_greedy": best["valid_bleu"],
        "tokens_per_s": log[-1]["tokens_per_s"],
    }


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def score(out: Path, beam: int) -> dict:
    """Test-set BLEU / chrF of the run in ``out`` with beam ``beam``."""
    loaded = load_run(out)
    sources = lines(DATA / "raw" / f"{TEST}.de")
    started = time.perf_counter()
    results = loaded.task.translate(loaded.model, "\n".join(sources), TEST, beam_size=beam)
    seconds = time.perf_counter() - started
    hypotheses = [best[0]["translation"] for best in results]
    references = lines(DATA / "raw" / f"{TEST}.en")
    tokenised = [html.unescape(r) for r in lines(DATA / "tok" / f"{TEST}.lc.norm.tok.en")]
    return {
        "beam": beam,
        "bleu": sacrebleu.corpus_bleu(hypotheses, [references]).score,
        "chrf": sacrebleu.corpus_chrf(hypotheses, [references]).score,
        "bleu_lc_tok": sacrebleu.corpus_bleu(
            [h.lower() for h in hypotheses], [tokenised], lowercase=True
        ).score,
        "sentences_per_s": len(sources) / seconds,
        "examples": [
            {"source": s, "translation": h, "reference": r}
            for s, h, r in list(zip(sources, hypotheses, references, strict=True))[:5]
        ],
    }


def speed(out: Path, beam: int, batch_size: int) -> float:
    """Sentences per second translating the first test sentences."""
    loaded = load_run(out)
    text = "\n".join(lines(DATA / "raw" / f"{TEST}.de")[:SPEED_SENTENCES])
    started = time.perf_counter()
    loaded.task.translate(loaded.model, text, TEST, beam_size=beam, batch_size=batch_size)
    return SPEED_SENTENCES / (time.perf_counter() - started)


def search_name(beam: int) -> str:
    return "greedy" if beam == 1 else f"beam {beam}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=30, help="training budget")
    parser.add_argument("--out", type=Path, default=Path("runs/translate_multi30k"))
    parser.add_argument("--skip-training", action="store_true", help="score the run in --out")
    parser.add_argument("--set", dest="extra", action="append", default=[], help="extra config")
    parser.add_argument("--json", help="results file (default results/translate_multi30k.json)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    training = {} if args.skip_training else train(args.out, args.minutes, args.extra)
    tests = [score(args.out, beam) for beam in (1, 5)]
    speeds = [
        {"beam": beam, "batch_size": size, "sentences_per_s": speed(args.out, beam, size)}
        for beam in (1, 5)
        for size in (1, 64)
    ]
    print_table(
        f"Multi30k de->en, {TEST} (tutorial, lower-cased tokenised BLEU: {TUTORIAL_BLEU})",
        ["search", "BLEU", "chrF", "BLEU lc tok", "sentences/s"],
        [
            [search_name(t["beam"]), t["bleu"], t["chrf"], t["bleu_lc_tok"], t["sentences_per_s"]]
            for t in tests
        ],
    )
    print_table(
        "Translation speed (sentences/s)",
        ["search", "batch 1", "batch 64"],
        [
            [
                search_name(beam),
                *(s["sentences_per_s"] for s in speeds if s["beam"] == beam),
            ]
            for beam in (1, 5)
        ],
    )
    payload = {
        "settings": [*SETTINGS, *args.extra, f"train.max_minutes={args.minutes}"],
        "training": training,
        "test": tests,
        "speed": speeds,
        "tutorial_bleu_lc_tok": TUTORIAL_BLEU,
        "machine": machine(),
    }
    print("wrote", write_json("translate_multi30k", payload, args.json))


if __name__ == "__main__":
    main()
