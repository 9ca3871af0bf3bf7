"""The conditional language model's export: its streaming graphs, one token at a time.

- ``init`` (``model.onnx``, only for a model that starts its state from the condition,
  ``model.condition`` ``init`` or ``both``): ``(conditions (N, F)) -> (h, c)``, the state
  before the first token, `ConditionalLanguageModel.start`. Any other model starts from zeros
  ``(L, N, H)``.
- ``step`` (``model.step.onnx``, or ``model.onnx`` without ``init``): ``(token (N,),
  conditions (N, F), h, c) -> (log_probs (N, V), h_out, c_out)``, exactly
  `ConditionalLanguageModel.step`: the tokens the model never writes have ``-inf``. A model
  that reads the condition only at the start (``init``) takes no ``conditions`` here.

``conditions`` holds one value id per condition field, in the order of the facts'
``conditions`` (field -> its values; a value's id is its index). A GRU or RNN model has ``h``
only. Generating a text, as ``rnnkit generate --greedy`` does: start the state (``init`` or
zeros), feed the begin token and then the prompt's tokens through ``step``, then repeatedly
take the most probable token (or sample one) and feed it back, until the end token or
``max_length`` tokens; the text is the tokenizer's decoding of the new tokens, the end token
left out.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor, nn

from rnnkit.export.facts import tokenizer_facts
from rnnkit.export.graph import BATCH, ExportPlan, Graph, Port
from rnnkit.export.state_ports import StatePorts, as_state, as_tuple
from rnnkit.models.conditional_lm import ConditionalLanguageModel
from rnnkit.tasks.generate import ConditionalGeneration
from rnnkit.tasks.runs import LoadedRun


class InitGraph(nn.Module):
    """`ConditionalLanguageModel.start` from condition value ids: each part of the state is
    ``tanh(W c + b)`` reshaped to ``(L, N, H)``."""

    def __init__(self, model: ConditionalLanguageModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, conditions: Tensor) -> tuple[Tensor, ...]:
        return as_tuple(self.model.start(self.model.encode_conditions(conditions)))


class StepGraph(nn.Module):
    """`ConditionalLanguageModel.step`: ``(token, conditions, *state)``, the condition given
    as value ids at every step, or ``(token, *state)`` for a model that reads the condition
    only at the start (``condition="init"``)."""

    def __init__(self, model: ConditionalLanguageModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, token: Tensor, *tensors: Tensor) -> tuple[Tensor, ...]:
        if self.model.condition == "init":
            c, state = token.new_zeros(0, dtype=torch.float), tensors  # c: never read
        else:
            c, state = self.model.encode_conditions(tensors[0]), tensors[1:]
        log_probs, (final, _) = self.model.step(token, (as_state(state), c))
        return log_probs, *as_tuple(final)


def plan(run: LoadedRun) -> ExportPlan:
    """The init (where the condition starts the state) and step graphs of a generate run."""
    task = cast(ConditionalGeneration, run.task)
    model = cast(ConditionalLanguageModel, run.model)
    vocab_size = task.tokenizer.vocab_size
    sizes = [len(vocab) for vocab in task.values.values()]
    conditioned_start = model.condition != "input"
    conditioned_steps = model.condition != "init"
    state = StatePorts(model.rnn.initial_state)
    start_doc = "the output of init" if conditioned_start else "zeros"
    state_in = state.ports(f"the state after the tokens so far; before the first: {start_doc}")
    state_out = state.ports("the state after the token", "_out")
    conditions = Port(
        "conditions", (BATCH, len(sizes)), "int64", "one value id per condition field, in order"
    )

    def random_conditions(batch: int, generator: torch.Generator) -> Tensor:
        columns = [torch.randint(0, size, (batch, 1), generator=generator) for size in sizes]
        return torch.cat(columns, dim=1)

    def init_example(batch: int, _length: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        return (random_conditions(batch, generator),)

    def step_example(batch: int, _length: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        token = torch.randint(1, vocab_size, (batch,), generator=generator)
        ids = (random_conditions(batch, generator),) if conditioned_steps else ()
        return token, *ids, *state.example(batch, generator)

    init = Graph(
        name="init",
        doc="condition value ids -> the state before the first token",
        module=InitGraph(model),
        inputs=(conditions,),
        outputs=state.ports("the state before the first token"),
        example=init_example,
    )
    step = Graph(
        name="step",
        doc="one token per row and its condition -> the next token's log-probabilities",
        module=StepGraph(model),
        inputs=(
            Port("token", (BATCH,), "int64", "the last token of each row"),
            *([conditions] if conditioned_steps else []),
            *state_in,
        ),
        outputs=(
            Port("log_probs", (BATCH, vocab_size), "float32", "log p(next token); -inf: never"),
            *state_out,
        ),
        example=step_example,
    )
    tokenizer = task.tokenizer
    facts = {
        "conditions": task.categories(),
        "condition_mode": model.condition,
        "initial_state": "init graph" if conditioned_start else "zeros",
        "bos_id": tokenizer.bos_id,
        "eos_id": tokenizer.eos_id,
        "max_length": task.config.data.max_length,
        "decode": (
            "feed bos, then the prompt's tokens, through step; then take the argmax (greedy) or "
            "sample, feed it back, and stop at eos_id (not part of the text) or max_length"
        ),
        "tokenizer": tokenizer_facts(tokenizer),
    }
    return ExportPlan([init, step] if conditioned_start else [step], facts)
