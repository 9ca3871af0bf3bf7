"""Spoken digits (Free Spoken Digit Dataset, ``../shared/data/fsdd``: 8 kHz, five speakers, 50
recordings of each digit by each) with the `speech` task: isolated digits, connected digit
strings, a speaker held out, and the real-time factor of transcription.

* isolated — the official split (recordings 0-4 of every speaker and digit for test, 5-49 for
  training; the validation tenth drawn from training): one label per utterance
  (``model.output=auto`` picks classification), test accuracy;
* connected — strings of 1-7 digits made by joining recordings of one speaker with 50-250 ms of
  silence (deterministic; test strings only from test recordings), trained with CTC over
  characters: test WER on the digits;
* speaker-independent — both shapes again, trained on four speakers and tested on the fifth
  (``--held-out``, default ``jackson``), its recordings never seen in training;
* real-time factor of ``transcribe`` (seconds of compute per second of audio) at batch 1 and 32,
  greedy and with a beam of 8, on the connected test strings.

    python benchmarks/speech_fsdd.py                     # 30 minutes of training at most
    python benchmarks/speech_fsdd.py --minutes 1 --out runs/fsdd_quick
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np
import soundfile

from common import print_table, write_json
from rnnkit.data.audio import Utterance
from rnnkit.tasks import load_run, train_run

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd" / "recordings"
NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")
RATE = 8000
MODEL = [
    "data.sample_rate=8000", "data.n_mels=40", "model.hidden_size=128", "model.num_layers=2",
    "model.subsample=2", "train.lr=0.002", "train.epochs=200", "train.patience=15",
    "train.lr_schedule=plateau", "train.threads=2",
]  # fmt: skip


def recordings() -> list[tuple[str, str, int, Path]]:
    """``(digit, speaker, index, path)`` of every recording."""
    found = []
    for path in sorted(DATA.glob("*.wav")):
        match = NAME.match(path.name)
        if match:
            found.append((match[1], match[2], int(match[3]), path))
    return found


def write_manifest(path: Path, rows: list[tuple[Path, str]]) -> Path:
    lines = ["path,text", *(f"{audio.resolve()},{text}" for audio, text in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def connected(
    items: list[tuple[str, str, int, Path]], count: int, seed: int, folder: Path
) -> list[tuple[Path, str]]:
    """``count`` digit strings, each joined from 1-7 recordings of one speaker, written as wav."""
    rng = np.random.default_rng(seed)
    by_speaker: dict[str, list[tuple[str, Path]]] = {}
    for digit, speaker, _, path in items:
        by_speaker.setdefault(speaker, []).append((digit, path))
    speakers = sorted(by_speaker)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for index in range(count):
        pool = by_speaker[speakers[index % len(speakers)]]
        picks = [pool[i] for i in rng.integers(0, len(pool), rng.integers(1, 8))]
        parts = [np.zeros(int(rng.uniform(0.05, 0.25) * RATE), dtype=np.float32)]
        for _, path in picks:
            audio, _ = soundfile.read(path, dtype="float32")
            parts += [audio, np.zeros(int(rng.uniform(0.05, 0.25) * RATE), dtype=np.float32)]
        target = folder / f"{index}.wav"
        soundfile.write(target, np.concatenate(parts), RATE)
        rows.append((target, " ".join(digit for digit, _ in picks)))
    return rows


def train(out: Path, train_csv: Path, test_csv: Path, minutes: float, extra: list[str]) -> dict:
    started = time.perf_counter()
    final = train_run(
        "speech", [str(train_csv)], out, test=[str(test_csv)], live=False,
        overrides=[*MODEL, f"train.max_minutes={minutes}", *extra],
    )  # fmt: skip
    return {**final["test"], "train_minutes": (time.perf_counter() - started) / 60,
            "epochs": final["epoch"]}  # fmt: skip


def real_time_factor(out: Path, test_csv: Path, batch: int, beam: int) -> float:
    """Seconds of compute per second of audio transcribing the test strings."""
    from rnnkit.data.audio import read_utterances

    loaded = load_run(out)
    utterances: list[Utterance] = read_utterances(test_csv, RATE)[:96]
    seconds = sum(len(u.audio) for u in utterances) / RATE
    started = time.perf_counter()
    for begin in range(0, len(utterances), batch):
        loaded.task.transcribe(loaded.model, utterances[begin : begin + batch], beam_size=beam)
    return (time.perf_counter() - started) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--minutes",
        type=float,
        default=5,
        help="training budget per isolated run (twice that for connected strings)",
    )
    parser.add_argument("--held-out", default="jackson", help="speaker of the independent test")
    parser.add_argument("--out", type=Path, default=Path("runs/speech_fsdd"))
    parser.add_argument("--json", help="results file (default results/speech_fsdd.json)")
    args = parser.parse_args()
    items, work = recordings(), args.out / "data"
    work.mkdir(parents=True, exist_ok=True)
    splits = {
        "within": ([r for r in items if r[2] >= 5], [r for r in items if r[2] < 5]),
        "held-out": ([r for r in items if r[1] != args.held_out],
                     [r for r in items if r[1] == args.held_out]),
    }  # fmt: skip
    results = []
    for split, (train_items, test_items) in splits.items():
        isolated = [
            write_manifest(work / f"{split}-isolated-{part}.csv", [(p, d) for d, _, _, p in rows])
            for part, rows in (("train", train_items), ("test", test_items))
        ]
        strings = [
            write_manifest(
                work / f"{split}-connected-{part}.csv",
                connected(rows, count, seed, work / f"{split}-{part}"),
            )
            for part, rows, count, seed in (("train", train_items, 3000, 1),
                                            ("test", test_items, 500, 2))
        ]  # fmt: skip
        for shape, (train_csv, test_csv) in (("isolated", isolated), ("connected", strings)):
            out = args.out / f"{split}-{shape}"
            minutes = args.minutes * (2 if shape == "connected" else 1)
            scores = train(out, train_csv, test_csv, minutes, [])
            results.append({"split": split, "shape": shape, **scores})
            print(results[-1])
    connected_run = args.out / "within-connected"
    connected_test = work / "within-connected-test.csv"
    rtf = {
        f"batch {batch}, beam {beam}": real_time_factor(connected_run, connected_test, batch, beam)
        for batch in (1, 32)
        for beam in (1, 8)
    }
    print_table(
        f"FSDD spoken digits (held-out speaker: {args.held_out})",
        ["split", "shape", "utterances", "accuracy", "WER", "CER", "train min", "epochs"],
        [[r["split"], r["shape"], r["utterances"], r["utterance_accuracy"], r["wer"], r["cer"],
          f"{r['train_minutes']:.1f}", r["epochs"]] for r in results],
    )  # fmt: skip
    print_table("real-time factor of transcribe", ["setting", "RTF"], list(rtf.items()))
    payload = {"settings": MODEL, "held_out": args.held_out, "results": results, "rtf": rtf}
    print("wrote", write_json("speech_fsdd", payload, args.json))


if __name__ == "__main__":
    main()
