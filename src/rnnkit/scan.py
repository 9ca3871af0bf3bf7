"""Parallel (log-space) scan for minGRU / minLSTM (Feng et al. 2024, "Were RNNs All We Needed?").

Both cells are linear recurrences whose coefficients depend on the input only,

    h_t = a_t ⊙ h_{t-1} + b_t,        a_t, b_t > 0,

so the whole sequence can be computed at once instead of step by step. Unrolled,

    h_t = A_t ⊙ h_0 + Σ_{s<=t} (A_t / A_s) ⊙ b_s,        A_t = Π_{r<=t} a_r,

and in log space, with ``a*_t = Σ_{r<=t} log a_r`` (a cumulative sum),

    log(h_t - A_t ⊙ h_0) = a*_t + logcumsumexp_{s<=t}(log b_s - a*_s),

which is exact and numerically stable (Heinsen 2023). ``h_0`` enters linearly, so it may take
any sign. The positive candidate ``g`` keeps ``log b`` defined:

    g(x) = x + 1/2  (x >= 0),     g(x) = σ(x)  (x < 0).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def g(x: Tensor) -> Tensor:
    """The positive activation of minGRU / minLSTM: continuous, increasing, > 0."""
    return torch.where(x >= 0, x.clamp(min=0) + 0.5, torch.sigmoid(x.clamp(max=0)))


def log_g(x: Tensor) -> Tensor:
    """``log g(x)``, computed without forming ``g(x)`` for negative ``x``."""
    return torch.where(x >= 0, torch.log(x.clamp(min=0) + 0.5), -F.softplus(-x.clamp(max=0)))


def log_linear_scan(log_a: Tensor, log_b: Tensor, h0: Tensor) -> Tensor:
    """All states of ``h_t = a_t ⊙ h_{t-1} + b_t`` from log coefficients.

    Args:
        log_a: ``(T, N, H)``, ``log a_t``.
        log_b: ``(T, N, H)``, ``log b_t``.
        h0: ``(N, H)``, the initial state (any sign).

    Returns:
        ``(T, N, H)``: ``h_1 .. h_T``.
    """
    a_star = torch.cumsum(log_a, dim=0)  # (T, N, H)  log A_t
    log_h = a_star + torch.logcumsumexp(log_b - a_star, dim=0)  # (T, N, H)
    return torch.exp(log_h) + torch.exp(a_star) * h0


def min_gru_coefficients(x_proj: Tensor) -> tuple[Tensor, Tensor]:
    """``(log a, log b)`` of minGRU from its input projection ``(..., 2H)`` = ``[k_z, k_h]``.

    ``z = σ(k_z)``, ``a = 1 - z``, ``b = z ⊙ g(k_h)``; ``log σ(k) = -softplus(-k)``.
    """
    k_z, k_h = x_proj.chunk(2, dim=-1)
    return -F.softplus(k_z), -F.softplus(-k_z) + log_g(k_h)


def min_lstm_coefficients(x_proj: Tensor) -> tuple[Tensor, Tensor]:
    """``(log a, log b)`` of minLSTM from its input projection ``(..., 3H)`` = ``[k_f, k_i, k_h]``.

    ``f' = f / (f + i)`` and ``i' = i / (f + i)`` with ``f = σ(k_f)``, ``i = σ(k_i)``, so
    ``log f' = -softplus(log i - log f)`` and ``log i' = -softplus(log f - log i)``.
    """
    k_f, k_i, k_h = x_proj.chunk(3, dim=-1)
    log_f, log_i = -F.softplus(-k_f), -F.softplus(-k_i)
    return -F.softplus(log_i - log_f), -F.softplus(log_f - log_i) + log_g(k_h)
