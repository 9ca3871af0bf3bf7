"""The language model's export: a sequence graph for scoring a padded batch (and carrying the
state between chunks), and a single-step graph for streaming generation.

- ``lm`` (``model.onnx``): ``(tokens (N, T), lengths (N,), h, c) -> (log_probs (N, T, V),
  h_out, c_out)``; ``log_probs[:, t]`` is the distribution of the token after ``tokens[:, t]``
  and the state out is each row's after its last real token.
- ``step`` (``model.step.onnx``): ``(token (N,), h, c) -> (log_probs (N, V), h_out, c_out)``,
  exactly `LanguageModel.step`: the tokens the model never emits (padding) have ``-inf``.

A GRU or RNN model has ``h`` only. The zero state starts a text; a newline prompt (the
end-of-sentence id) is how `rnnkit generate` starts one without a prompt.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.export.facts import tokenizer_facts
from rnnkit.export.graph import BATCH, TIME, ExportPlan, Graph, Port, random_lengths, random_tokens
from rnnkit.export.state_ports import StatePorts, as_state, as_tuple
from rnnkit.models.language_model import LanguageModel
from rnnkit.tasks.lm import LanguageModelling
from rnnkit.tasks.runs import LoadedRun


class SequenceGraph(nn.Module):
    """`LanguageModel.forward` over a padded batch, with log-probabilities out."""

    def __init__(self, model: LanguageModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: Tensor, lengths: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        logits, final = self.model(tokens, as_state(state), lengths=lengths)[:2]
        return F.log_softmax(logits.float(), dim=-1), *as_tuple(final)


class StepGraph(nn.Module):
    """`LanguageModel.step`: one token per row in, the next token's log-probabilities out."""

    def __init__(self, model: LanguageModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, token: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        log_probs, final = self.model.step(token, as_state(state))
        return log_probs, *as_tuple(final)


def plan(run: LoadedRun) -> ExportPlan:
    """The sequence and step graphs of an lm run."""
    task = cast(LanguageModelling, run.task)
    model = cast(LanguageModel, run.model)
    vocab_size = task.tokenizer.vocab_size
    state = StatePorts(model.init_state)
    state_in = state.ports("the state before the first token: zeros to start a text")
    state_out = state.ports("the state after each row's last token", "_out")

    def sequence_example(batch: int, length: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        lengths = random_lengths(batch, length, generator)
        tokens = random_tokens(batch, length, vocab_size, generator, lengths)
        return tokens, lengths, *state.example(batch, generator)

    def step_example(batch: int, _length: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        token = torch.randint(1, vocab_size, (batch,), generator=generator)
        return token, *state.example(batch, generator)

    sequence = Graph(
        name="lm",
        doc="score a padded batch of token ids: the log-probabilities of every next token",
        module=SequenceGraph(model),
        inputs=(
            Port("tokens", (BATCH, TIME), "int64", "token ids, 0 past each row's length"),
            Port("lengths", (BATCH,), "int64", "the number of tokens of each row, >= 1"),
            *state_in,
        ),
        outputs=(
            Port("log_probs", (BATCH, TIME, vocab_size), "float32", "log p(next token)"),
            *state_out,
        ),
        example=sequence_example,
    )
    step = Graph(
        name="step",
        doc="one token per row -> the next token's log-probabilities (streaming generation)",
        module=StepGraph(model),
        inputs=(Port("token", (BATCH,), "int64", "the last token of each row"), *state_in),
        outputs=(
            Port("log_probs", (BATCH, vocab_size), "float32", "log p(next token); -inf: never"),
            *state_out,
        ),
        example=step_example,
    )
    return ExportPlan([sequence, step], {"tokenizer": tokenizer_facts(task.tokenizer)})
