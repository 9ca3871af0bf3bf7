"""Regularisers of recurrent language models, after Merity et al. 2018, "Regularizing and
Optimizing LSTM Language Models" (AWD-LSTM). Each acts in training only.

- `embedding_dropout` — drop whole words: row ``v`` of the embedding matrix is zeroed with
  probability ``p`` (one draw per word type per batch, so every occurrence of a dropped word in
  the batch loses its vector), the kept rows scaled by ``1 / (1 - p)`` (Gal & Ghahramani 2016).
- `LockedDropout` — variational dropout: one mask per sequence, the same at every time step,
  ``y_t = x_t ⊙ m / (1 - p)``, ``m ~ Bernoulli(1 - p)`` of shape (N, 1, D).
- `activation_penalty` — activation regularisation (AR), ``α · mean(m ⊙ h_t)²`` on the
  dropped-out outputs of the last layer, and temporal activation regularisation (TAR),
  ``β · mean(h_t − h_{t−1})²`` on its outputs before dropout.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


def embedding_dropout(embedding: nn.Embedding, tokens: Tensor, p: float, training: bool) -> Tensor:
    """The embeddings ``(N, L, E)`` of ``tokens`` ``(N, L)``, whole word types dropped with
    probability ``p`` when ``training``."""
    if not training or p == 0.0:
        return embedding(tokens)
    weight = embedding.weight
    keep = weight.new_empty((weight.shape[0], 1)).bernoulli_(1.0 - p) / (1.0 - p)  # (V, 1)
    return F.embedding(tokens, weight * keep, embedding.padding_idx)


class LockedDropout(nn.Module):
    """Dropout with one mask per sequence, shared by all its time steps.

    Shapes: ``(N, L, D) -> (N, L, D)``, batch first.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"locked dropout must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        mask = x.new_empty((x.shape[0], 1, x.shape[2])).bernoulli_(1.0 - self.p)  # (N, 1, D)
        return x * mask / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def activation_penalty(dropped: Tensor, hidden: Tensor, alpha: float, beta: float) -> Tensor:
    """``α · mean(dropped²) + β · mean((hidden_t − hidden_{t−1})²)`` for the last layer's
    outputs ``(N, L, H)`` after (``dropped``) and before (``hidden``) dropout."""
    penalty = alpha * dropped.float().pow(2).mean()
    if hidden.shape[1] > 1:
        penalty = penalty + beta * (hidden[:, 1:] - hidden[:, :-1]).float().pow(2).mean()
    return penalty
