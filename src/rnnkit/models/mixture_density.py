"""Sketch-RNN's output distribution (Ha & Eck 2017, after Graves 2013): a mixture of ``M``
bivariate normals over the next offset ``(Δx, Δy)`` and a categorical over the three pen
states.

From a decoder output ``y`` of ``6M + 3`` numbers per step (`mixture_from_output`)::

    [π̂ (M), μx (M), μy (M), σ̂x (M), σ̂y (M), ρ̂ (M), q̂ (3)]

    Π  = softmax(π̂)                     mixture weights
    σx = exp(σ̂x),  σy = exp(σ̂y)         standard deviations
    ρ  = tanh(ρ̂)                         correlations, in (-1, 1)
    q  = softmax(q̂)                      pen states (p1 down, p2 lifted, p3 end)

    p(Δx, Δy) = Σ_j Π_j N(Δx, Δy | μx_j, μy_j, σx_j, σy_j, ρ_j)

    log N = -log(2π σx σy √(1-ρ²)) - Z / (2(1-ρ²)),
    Z = zx² + zy² - 2ρ zx zy,  zx = (Δx - μx) / σx,  zy = (Δy - μy) / σy

`offset_log_likelihood` sums the mixture in log space (log-sum-exp over ``log Π_j + log N_j``)
and takes ``log σ`` and ``log(1 - ρ²) = 2 log 2 - 2|ρ̂| - 2 softplus(-2|ρ̂|)`` from the raw
outputs, so it stays finite where ``exp`` and ``tanh`` saturate.

Sampling with a temperature ``τ`` (`sample_mixture`), as the paper defines it: the weights
become ``softmax(π̂ / τ)``, every variance ``σ² τ`` (the correlation kept), the pen state
``softmax(q̂ / τ)``. ``τ -> 0`` draws the mean of the likeliest component and the likeliest
pen state; ``τ = 1`` samples the model's distribution. (The paper's code scales ``σ`` by
``τ²``, not ``√τ``; the text is followed here.)
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

PEN_STATES = 3


class Mixture(NamedTuple):
    """The raw parameters of the output distribution, each ``(..., M)`` (``pen_logits``
    ``(..., 3)``); see the module docstring for what each becomes."""

    logits: Tensor  # π̂: Π = softmax(π̂)
    mu_x: Tensor
    mu_y: Tensor
    log_sigma_x: Tensor  # σ̂x: σx = exp(σ̂x)
    log_sigma_y: Tensor
    rho_raw: Tensor  # ρ̂: ρ = tanh(ρ̂)
    pen_logits: Tensor  # q̂: q = softmax(q̂)


def output_size(num_mixtures: int) -> int:
    """The decoder output size a mixture of ``num_mixtures`` components needs: ``6M + 3``."""
    return 6 * num_mixtures + PEN_STATES


def mixture_from_output(output: Tensor, num_mixtures: int) -> Mixture:
    """Split a decoder output ``(..., 6M + 3)`` into the `Mixture` it parameterises."""
    m = num_mixtures
    parts = output.split([m, m, m, m, m, m, PEN_STATES], dim=-1)
    return Mixture(*parts)


def offset_log_likelihood(mixture: Mixture, dx: Tensor, dy: Tensor) -> Tensor:
    """``log p(Δx, Δy)`` under ``mixture``; ``dx``, ``dy`` ``(...)`` -> ``(...)``."""
    zx = (dx.unsqueeze(-1) - mixture.mu_x) * torch.exp(-mixture.log_sigma_x)  # (..., M)
    zy = (dy.unsqueeze(-1) - mixture.mu_y) * torch.exp(-mixture.log_sigma_y)
    a = mixture.rho_raw.abs()
    log_one_minus_rho2 = 2 * math.log(2) - 2 * a - 2 * F.softplus(-2 * a)  # log(1 - ρ²)
    rho = torch.tanh(mixture.rho_raw)
    z = zx**2 + zy**2 - 2 * rho * zx * zy
    log_normal = (
        -math.log(2 * math.pi)
        - mixture.log_sigma_x
        - mixture.log_sigma_y
        - 0.5 * log_one_minus_rho2
        - 0.5 * z * torch.exp(-log_one_minus_rho2)
    )  # (..., M)
    log_weights = F.log_softmax(mixture.logits, dim=-1)
    return torch.logsumexp(log_weights + log_normal, dim=-1)


def pen_log_probs(mixture: Mixture) -> Tensor:
    """``log q`` of the three pen states, ``(..., 3)``."""
    return F.log_softmax(mixture.pen_logits, dim=-1)


def sample_mixture(
    mixture: Mixture, temperature: float = 1.0, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """One draw per row of a ``(B, M)`` mixture at ``temperature`` τ > 0: offsets ``(B, 2)``
    and pen states ``(B,)`` (0 down, 1 lifted, 2 end)."""
    tau = min(max(float(temperature), 1e-30), 1e30)  # float32 divides within this range
    weights = _softmax_at(mixture.logits, tau)  # (B, M)
    component = torch.multinomial(weights, 1, generator=generator)  # (B, 1)

    def pick(values: Tensor) -> Tensor:
        return values.gather(-1, component).squeeze(-1)  # (B,)

    scale = math.sqrt(tau)  # σ² τ
    sigma_x = torch.exp(pick(mixture.log_sigma_x)) * scale
    sigma_y = torch.exp(pick(mixture.log_sigma_y)) * scale
    rho = torch.tanh(pick(mixture.rho_raw))
    noise = torch.randn(
        (2, *sigma_x.shape), generator=generator, device=sigma_x.device, dtype=sigma_x.dtype
    )
    dx = pick(mixture.mu_x) + sigma_x * noise[0]
    dy = pick(mixture.mu_y) + sigma_y * (rho * noise[0] + torch.sqrt(1 - rho**2) * noise[1])
    pen_probs = _softmax_at(mixture.pen_logits, tau)
    pen = torch.multinomial(pen_probs, 1, generator=generator).squeeze(-1)  # (B,)
    return torch.stack([dx, dy], dim=-1), pen


def _softmax_at(logits: Tensor, tau: float) -> Tensor:
    """``softmax(logits / τ)`` over the last axis, the scores shifted to a best of 0 first, so
    that no positive τ, however small, overflows."""
    return F.softmax((logits - logits.amax(dim=-1, keepdim=True)) / tau, dim=-1)
