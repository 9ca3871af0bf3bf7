"""Pooling a sequence of recurrent outputs into one vector, padding excluded.

With outputs ``o_1 .. o_T`` ``(N, T, F)`` and a mask of the real steps (``t < length``):

* ``last`` — the final state of each direction: the forward direction's state after the last
  real step and the backward direction's after step 1 (the layer's ``h_n``), concatenated;
* ``mean`` — ``Σ_t o_t / length`` over the real steps;
* ``max`` — the elementwise maximum over the real steps (Conneau et al. 2017, "Supervised
  Learning of Universal Sentence Representations", found it the best of these for a BiLSTM);
* ``attention`` — ``Σ_t a_t o_t`` with ``a = softmax_t(v^T tanh(W o_t + b))`` over the real
  steps (additive attention pooling, as in Yang et al. 2016, "Hierarchical Attention Networks").

Padded steps never reach the result: they are excluded by selection, never by multiplying a mask
into them, so even NaN there would not leak.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

POOLINGS = ("last", "mean", "max", "attention")


def step_mask(lengths: Tensor, steps: int) -> Tensor:
    """``(N, T)`` bool, True at the real steps ``t < lengths[n]``."""
    return torch.arange(steps, device=lengths.device) < lengths.unsqueeze(1)


def mean_pool(outputs: Tensor, mask: Tensor) -> Tensor:
    """``(N, F)``: the mean of ``outputs`` ``(N, T, F)`` over the steps where ``mask``."""
    kept = torch.where(mask.unsqueeze(-1), outputs, 0.0)
    return kept.sum(1) / mask.sum(1, keepdim=True).to(outputs.dtype)


def max_pool(outputs: Tensor, mask: Tensor) -> Tensor:
    """``(N, F)``: the maximum of ``outputs`` ``(N, T, F)`` over the steps where ``mask``."""
    return torch.where(mask.unsqueeze(-1), outputs, -torch.inf).amax(1)


def last_states(final_h: Tensor, num_directions: int) -> Tensor:
    """``(N, D*H)``: the top layer's final state of each direction, from ``h_n``
    ``(D * num_layers, N, H)`` as rnnkit's (and torch's) layers return it."""
    top = final_h[-num_directions:]  # (D, N, H)
    return top.transpose(0, 1).flatten(1)


class AttentionPool(nn.Module):
    """Additive attention pooling: ``Σ_t softmax_t(v^T tanh(W o_t + b)) o_t`` over real steps.

    Args:
        features: ``F``, the size of each output ``o_t``.
        attention_size: the size of ``W o_t``. Default ``F``.

    Shapes: ``forward(outputs (N, T, F), mask (N, T)) -> (pooled (N, F), weights (N, T))``;
    the weights are 0 at padded steps and sum to 1 over the real ones.
    """

    def __init__(self, features: int, attention_size: int | None = None) -> None:
        super().__init__()
        self.project = nn.Linear(features, attention_size or features)
        self.score = nn.Linear(attention_size or features, 1, bias=False)

    def forward(self, outputs: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        scores = self.score(torch.tanh(self.project(outputs))).squeeze(-1)  # (N, T)
        weights = torch.softmax(torch.where(mask, scores, -torch.inf), dim=1)
        pooled = torch.where(mask.unsqueeze(-1), weights.unsqueeze(-1) * outputs, 0.0).sum(1)
        return pooled, weights
