"""Attention of a decoder over the encoder's outputs: the score functions of Bahdanau et al.
2015 (additive) and Luong et al. 2015 (dot, general), with source padding masked out.

For a query ``q`` (the decoder's state, size ``Q``) and memory ``m_1 .. m_S`` (the encoder's
outputs, size ``M``)::

    bahdanau:  score(q, m_s) = v^T tanh(W_q q + W_m m_s)        (W_q: A x Q, W_m: A x M, v: A)
    dot:       score(q, m_s) = q^T m_s                            (needs Q == M)
    general:   score(q, m_s) = q^T W m_s                          (W: Q x M)

    a_s = softmax_s(score(q, m_s)) over the real positions s (padding gets exactly 0)
    context = sum_s a_s m_s

The part of each score that depends on the memory alone (``W_m m_s``, ``W m_s``) is computed
once per source batch (`keys`), not once per decoder step.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

AttentionKind = Literal["bahdanau", "dot", "general"]
ATTENTION_KINDS: tuple[str, ...] = ("bahdanau", "dot", "general")


class Attention(nn.Module):
    """Scores a query against every memory position and returns the weighted context.

    Args:
        kind: ``"bahdanau"``, ``"dot"`` or ``"general"`` (see the module docstring).
        query_size: ``Q``. memory_size: ``M``.
        attention_size: ``A``, the hidden size of the additive score (bahdanau only;
            default ``Q``).

    Shapes: ``keys(memory (N, S, M)) -> (N, S, K)``; ``forward(query (N, Q), memory (N, S, M),
    keys (N, S, K), mask (N, S) bool, True at real positions) -> (context (N, M), weights
    (N, S))``. ``query`` may also be ``(N, T, Q)`` (every decoder step at once), giving
    ``(N, T, M)`` and ``(N, T, S)``.
    """

    def __init__(
        self,
        kind: str,
        query_size: int,
        memory_size: int,
        attention_size: int | None = None,
    ) -> None:
        super().__init__()
        if kind not in ATTENTION_KINDS:
            raise ValueError(f"attention must be one of {ATTENTION_KINDS}, not {kind!r}")
        if kind == "dot" and query_size != memory_size:
            raise ValueError(
                f"dot attention needs query and memory of one size, got {query_size} and "
                f"{memory_size}; use 'general' or 'bahdanau'"
            )
        self.kind = kind
        size = attention_size or query_size
        self.memory_projection: nn.Linear | None = None
        self.query_projection: nn.Linear | None = None
        self.v: nn.Linear | None = None
        if kind == "bahdanau":
            self.memory_projection = nn.Linear(memory_size, size, bias=False)
            self.query_projection = nn.Linear(query_size, size)
            self.v = nn.Linear(size, 1, bias=False)
        elif kind == "general":
            self.memory_projection = nn.Linear(memory_size, query_size, bias=False)

    def keys(self, memory: Tensor) -> Tensor:
        """The memory's share of every score, computed once per source batch: ``(N, S, K)``."""
        return memory if self.memory_projection is None else self.memory_projection(memory)

    def forward(
        self, query: Tensor, memory: Tensor, keys: Tensor, mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        """``(context, weights)`` for ``query`` (one step ``(N, Q)`` or all steps ``(N, T, Q)``)."""
        one_step = query.dim() == 2
        if one_step:
            query = query.unsqueeze(1)  # (N, 1, Q)
        scores = self.scores(query, keys)  # (N, T, S)
        scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
        weights = torch.softmax(scores.float(), dim=-1).to(memory.dtype)  # (N, T, S)
        context = weights @ memory  # (N, T, M)
        if one_step:
            return context.squeeze(1), weights.squeeze(1)
        return context, weights

    def scores(self, query: Tensor, keys: Tensor) -> Tensor:
        """Unnormalised ``score(q_t, m_s)``: ``(N, T, S)`` for ``query`` ``(N, T, Q)``."""
        if self.v is None:  # dot, general: q^T k_s
            return query @ keys.transpose(1, 2)
        assert self.query_projection is not None
        hidden = torch.tanh(self.query_projection(query).unsqueeze(2) + keys.unsqueeze(1))
        return self.v(hidden).squeeze(-1)  # (N, T, S, A) -> (N, T, S)
