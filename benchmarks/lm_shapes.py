"""What the word-level recipes' shapes cost in plain PyTorch: one training step (forward and
backward of nn.Embedding -> nn.LSTM -> nn.Linear, the output tied to the embedding where the
recipe ties them) per token, against zaremba-medium's, beside the ratio of their multiply-adds.

A recipe's multiply-adds a token are ``Σ_layers 4H(I + H)`` in the LSTM plus ``E·V`` in the
output layer (``I`` a layer's input width, ``E`` the output's input width, ``V`` the
vocabulary); a time ratio well above the multiply-add ratio says the shape, not the work, sets
the speed (e.g. many small recurrent matrix products at a small batch).

Beside it, the same pass of rnnkit's `LanguageModel` built from the recipe's ``model`` section
(its dropout, and for awd-lstm-small weight drop, locked and embedding dropout, AR / TAR) in
the same rounds, as a ratio to the plain shape's: what the recipe's regularisers cost a step.
``--profile RECIPE`` prints the operators that take that step's time (torch.profiler).

    python benchmarks/lm_shapes.py --vocab 10214 --profile awd-lstm-small
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import yaml
from torch import nn
from torch.profiler import ProfilerActivity, profile

from common import interleaved_times, print_table, ratio, write_json
from rnnkit.models.language_model import LanguageModel

RECIPES = Path(__file__).parent.parent / "recipes"
NAMES = ["zaremba-medium", "zaremba-small", "word-lm-pytorch-examples", "awd-lstm-small"]


def recipe(name: str) -> dict[str, Any]:
    """The config of ``recipes/NAME.yaml``."""
    return yaml.safe_load((RECIPES / f"{name}.yaml").read_text(encoding="utf-8"))


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
    def of(cls, config: dict[str, Any]) -> Shape:
        """The shape of a recipe's ``config``."""
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


def rnnkit_step(model_config: dict[str, Any], s: Shape, vocab: int) -> Callable[[], None]:
    """The same pass through rnnkit's `LanguageModel` of a recipe's ``model`` section in
    training mode: its dropout and regularisers (AR / TAR added to the loss) included."""
    torch.manual_seed(0)
    model = LanguageModel(vocab, **model_config).train()
    tokens = torch.randint(vocab, (s.batch, s.bptt))  # (N, L)
    targets = torch.randint(vocab, (tokens.numel(),))

    def step() -> None:
        logits, _, penalty = model(tokens, penalty=True)  # (N, L, V)
        (F.cross_entropy(logits.flatten(0, 1), targets) + penalty).backward()
        model.zero_grad(set_to_none=True)

    return step


def print_profile(step: Callable[[], None], steps: int = 3, rows: int = 12) -> None:
    """The operators taking the time of ``steps`` calls of ``step``, by their own time."""
    with profile(activities=[ProfilerActivity.CPU]) as profiled:
        for _ in range(steps):
            step()
    table = profiled.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)
    print(f"\n{steps} steps, the operators by their own time:\n{table}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=10214, help="Multi30k English's")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=None, help="default benchmarks/results/lm_shapes.json")
    parser.add_argument("--profile", choices=NAMES, help="print where rnnkit's step of it goes")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    configs = {name: recipe(name) for name in NAMES}
    shapes = {name: Shape.of(config) for name, config in configs.items()}
    tokens = {name: s.batch * s.bptt for name, s in shapes.items()}
    plain = [training_step(s, args.vocab) for s in shapes.values()]
    ours = {name: rnnkit_step(configs[name]["model"], s, args.vocab) for name, s in shapes.items()}
    times = interleaved_times([*plain, *ours.values()], args.rounds)
    plain_times = dict(zip(NAMES, times[: len(NAMES)], strict=True))
    rnnkit_times = dict(zip(NAMES, times[len(NAMES) :], strict=True))
    per_token = {name: [t / tokens[name] for t in plain_times[name]] for name in NAMES}
    reference, work = per_token[NAMES[0]], shapes[NAMES[0]].multiply_adds(args.vocab)
    rows, results = [], []
    for name, s in shapes.items():
        cost = min(per_token[name]) * 1e6  # the best round, the least disturbed
        time_ratio = ratio(per_token[name], reference)
        work_ratio = s.multiply_adds(args.vocab) / work
        regularised = ratio(rnnkit_times[name], plain_times[name])
        results.append(
            {"recipe": name, **asdict(s), "us_per_token": cost, "time_ratio": time_ratio,
             "multiply_add_ratio": work_ratio, "rnnkit_model_ratio": regularised}
        )  # fmt: skip
        shown = f"{s.layers} x {s.hidden}, {s.batch} x {s.bptt}"
        rows.append([name, shown, cost, time_ratio, work_ratio, regularised])
    columns = [
        "recipe", "shape", "µs a token", "time / medium", "multiply-adds / medium",
        "rnnkit model / plain",
    ]  # fmt: skip
    print_table("one training step, plain PyTorch", columns, rows)
    payload = {"vocab": args.vocab, "rounds": args.rounds, "results": results}
    write_json("lm_shapes", payload, args.json)
    if args.profile:
        print_profile(ours[args.profile])


if __name__ == "__main__":
    main()
