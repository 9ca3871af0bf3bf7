"""The bivariate normal mixture of Sketch-RNN: its log-likelihood against torch.distributions,
the moments of its samples, and the temperature."""

from __future__ import annotations

import math

import torch
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal

from rnnkit.models.mixture_density import (
    Mixture,
    mixture_from_output,
    offset_log_likelihood,
    output_size,
    pen_log_probs,
    sample_mixture,
)


def reference(mixture: Mixture) -> MixtureSameFamily:
    """The same mixture built by torch.distributions from Π, μ, σ and ρ."""
    sx, sy = mixture.log_sigma_x.exp(), mixture.log_sigma_y.exp()
    rho = mixture.rho_raw.tanh()
    covariance = torch.stack(
        [torch.stack([sx**2, rho * sx * sy], -1), torch.stack([rho * sx * sy, sy**2], -1)], -2
    )  # (..., M, 2, 2)
    means = torch.stack([mixture.mu_x, mixture.mu_y], dim=-1)  # (..., M, 2)
    return MixtureSameFamily(
        Categorical(logits=mixture.logits), MultivariateNormal(means, covariance)
    )


def known_mixture(rows: int) -> Mixture:
    """Two components (weights 0.3 / 0.7) repeated over ``rows`` rows, with pen states."""

    def repeat(*values: float) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.float64).expand(rows, len(values))

    return Mixture(
        logits=repeat(math.log(0.3), math.log(0.7)),
        mu_x=repeat(-2.0, 1.0),
        mu_y=repeat(0.5, 3.0),
        log_sigma_x=repeat(math.log(0.5), math.log(1.0)),
        log_sigma_y=repeat(math.log(1.5), math.log(0.4)),
        rho_raw=repeat(math.atanh(0.6), math.atanh(-0.3)),
        pen_logits=repeat(math.log(0.6), math.log(0.3), math.log(0.1)),
    )


def test_log_likelihood_matches_torch_distributions():
    generator = torch.Generator().manual_seed(0)
    output = torch.randn(4, 7, output_size(5), generator=generator, dtype=torch.float64) * 1.5
    mixture = mixture_from_output(output, 5)
    dx, dy = torch.randn(2, 4, 7, generator=generator, dtype=torch.float64) * 2
    expected = reference(mixture).log_prob(torch.stack([dx, dy], dim=-1))
    assert torch.allclose(offset_log_likelihood(mixture, dx, dy), expected, atol=1e-10)
    assert torch.allclose(
        pen_log_probs(mixture).exp().sum(-1), torch.ones(4, 7, dtype=torch.float64)
    )


def test_log_likelihood_stays_finite_where_tanh_saturates():
    output = torch.zeros(3, output_size(2), requires_grad=True)
    raw = output.detach().clone()
    raw[:, 10:12] = torch.tensor([20.0, -30.0])  # ρ̂: tanh is ±1 in float32
    mixture = mixture_from_output(raw.requires_grad_(), 2)
    log_likelihood = offset_log_likelihood(mixture, torch.zeros(3), torch.full((3,), 0.1))
    log_likelihood.sum().backward()
    assert torch.isfinite(log_likelihood).all() and torch.isfinite(raw.grad).all()


def test_samples_have_the_mixture_moments_at_temperature_one():
    offsets, pen = sample_mixture(known_mixture(40_000), 1.0, torch.Generator().manual_seed(1))
    distribution = reference(known_mixture(1))
    weights = distribution.mixture_distribution.probs[0]  # (M,)
    means = distribution.component_distribution.mean[0]  # (M, 2)
    covariances = distribution.component_distribution.covariance_matrix[0]  # (M, 2, 2)
    mean = weights @ means
    # law of total covariance: E[Σ_j] + Cov(μ_j)
    spread = means - mean
    covariance = (
        weights[:, None, None] * (covariances + spread[:, :, None] * spread[:, None])
    ).sum(0)
    assert torch.allclose(offsets.mean(0), mean, atol=0.03)
    assert torch.allclose(offsets.T.cov(correction=0), covariance, atol=0.05)
    frequencies = torch.bincount(pen, minlength=3).double() / len(pen)
    assert torch.allclose(
        frequencies, torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64), atol=0.01
    )


def test_temperature_scales_the_variance_and_sharpens_the_choices():
    mixture = known_mixture(40_000)
    one = Mixture(*(part[:, 1:] if part.shape[-1] == 2 else part for part in mixture))
    offsets, _ = sample_mixture(one, 0.5, torch.Generator().manual_seed(2))
    assert torch.allclose(
        offsets.var(0), torch.tensor([1.0, 0.16], dtype=torch.float64) * 0.5, rtol=0.04
    )
    offsets, pen = sample_mixture(mixture, 0.01, torch.Generator().manual_seed(3))
    mode = torch.tensor([1.0, 3.0], dtype=torch.float64)  # the mean of the likeliest component
    assert (offsets - mode).abs().max() < 0.5
    assert (offsets - mode).abs().mean() < 0.1
    assert bool((pen == 0).all())
