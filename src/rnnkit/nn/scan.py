"""Parallel (log-space) scan for minGRU / minLSTM (Feng et al. 2024, "Were RNNs All We Needed?").

Both cells are linear recurrences whose coefficients depend on the input only,

    h_t = a_t ⊙ h_{t-1} + b_t,        a_t, b_t > 0,

so the whole sequence can be computed at once instead of step by step. Unrolled,

    h_t = A_t ⊙ h_0 + Σ_{s<=t} (A_t / A_s) ⊙ b_s,        A_t = Π_{r<=t} a_r,

and in log space, with ``a*_t = Σ_{r<=t} log a_r`` (a cumulative sum),

    log(h_t - A_t ⊙ h_0) = a*_t + logcumsumexp_{s<=t}(log b_s - a*_s),

which is exact and numerically stable (Heinsen 2023, "Efficient Parallelization of a
Ubiquitous Sequential Computation"). ``h_0`` enters linearly, so it may take any sign. The
positive activation of the candidate, ``pos`` (`positive_activation`), keeps ``log b``
defined:

    pos(x) = x + 1/2  (x >= 0),     pos(x) = σ(x)  (x < 0).

`parallel_scan` picks the algorithm for the device. On a GPU it is the log-space scan above:
every step in parallel. A CPU has few cores to spread T steps over, and ``logcumsumexp``
costs a logarithm and an exponential per element (forward and backward), so there the chunked
scan (`chunked_linear_scan`) is used: with chunks of ``C ≈ √T`` steps it runs ``C`` steps
inside every chunk at once, then ``T / C`` steps across the chunk ends — about ``2√T``
vectorised steps in plain arithmetic. As every factor is ``a_t ∈ (0, 1]``, nothing overflows,
and it is more accurate than the log-space form in float32.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def positive_activation(x: Tensor) -> Tensor:
    """``pos(x)``, the activation of minGRU's / minLSTM's candidate: continuous, increasing,
    > 0 (see the module docstring)."""
    return torch.where(x >= 0, x.clamp(min=0) + 0.5, torch.sigmoid(x.clamp(max=0)))


def log_positive_activation(x: Tensor) -> Tensor:
    """``log pos(x)``, computed without forming ``pos(x)`` for negative ``x``."""
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


def chunked_linear_scan(log_a: Tensor, log_b: Tensor, h0: Tensor) -> Tensor:
    """The same as `log_linear_scan`, in about ``2√T`` sequential steps (module docstring)."""
    steps = log_a.shape[0]
    chunk = max(1, math.isqrt(steps))
    pad = -steps % chunk
    a, b = log_a.exp(), log_b.exp()  # (T, N, H)
    if pad:  # a = 1, b = 0 carries the state through the padding unchanged
        a = torch.cat([a, a.new_ones(pad, *a.shape[1:])])
        b = torch.cat([b, b.new_zeros(pad, *b.shape[1:])])
    a = a.view(-1, chunk, *a.shape[1:])  # (K, C, N, H)
    b = b.view(-1, chunk, *b.shape[1:])
    # within every chunk at once, from a zero state: local_i = a_i ⊙ local_{i-1} + b_i, and
    # decay_i = a_1 ⊙ ... ⊙ a_i, what the state before the chunk is multiplied by
    local, decay = [], []
    h, d = torch.zeros_like(b[:, 0]), torch.ones_like(a[:, 0])  # (K, N, H)
    for a_i, b_i in zip(a.unbind(1), b.unbind(1), strict=True):  # unbind: one backward node
        h, d = torch.addcmul(b_i, a_i, h), d * a_i
        local.append(h)
        decay.append(d)
    # across the chunk ends: the state entering each chunk
    entering, state = [], h0
    for local_end, decay_end in zip(local[-1].unbind(0), decay[-1].unbind(0), strict=True):
        entering.append(state)
        state = torch.addcmul(local_end, decay_end, state)
    h = torch.addcmul(torch.stack(local, 1), torch.stack(decay, 1), torch.stack(entering)[:, None])
    return h.flatten(0, 1)[:steps]  # (T, N, H)


def parallel_scan(log_a: Tensor, log_b: Tensor, h0: Tensor) -> Tensor:
    """All states of ``h_t = a_t ⊙ h_{t-1} + b_t``: the log-space scan on a GPU, the chunked
    scan on a CPU (see the module docstring)."""
    if log_a.is_cuda:
        return log_linear_scan(log_a, log_b, h0)
    return chunked_linear_scan(log_a, log_b, h0)


def min_gru_coefficients(x_proj: Tensor) -> tuple[Tensor, Tensor]:
    """``(log a, log b)`` of minGRU from its input projection ``(..., 2H)`` = ``[k_z, k_h]``.

    ``z = σ(k_z)``, ``a = 1 - z``, ``b = z ⊙ pos(k_h)``; ``log σ(k) = -softplus(-k)``.
    """
    k_z, k_h = x_proj.chunk(2, dim=-1)
    return -F.softplus(k_z), -F.softplus(-k_z) + log_positive_activation(k_h)


def min_lstm_coefficients(x_proj: Tensor) -> tuple[Tensor, Tensor]:
    """``(log a, log b)`` of minLSTM from its input projection ``(..., 3H)`` = ``[k_f, k_i, k_h]``.

    ``f' = f / (f + i)`` and ``i' = i / (f + i)`` with ``f = σ(k_f)``, ``i = σ(k_i)``, so
    ``log f' = -softplus(log i - log f)`` and ``log i' = -softplus(log f - log i)``.
    """
    k_f, k_i, k_h = x_proj.chunk(3, dim=-1)
    log_f, log_i = -F.softplus(-k_f), -F.softplus(-k_i)
    return -F.softplus(log_i - log_f), -F.softplus(log_f - log_i) + log_positive_activation(k_h)
