"""`ConditionalLanguageModel`: a language model told what to write — a category (``male``), or
several (``gender=female``, ``language=Russian``) — one-to-many generation.

Each condition field ``f`` has an embedding table; a text's condition vector is their
concatenation ``c = [E_1(v_1); ...; E_F(v_F)]`` of ``F · D`` values. It enters the recurrent
network in one of two ways (``condition``), or both:

* ``"input"`` — beside the token at every step: ``x_t = [E(y_{t-1}); c]`` (the conditioned
  character RNN of the PyTorch name-generation tutorial, and of Karpathy's char-rnn variants);
* ``"init"`` — as the initial state: every part of the state (``h_0`` and, for an LSTM,
  ``c_0``) is ``tanh(W c + b)`` reshaped to ``(num_layers, N, H)``, as image captioners start
  their decoder from the image (Vinyals et al. 2015).

The model implements the step-wise interface of `rnnkit.decode`: ``init_state(batch_size,
conditions)`` gives the conditioned start, ``step`` one token, ``map_state`` selects rows, so
greedy decoding, sampling and beam search serve it unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.models.language_model import LanguageModel
from rnnkit.models.recurrent import build_recurrent

State = tuple[Tensor | tuple[Tensor, ...], Tensor]  # (the recurrent state, c (N, F·D))
CONDITION_MODES = ("input", "init", "both")


class ConditionalLanguageModel(nn.Module):
    """Predicts each next token of a text from the tokens before it and the text's condition.

    Args:
        vocab_size: ``V``.
        condition_sizes: the number of values of each condition field (``F`` fields).
        condition: ``"input"``, ``"init"`` or ``"both"`` (see the module docstring).
        condition_dim: ``D``, the embedding size of each field's values.
        cell, embedding_dim (``E``), hidden_size (``H``), num_layers, dropout, layer_norm,
        forget_bias: the recurrent core, as `rnnkit.models.recurrent.build_recurrent` takes it;
            dropout also acts on the embeddings and before the output layer.
        never_emit: token ids `step` gives probability 0 (padding, the start token).

    Shapes: ``forward(tokens (N, L), conditions (N, F) long) -> logits (N, L, V)``.
    """

    def __init__(
        self,
        vocab_size: int,
        condition_sizes: Sequence[int],
        *,
        condition: str = "input",
        condition_dim: int = 16,
        cell: str = "lstm",
        embedding_dim: int = 64,
        hidden_size: int = 256,
        num_layers: int = 1,
        dropout: float = 0.1,
        layer_norm: bool = False,
        forget_bias: float | None = 1.0,
        never_emit: Sequence[int] = (),
    ) -> None:
        super().__init__()
        if condition not in CONDITION_MODES:
            raise ValueError(f"condition must be one of {CONDITION_MODES}, not {condition!r}")
        self.condition = condition
        self.never_emit = list(never_emit)
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.conditions = nn.ModuleList(
            nn.Embedding(size, condition_dim) for size in condition_sizes
        )
        condition_size = condition_dim * len(condition_sizes)
        by_input = condition_size if condition in ("input", "both") else 0
        self.rnn = build_recurrent(
            cell,
            embedding_dim + by_input,
            hidden_size,
            num_layers=num_layers,
            dropout=dropout,
            layer_norm=layer_norm,
            forget_bias=forget_bias,
        )
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden_size, vocab_size)
        parts = self._zero_state(1) if condition != "input" else ()
        self.initial = nn.ModuleList(
            nn.Linear(condition_size, part.shape[0] * part.shape[2]) for part in parts
        )

    def _zero_state(self, batch_size: int) -> tuple[Tensor, ...]:
        state = self.rnn.initial_state(batch_size)
        return (state,) if isinstance(state, Tensor) else state

    def encode_conditions(self, conditions: Tensor) -> Tensor:
        """The condition vectors ``c`` ``(N, F·D)`` of ``conditions`` ``(N, F)`` (value ids)."""
        return torch.cat(
            [table(conditions[:, f]) for f, table in enumerate(self.conditions)], dim=-1
        )

    def start(self, c: Tensor) -> Tensor | tuple[Tensor, ...]:
        """The recurrent state before the first token: zeros, or ``tanh(W c + b)`` with
        ``condition="init"``; shaped as the layer's ``hx`` (e.g. ``(h_0, c_0)``)."""
        parts = self._zero_state(c.shape[0])  # each (rows, N, size)
        if self.initial:
            parts = tuple(
                torch.tanh(linear(c))
                .view(c.shape[0], *zero.shape[::2])
                .transpose(0, 1)
                .contiguous()
                for linear, zero in zip(self.initial, parts, strict=True)
            )
        return parts[0] if len(parts) == 1 else parts

    def _run(
        self, tokens: Tensor, c: Tensor, state: Tensor | tuple[Tensor, ...]
    ) -> tuple[Tensor, Tensor | tuple[Tensor, ...]]:
        """Logits ``(N, L, V)`` for ``tokens`` ``(N, L)`` from ``state``, and the final state."""
        x = self.dropout(self.embedding(tokens))  # (N, L, E)
        if self.condition != "init":
            x = torch.cat([x, c.unsqueeze(1).expand(-1, x.shape[1], -1)], dim=-1)
        hidden, state = self.rnn(x, state)  # (N, L, H)
        return self.output(self.dropout(hidden)), state

    def forward(self, tokens: Tensor, conditions: Tensor) -> Tensor:
        """Next-token logits ``(N, L, V)`` of ``tokens`` ``(N, L)`` (each text from its start,
        right-padded: the padding comes after every real token, so it changes none of their
        logits) under ``conditions`` ``(N, F)``."""
        c = self.encode_conditions(conditions)
        return self._run(tokens, c, self.start(c))[0]

    # --- the step-wise decoding interface ------------------------------------------------
    def init_state(self, batch_size: int, conditions: Tensor) -> State:
        """The start of ``batch_size`` texts under ``conditions`` ``(batch_size, F)``."""
        if conditions.shape[0] != batch_size:
            raise ValueError(f"{conditions.shape[0]} conditions for {batch_size} rows")
        c = self.encode_conditions(conditions)
        return self.start(c), c

    def step(self, tokens: Tensor, state: State) -> tuple[Tensor, State]:
        """Log-probabilities ``(N, V)`` of the token after ``tokens`` ``(N,)``, and the state."""
        recurrent, c = state
        logits, recurrent = self._run(tokens.unsqueeze(1), c, recurrent)
        log_probs = F.log_softmax(logits.squeeze(1).float(), dim=-1)
        if self.never_emit:
            log_probs[:, self.never_emit] = float("-inf")
        return log_probs, (recurrent, c)

    @staticmethod
    def map_state(state: State, index: Tensor) -> State:
        """The state of the batch rows ``index`` (to select, reorder or repeat them)."""
        recurrent, c = state
        return LanguageModel.map_state(recurrent, index), c.index_select(0, index)

    @staticmethod
    def cat_state(states: Sequence[State]) -> State:
        """The states of several batches as one, their rows in order (the inverse of splitting
        rows off with `map_state`), e.g. to decode texts started apart in one batch."""
        recurrent = LanguageModel.cat_state([part for part, _ in states])
        return recurrent, torch.cat([c for _, c in states])
