"""What the word-level recipes' shapes cost in plain PyTorch: one training step (forward and
backward of nn.Embedding -> nn.LSTM -> nn.Linear, the output tied to the embedding where the
recipe ties them) per token, against zaremba-medium's, beside the ratio of their multiply-adds.

A recipe's multiply-adds a token are ``Σ_layers 4H(I + H)`` in the LSTM plus ``E·V`` in the
output layer (``I`` a layer's input width, ``E`` the output's input width, ``V`` the
vocabulary); a time ratio well above the multiply-add ratio says the shape, not the work, sets
the speed (e.g. many small recurrent matrix products at a small batch).

    python benchmarks/lm_shapes.py --vocab 10214
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml
from torch import nn

from common import interleaved_times, print_table, ratio, write_json

RECIPES = Path(__file__).parent.parent / "recipes"
NAMES = ["zaremba-medium", "zaremba-small", "word-lm-pytorch-examples", "awd-lstm-small"]


@dataclass(frozen=True)
class Shape:
    """A recipe's model and batch: embedding E, L layers of H units, N streams of T steps."""

    embedding: int
    hidden: int
    layers: int
    tied: bool
    batch: int
    bptt: int

    @classmethod
    def of(cls, name: str) -> Shape:
        """The shape of ``recipes/NAME.yaml``."""
        config = yaml.safe_load((RECIPES / f"{name}.yaml").read_text(encoding="utf-8"))
        model, train = config["model"], config["train"]
        return cls(
            model["embedding_dim"], model["hidden_size"], model["num_layers"],
            model.get("tie_weights", False), train["batch_size"], train["bptt"],
        )  # fmt: skip

    def multiply_adds(self, vocab: int) -> int:
        """Multiply-adds a token of one forward pass: the LSTM's layers and the output."""
        inputs = [self.embedding] + [self.hidden] * (self.layers - 1)
        return sum(4 * self.hidden * (i + self.hidden) for i in inputs) + self.hidden * vocab


def training_step(s: Shape, vocab: int) -> Callable[[], None]:
    """A function running one forward and backward pass of the recipe's shape, plain torch."""
    torch.manual_seed(0)
    embedding = nn.Embedding(vocab, s.embedding)
    lstm = nn.LSTM(s.embedding, s.hidden, s.layers)
    output = nn.Linear(s.hidden, vocab)
    if s.tied:
        output.weight = embedding.weight
    parameters = [*embedding.parameters(), *lstm.parameters(), output.bias]
    if not s.tied:
        parameters.append(output.weight)
    tokens = torch.randint(vocab, (s.bptt, s.batch))  # (T, N)
    targets = torch.randint(vocab, (tokens.numel(),))

    def step() -> None:
        hidden, _ = lstm(embedding(tokens))  # (T, N, H)
        F.cross_entropy(output(hidden).flatten(0, 1), targets).backward()
        for parameter in parameters:
            parameter.grad = None

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=10214, help="Multi30k English's")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=None, help="default benchmarks/results/lm_shapes.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    shapes = {name: Shape.of(name) for name in NAMES}
    tokens = {name: s.batch * s.bptt for name, s in shapes.items()}
    times = interleaved_times([training_step(s, args.vocab) for s in shapes.values()], args.rounds)
    per_token = {
        name: [t / tokens[name] for t in runs] for name, runs in zip(NAMES, times, strict=True)
    }
    reference, work = per_token[NAMES[0]], shapes[NAMES[0]].multiply_adds(args.vocab)
    rows, results = [], []
    for name, s in shapes.items():
        cost = min(per_token[name]) * 1e6  # the best round, the least disturbed
        time_ratio = ratio(per_token[name], reference)
        work_ratio = s.multiply_adds(args.vocab) / work
        results.append(
            {"recipe": name, **asdict(s), "us_per_token": cost, "time_ratio": time_ratio,
             "multiply_add_ratio": work_ratio}
        )  # fmt: skip
        shown = f"{s.layers} x {s.hidden}, {s.batch} x {s.bptt}"
        rows.append([name, shown, cost, time_ratio, work_ratio])
    columns = ["recipe", "shape", "µs a token", "time / medium", "multiply-adds / medium"]
    print_table("one training step, plain PyTorch", columns, rows)
    payload = {"vocab": args.vocab, "rounds": args.rounds, "results": results}
    write_json("lm_shapes", payload, args.json)


if __name__ == "__main__":
    main()
