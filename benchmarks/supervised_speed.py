"""Speed of the supervised tasks: prediction throughput of a classifier and a tagger at batch 1
and batch 64, and the tagger's training step against a plain PyTorch loop, in the same run.

Prediction: a classifier trained briefly on ``builtin:sentiment`` and a tagger (character
features, CRF: the defaults for entity tags) on ``builtin:ner`` (or the runs given with
``--classifier-run`` / ``--tagger-run``), through the tasks' own ``probabilities`` and
``decode`` on the encoded ``-test`` sets: one call per sentence (batch 1), and one call for the
whole set, which the task cuts into length-sorted batches of
``rnnkit.tasks.supervised.EVAL_BATCH_SIZE`` (64). Sentences per second, best round of
alternating rounds.

Training: the tag task's own step (``task.loss`` of its `SequenceTagger`, backward, gradient
clipping, Adam) against a hand-written loop around torch.nn (nn.Embedding, bidirectional
nn.LSTM over `pack_padded_sequence`, dropout, nn.Linear, cross-entropy on the real tokens) of
the same sizes, on the same padded batches of the task (UD English EWT training sentences by
default, length-bucketed, collated once beforehand). Without character features, and with
them (the plain loop then runs a character nn.LSTM over the packed words too). Tokens per
second of each, and the median over interleaved rounds of their time ratio.

    python benchmarks/supervised_speed.py
    python benchmarks/supervised_speed.py --tag-data builtin:pos --rounds 7
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from common import interleaved_times, print_table, write_json
from rnnkit.tasks import load_run, task_class, train_run
from rnnkit.tasks.supervised import EVAL_BATCH_SIZE
from rnnkit.train.config import load_config
from rnnkit.train.task import DataSources

UD_TRAIN = Path(__file__).resolve().parents[2] / "shared/data/ud_english_ewt/en_ewt-ud-train.conllu"


# --- prediction ----------------------------------------------------------------------------
def trained_run(task: str, data: str, run_dir: Path | None, scratch: Path, threads: int) -> Path:
    """``run_dir``, or a run of ``task`` trained for one epoch on ``data`` in ``scratch``."""
    if run_dir is not None:
        return run_dir
    out = scratch / task
    shutil.rmtree(out, ignore_errors=True)
    settings = ["train.epochs=1", f"train.threads={threads}"]
    train_run(task, [data], out, overrides=settings, live=False)
    return out


def prediction(run_dir: Path, test: str, single: int, rounds: int) -> dict[str, Any]:
    """Sentences per second of the run's task predicting ``test``: one call per sentence for
    its first ``single`` sentences, and one call for all of it (batches of 64)."""
    run = load_run(run_dir)
    task: Any = run.task
    examples = task.encode(task.read_records([test]))
    predict = task.probabilities if hasattr(task, "probabilities") else task.decode
    few = examples[:single]

    def one_at_a_time() -> None:
        for example in few:
            predict(run.model, [example])

    def all_at_once() -> None:
        predict(run.model, examples)

    times = interleaved_times([one_at_a_time, all_at_once], rounds)
    batch1, batch64 = len(few) / min(times[0]), len(examples) / min(times[1])
    return {
        "task": task.name,
        "data": test,
        "mean_tokens": statistics.mean(task.length(e) for e in examples),
        "batch1_sentences_per_s": batch1,
        "batch64_sentences_per_s": batch64,
        "batch64_vs_batch1": batch64 / batch1,
        "batch1_sentences": len(few),
        "batch64_sentences": len(examples),
    }


# --- training ------------------------------------------------------------------------------
class PlainTagger(nn.Module):
    """The reference: what a torch user writes — embeddings (and a character BiLSTM over the
    packed words), a bidirectional nn.LSTM over the packed sentences, a linear layer,
    cross-entropy on the real tokens."""

    def __init__(self, words: int, tags: int, chars: int, args: argparse.Namespace) -> None:
        super().__init__()
        self.embedding = nn.Embedding(words, args.embedding, padding_idx=0)
        features = args.embedding
        self.char_embedding: nn.Embedding | None = None
        if chars:
            self.char_embedding = nn.Embedding(chars, args.char_embedding, padding_idx=0)
            self.char_lstm = nn.LSTM(
                args.char_embedding, args.char_hidden, batch_first=True, bidirectional=True
            )
            features += 2 * args.char_hidden
        self.lstm = nn.LSTM(features, args.hidden, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(args.dropout)
        self.output = nn.Linear(2 * args.hidden, tags)

    def char_features(self, chars: Tensor, char_lengths: Tensor) -> Tensor:
        assert self.char_embedding is not None
        real = char_lengths > 0
        packed = pack_padded_sequence(
            self.char_embedding(chars[real]), char_lengths[real], batch_first=True,
            enforce_sorted=False,
        )  # fmt: skip
        _, (final_h, _) = self.char_lstm(packed)
        out = final_h.new_zeros(*chars.shape[:2], final_h.shape[0] * final_h.shape[2])
        out[real] = final_h.transpose(0, 1).flatten(1)
        return out

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        words, lengths, tags = batch["words"], batch["lengths"], batch["tags"]
        x = self.embedding(words)
        if self.char_embedding is not None:
            x = torch.cat([x, self.char_features(batch["chars"], batch["char_lengths"])], -1)
        packed = pack_padded_sequence(
            self.dropout(x), lengths, batch_first=True, enforce_sorted=False
        )
        outputs, _ = self.lstm(packed)
        outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=words.shape[1])
        logits = self.output(self.dropout(outputs))
        real = torch.arange(words.shape[1]) < lengths[:, None]
        return F.cross_entropy(logits[real], tags[real])


def tag_task(data: str, chars: bool, args: argparse.Namespace) -> Any:
    """The tag task prepared on ``data``, its model config from ``args``."""
    cls = task_class("tag")
    overrides = [
        f"model.embedding_dim={args.embedding}",
        f"model.hidden_size={args.hidden}",
        f"model.dropout={args.dropout}",
        f"model.char_features={str(chars).lower()}",
        f"model.char_embedding_dim={args.char_embedding}",
        f"model.char_hidden_size={args.char_hidden}",
        "model.crf=false",
        f"train.batch_size={args.batch}",
    ]
    if data.endswith(".conllu"):
        overrides.append("data.tag_column=upos")
    task = cls(load_config(cls.config_class, None, overrides))
    task.prepare(DataSources(train=[data]))
    return task


def training(data: str, chars: bool, args: argparse.Namespace) -> dict[str, Any]:
    """Tokens per second of the tag task's step and of the plain loop, same batches."""
    task = tag_task(data, chars, args)
    batches = list(itertools.islice(iter(task.train_batches(0, 0, 1)), args.steps))
    tokens = sum(int(b["lengths"].sum()) for b in batches)
    torch.manual_seed(0)
    ours = task.build_model().train()
    torch.manual_seed(0)
    plain = PlainTagger(
        len(task.words), len(task.tags), len(task.characters) if chars else 0, args
    ).train()
    if sum(p.numel() for p in ours.parameters()) != sum(p.numel() for p in plain.parameters()):
        raise SystemExit("the plain model's size differs from the task's: not the same model")

    def loop(model: nn.Module, loss_of) -> Any:
        optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)

        def run() -> None:
            for batch in batches:
                loss = loss_of(batch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 5.0)
                optimizer.step()

        return run

    rnnkit_loop = loop(ours, lambda batch: task.loss(ours, batch, None)[0])
    plain_loop = loop(plain, plain)
    times = interleaved_times([rnnkit_loop, plain_loop], args.rounds)
    ratios = [p / r for r, p in zip(times[0], times[1], strict=True)]  # > 1: rnnkit faster
    return {
        "chars": chars,
        "data": data,
        "steps_per_round": len(batches),
        "tokens_per_round": tokens,
        "parameters": sum(p.numel() for p in ours.parameters()),
        "rnnkit_tokens_per_s": tokens / min(times[0]),
        "plain_tokens_per_s": tokens / min(times[1]),
        "ratio": statistics.median(ratios),
        "round_ratios": ratios,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--classifier-run", type=Path, help="a trained classify run to reuse")
    parser.add_argument("--tagger-run", type=Path, help="a trained tag run to reuse")
    parser.add_argument("--single", type=int, default=200, help="sentences predicted one by one")
    parser.add_argument("--tag-data", default=str(UD_TRAIN), help="training data of (b)")
    parser.add_argument("--embedding", type=int, default=100)
    parser.add_argument("--hidden", type=int, default=200)
    parser.add_argument("--dropout", type=float, default=0.5)
    parser.add_argument("--char-embedding", type=int, default=25)
    parser.add_argument("--char-hidden", type=int, default=50)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=40, help="training batches per round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--json", help="results file (default results/supervised_speed.json)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # as the trainer does

    with tempfile.TemporaryDirectory() as scratch:
        classifier = trained_run(
            "classify", "builtin:sentiment", args.classifier_run, Path(scratch), args.threads
        )
        tagger = trained_run("tag", "builtin:ner", args.tagger_run, Path(scratch), args.threads)
        torch.set_num_threads(args.threads)
        predictions = [
            prediction(classifier, "builtin:sentiment-test", args.single, args.rounds),
            prediction(tagger, "builtin:ner-test", args.single, args.rounds),
        ]
    print_table(
        f"prediction throughput (sentences/s; batch 64 = EVAL_BATCH_SIZE {EVAL_BATCH_SIZE})",
        ["task", "mean tokens", "batch 1", "batch 64", "batch 64 / batch 1"],
        [
            [
                p["task"],
                p["mean_tokens"],
                p["batch1_sentences_per_s"],
                p["batch64_sentences_per_s"],
                p["batch64_vs_batch1"],
            ]
            for p in predictions
        ],
    )
    trainings = [training(args.tag_data, chars, args) for chars in (False, True)]
    print_table(
        "tagger training (tokens/s; ratio > 1: rnnkit faster)",
        ["rnnkit", "tok/s", "reference", "tok/s", "ratio"],
        [
            [
                f"tag task step{', char features' if t['chars'] else ''}",
                t["rnnkit_tokens_per_s"],
                "plain torch.nn loop" + (", char nn.LSTM" if t["chars"] else ""),
                t["plain_tokens_per_s"],
                t["ratio"],
            ]
            for t in trainings
        ],
    )
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    results = {"prediction": predictions, "training": trainings}
    print("wrote", write_json("supervised_speed", {"settings": settings, **results}, args.json))


if __name__ == "__main__":
    main()
