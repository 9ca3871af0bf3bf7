"""A word-level recipe (recipes/zaremba-small.yaml by default) trained by ``rnnkit train lm``
and by a plain PyTorch loop with the same shape, optimiser, schedule and data: validation
perplexity per word after every epoch, side by side.

The plain loop is the textbook one (PyTorch's word_language_model): the training text as one
stream of whitespace tokens with ``<eos>`` after each line, cut into ``batch_size`` columns,
windows of ``bptt`` tokens with the state carried and detached; ``nn.Embedding`` ->
``nn.LSTM`` -> ``nn.Linear``, every weight uniform in ``±init_range`` (``model.init=uniform``)
or embedding and output only (``embedding_output``), SGD with the recipe's learning rate,
step decay and clipping. Words of the validation text unseen in training are ``<unk>`` on both
sides. rnnkit's figure is its ``valid_word_perplexity`` (per whitespace word, one end of line
per line: the same count as the loop's per-token perplexity).

    python benchmarks/lm_recipe_vs_torch.py \\
        --train ../shared/data/multi30k/tok/train.lc.norm.tok.en \\
        --valid ../shared/data/multi30k/tok/val.lc.norm.tok.en
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import Tensor, nn

from common import print_table, write_json
from rnnkit.checkpoint import read_metrics_log
from rnnkit.tasks import train_run

RECIPE = Path(__file__).parents[1] / "recipes" / "zaremba-small.yaml"


def word_stream(path: Path, vocab: dict[str, int]) -> Tensor:
    """The ids of ``path``'s whitespace tokens, ``<eos>`` after each line; unseen -> ``<unk>``."""
    ids = []
    for line in path.read_text(encoding="utf-8").splitlines():
        ids += [vocab.get(word, vocab["<unk>"]) for word in line.split()] + [vocab["<eos>"]]
    return torch.tensor(ids)


def columns(stream: Tensor, batch_size: int) -> Tensor:
    """``(T, batch_size)``: the stream cut into ``batch_size`` contiguous columns."""
    length = stream.numel() // batch_size
    return stream[: length * batch_size].view(batch_size, length).t().contiguous()


class PlainLM(nn.Module):
    def __init__(self, vocab_size: int, model: dict[str, Any]) -> None:
        super().__init__()
        size = model["hidden_size"]
        self.embedding = nn.Embedding(vocab_size, model["embedding_dim"])
        self.dropout = nn.Dropout(model["dropout"])
        self.lstm = nn.LSTM(model["embedding_dim"], size, model["num_layers"],
                            dropout=model["dropout"])  # fmt: skip
        self.output = nn.Linear(size, vocab_size)
        r = model["init_range"]
        chosen = (
            self.parameters()
            if model["init"] == "uniform"
            else [self.embedding.weight, self.output.weight]
        )
        for weight in chosen:
            nn.init.uniform_(weight, -r, r)
        if model["init"] != "uniform":
            nn.init.zeros_(self.output.bias)

    def forward(self, x: Tensor, state: Any) -> tuple[Tensor, Any]:
        hidden, state = self.lstm(self.dropout(self.embedding(x)), state)
        return self.output(self.dropout(hidden)), state


def plain_loop(recipe: dict[str, Any], train: Path, valid: Path, seed: int) -> list[float]:
    """Validation perplexity after each epoch of the plain PyTorch loop."""
    torch.manual_seed(seed)
    words: dict[str, int] = {"<unk>": 0, "<eos>": 1}
    for line in train.read_text(encoding="utf-8").splitlines():
        for word in line.split():
            words.setdefault(word, len(words))
    t = recipe["train"]
    train_data, valid_data = (
        columns(word_stream(p, words), t["batch_size"]) for p in (train, valid)
    )
    model = PlainLM(len(words), recipe["model"])
    optimiser = torch.optim.SGD(model.parameters(), lr=t["lr"])
    loss_of = nn.CrossEntropyLoss()
    curve = []
    for epoch in range(t["epochs"]):
        start = t.get("lr_decay_start", t.get("lr_step_size", 1))
        decays = 0 if epoch < start else 1 + (epoch - start) // t.get("lr_step_size", 1)
        for group in optimiser.param_groups:
            group["lr"] = t["lr"] * t.get("lr_gamma", 0.5) ** decays
        model.train()
        state = None
        for i in range(0, train_data.shape[0] - 1, t["bptt"]):
            x, y = train_data[i : i + t["bptt"]], train_data[i + 1 : i + 1 + t["bptt"]]
            x = x[: y.shape[0]]
            state = None if state is None else tuple(s.detach() for s in state)
            logits, state = model(x, state)
            loss = loss_of(logits.flatten(0, 1), y.flatten())
            optimiser.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), t["clip_norm"])
            optimiser.step()
        curve.append(math.exp(evaluate(model, valid_data, t["bptt"])))
        print(f"plain torch  epoch {epoch + 1}  valid ppl {curve[-1]:.2f}", flush=True)
    return curve


@torch.no_grad()
def evaluate(model: PlainLM, data: Tensor, bptt: int) -> float:
    """The mean negative log-likelihood per token of the column stream ``data``."""
    model.eval()
    total, count, state = 0.0, 0, None
    for i in range(0, data.shape[0] - 1, bptt):
        x, y = data[i : i + bptt], data[i + 1 : i + 1 + bptt]
        logits, state = model(x[: y.shape[0]], state)
        total += nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum")
        count += y.numel()
    return float(total) / count


def rnnkit_run(
    recipe: Path, train: Path, valid: Path, out: Path, epochs: int | None
) -> list[float]:
    """Validation perplexity per word after each epoch of ``rnnkit train lm``."""
    overrides = [] if epochs is None else [f"train.epochs={epochs}"]
    train_run("lm", [str(train)], out, valid=[str(valid)], config=recipe, overrides=overrides,
              live=False)  # fmt: skip
    by_epoch = {r["epoch"]: r["valid_word_perplexity"] for r in read_metrics_log(out)
                if "valid_word_perplexity" in r and r["epoch"] % 1 == 0}  # fmt: skip
    return [by_epoch[epoch] for epoch in sorted(by_epoch)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--valid", type=Path, required=True)
    parser.add_argument("--recipe", type=Path, default=RECIPE)
    parser.add_argument("--out", type=Path, default=Path("runs/lm_recipe_vs_torch"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, help="train both this many epochs, not the recipe's")
    parser.add_argument("--json", help="results file (default results/lm_recipe_vs_torch.json)")
    args = parser.parse_args()
    recipe = yaml.safe_load(args.recipe.read_text(encoding="utf-8"))
    if args.epochs is not None:
        recipe["train"]["epochs"] = args.epochs
    torch.set_num_threads(recipe["train"].get("threads") or torch.get_num_threads())
    started = time.perf_counter()
    ours = rnnkit_run(args.recipe, args.train, args.valid, args.out, args.epochs)
    ours_minutes = (time.perf_counter() - started) / 60
    started = time.perf_counter()
    plain = plain_loop(recipe, args.train, args.valid, args.seed)
    plain_minutes = (time.perf_counter() - started) / 60
    rows = [[epoch + 1, a, b, a / b] for epoch, (a, b) in enumerate(zip(ours, plain, strict=True))]
    print_table(f"{args.recipe.stem}: validation perplexity per word",
                ["epoch", "rnnkit", "plain torch", "rnnkit / plain"], rows)  # fmt: skip
    print(f"minutes: rnnkit {ours_minutes:.1f}, plain torch {plain_minutes:.1f}")
    payload = {
        "recipe": args.recipe.name, "train": str(args.train), "valid": str(args.valid),
        "rnnkit": ours, "plain_torch": plain,
        "minutes": {"rnnkit": ours_minutes, "plain_torch": plain_minutes},
    }  # fmt: skip
    print("wrote", write_json("lm_recipe_vs_torch", payload, args.json))


if __name__ == "__main__":
    main()
