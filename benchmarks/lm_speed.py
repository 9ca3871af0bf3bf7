"""Language-model speed: rnnkit's trainer against a plain PyTorch loop, and step-wise generation
against re-running the prefix, in the same run.

Training: the same model (embedding -> 2-layer LSTM -> linear), the same stream batches of Tiny
Shakespeare (or any text), the same optimizer and clipping; rnnkit's `Trainer` (rnnkit.LSTM
layers, carried state, checkpoints at the end) against a hand-written loop around
torch.nn.LSTM, in alternating rounds. Reported: training tokens per second of each (median
over rounds), and the median of the rounds' ratios.

Generation: tokens per second at batch 1 when each new token costs one `step()`, against the
plain torch model stepped the same way (what the step-wise interface itself costs) and against
re-running the whole prefix through the model for every token.

    python benchmarks/lm_speed.py --data ../shared/data/tinyshakespeare/input.txt
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common import print_table, write_json
from rnnkit.checkpoint import read_metrics_log
from rnnkit.data.batching import StreamBatches, split_train_valid
from rnnkit.data.tokenizers import CharTokenizer
from rnnkit.models.language_model import LanguageModel
from rnnkit.tasks.runs import train_run

VALID_FRACTION = 0.01


class PlainLM(nn.Module):
    """The reference: embedding -> torch.nn.LSTM -> dropout -> linear, written plainly."""

    def __init__(self, vocab: int, embedding: int, hidden: int, layers: int, dropout: float):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embedding)
        self.lstm = nn.LSTM(embedding, hidden, layers, batch_first=True, dropout=dropout)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden, vocab)

    def forward(self, tokens, state=None):
        hidden, state = self.lstm(self.dropout(self.embedding(tokens)), state)
        return self.output(self.dropout(hidden)), state


def plain_loop(ids: list[int], vocab: int, args: argparse.Namespace) -> float:
    """Tokens per second of the plain PyTorch training loop over ``args.steps`` batches."""
    torch.manual_seed(0)
    model = PlainLM(vocab, args.embedding, args.hidden, args.layers, args.dropout)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    batches = StreamBatches(ids, args.batch, args.bptt)
    state, tokens, seconds = None, 0, 0.0
    for step, (inputs, targets) in enumerate(batches):
        if step == args.steps:
            break
        start = time.monotonic()
        logits, state = model(inputs, state)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        state = tuple(s.detach() for s in state)
        seconds += time.monotonic() - start
        tokens += targets.numel()
    return tokens / seconds


def rnnkit_trainer(data: Path, args: argparse.Namespace) -> float:
    """Tokens per second of ``rnnkit train lm`` over the same batches (its own step timer)."""
    settings = [
        "model.cell=lstm",
        f"model.embedding_dim={args.embedding}",
        f"model.hidden_size={args.hidden}",
        f"model.num_layers={args.layers}",
        f"model.dropout={args.dropout}",
        "model.forget_bias=null",
        f"train.batch_size={args.batch}",
        f"train.bptt={args.bptt}",
        f"train.max_steps={args.steps}",
        f"train.eval_every={args.steps}",
        f"data.valid_fraction={VALID_FRACTION}",
    ]
    with tempfile.TemporaryDirectory() as run_dir:
        train_run("lm", [str(data)], Path(run_dir) / "run", overrides=settings, live=False)
        return float(read_metrics_log(Path(run_dir) / "run")[-1]["tokens_per_s"])


def greedy_speed(
    step: Callable[[Tensor, Any], tuple[Tensor, Any]], state: Any, count: int
) -> float:
    """Tokens per second of greedy decoding at batch 1, one ``step(token, state)`` per token."""
    token = torch.zeros(1, dtype=torch.long)
    start = time.monotonic()
    for _ in range(count):
        scores, state = step(token, state)
        token = scores.argmax(-1)
    return count / (time.monotonic() - start)


def generation(vocab: int, args: argparse.Namespace) -> tuple[float, float, float]:
    """Tokens per second generating ``args.generate`` tokens at batch 1: `LanguageModel.step()`,
    the plain torch model stepped one token at a time, and re-running the prefix."""
    torch.manual_seed(0)
    model = LanguageModel(
        vocab, embedding_dim=args.embedding, hidden_size=args.hidden, num_layers=args.layers
    ).eval()
    plain = PlainLM(vocab, args.embedding, args.hidden, args.layers, args.dropout).eval()

    def plain_step(token: Tensor, state: Any) -> tuple[Tensor, Any]:
        logits, state = plain(token.unsqueeze(1), state)
        return logits[:, -1], state

    stepwise, plain_stepwise = 0.0, 0.0
    with torch.no_grad():
        for _ in range(args.rounds):  # alternate, keep the best of each
            plain_stepwise = max(plain_stepwise, greedy_speed(plain_step, None, args.generate))
            stepwise = max(stepwise, greedy_speed(model.step, model.init_state(1), args.generate))
        start = time.monotonic()
        prefix = torch.zeros(1, 1, dtype=torch.long)
        for _ in range(args.generate):
            logits, _ = model(prefix)
            prefix = torch.cat([prefix, logits[:, -1:].argmax(-1)], dim=1)
        rerun = args.generate / (time.monotonic() - start)
    return stepwise, plain_stepwise, rerun


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--embedding", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--bptt", type=int, default=100)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=5, help="alternating runs of each")
    parser.add_argument("--generate", type=int, default=500, help="tokens to generate")
    parser.add_argument("--json", help="where to write the results (default results/lm_speed.json)")
    args = parser.parse_args()
    text = args.data.read_text(encoding="utf-8")
    tokenizer = CharTokenizer.train(text)
    train_text, _ = split_train_valid(text, VALID_FRACTION)  # the trainer's batches
    ids = tokenizer.encode(train_text)
    rounds = []  # (rnnkit, plain) tokens/s, the two run back to back in each round
    for _ in range(args.rounds):
        theirs = plain_loop(ids, tokenizer.vocab_size, args)
        rounds.append((rnnkit_trainer(args.data, args), theirs))
        print(f"round {len(rounds)}: rnnkit {rounds[-1][0]:,.0f}, plain {theirs:,.0f} tokens/s")
    ratios = sorted(ours / theirs for ours, theirs in rounds)
    train_ratio = statistics.median(ratios)  # a slow minute of the machine hits one round
    ours, theirs = (statistics.median(side) for side in zip(*rounds, strict=True))
    stepwise, plain_stepwise, rerun = generation(tokenizer.vocab_size, args)
    rows = [
        [
            "training: rnnkit train lm",
            ours,
            "plain loop around torch.nn.LSTM",
            theirs,
            train_ratio,
        ],
        [
            f"generation, batch 1, {args.generate} tokens: step()",
            stepwise,
            "plain torch.nn.LSTM model, one token at a time",
            plain_stepwise,
            stepwise / plain_stepwise,
        ],
        [
            f"generation, batch 1, {args.generate} tokens: step()",
            stepwise,
            "re-running the prefix",
            rerun,
            stepwise / rerun,
        ],
    ]
    print_table(
        "language-model speed (tokens/s; ratio > 1: rnnkit faster)",
        ["rnnkit", "tok/s", "reference", "tok/s", "ratio"],
        rows,
    )
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    results = {
        "train_tokens_per_s": ours,
        "plain_loop_tokens_per_s": theirs,
        "train_ratio": train_ratio,
        "train_ratios_by_round": ratios,
        "step_tokens_per_s": stepwise,
        "plain_step_tokens_per_s": plain_stepwise,
        "step_vs_plain_ratio": stepwise / plain_stepwise,
        "rerun_tokens_per_s": rerun,
        "generation_ratio": stepwise / rerun,
    }
    print("wrote", write_json("lm_speed", {"settings": settings, "results": results}, args.json))


if __name__ == "__main__":
    main()
