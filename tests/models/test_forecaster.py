"""The forecaster and its output heads: likelihoods and quantiles against scipy, the
autoregressive decoder's teacher-forced pass against its own step-by-step unrolling, and a
Gaussian head whose 80% interval covers about 80% of data drawn from a known Gaussian."""

from __future__ import annotations

import pytest
import torch
from scipy import stats

from rnnkit.models.forecast_heads import GaussianHead, PointHead, StudentTHead, build_head
from rnnkit.models.forecaster import Forecaster

B, L, F, K, H = 5, 7, 3, 2, 4


def inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, L, F, generator=g), torch.randn(B, H, K, generator=g)


def test_gaussian_loss_and_quantiles_match_scipy():
    head = GaussianHead(1)
    params = torch.tensor([[0.5, -1.0], [-2.0, 0.3]], dtype=torch.float64)
    target = torch.tensor([0.1, -1.5], dtype=torch.float64)
    scale = torch.nn.functional.softplus(params[:, 1]) + 1e-4
    expected = -stats.norm.logpdf(target, params[:, 0], scale).mean()
    assert head.loss(params, target).item() == pytest.approx(expected, rel=1e-6)
    for level in (0.1, 0.5, 0.9):
        torch.testing.assert_close(
            head.quantile(params, level).double(),
            torch.tensor(stats.norm.ppf(level, params[:, 0], scale)),
            rtol=1e-5, atol=1e-6,
        )  # fmt: skip


def test_student_t_loss_and_quantiles_match_scipy():
    head = StudentTHead(1)
    params = torch.tensor([[0.2, 1.0, -0.5], [3.0, -2.0, 1.0]], dtype=torch.float64)
    target = torch.tensor([4.0, -1.0], dtype=torch.float64)
    df = 2 + torch.nn.functional.softplus(params[:, 0])
    scale = torch.nn.functional.softplus(params[:, 2]) + 1e-4
    expected = -stats.t.logpdf(target, df, params[:, 1], scale).mean()
    assert head.loss(params, target).item() == pytest.approx(expected, rel=1e-6)
    for level in (0.05, 0.5, 0.8):
        torch.testing.assert_close(
            head.quantile(params, level).double(),
            torch.tensor(stats.t.ppf(level, df, params[:, 1], scale)),
            rtol=1e-5, atol=1e-6,
        )  # fmt: skip


def test_point_head_losses():
    params, target = torch.tensor([[1.0], [4.0]]), torch.tensor([2.0, 1.0])
    assert PointHead(1, "mse").loss(params, target).item() == pytest.approx((1 + 9) / 2)
    assert PointHead(1, "mae").loss(params, target).item() == pytest.approx((1 + 3) / 2)
    assert PointHead(1).quantile(params, 0.9).tolist() == [1.0, 4.0]


@pytest.mark.parametrize("output", ["point", "gaussian", "student_t"])
@pytest.mark.parametrize("decoder", ["direct", "autoregressive"])
def test_shapes_and_gradients(output, decoder):
    model = Forecaster(F, K, H, build_head(output, 16), hidden_size=16, decoder=decoder)
    context, known = inputs()
    target = torch.randn(B, H)
    params = model(context, known, target)
    assert params.shape == (B, H, model.head.num_params)
    model.head.loss(params, target).backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    assert model.sample_paths(context, known, num_samples=6).shape == (B, 6, H)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_teacher_forcing_equals_the_unrolled_decoder_fed_the_same_values(cell):
    torch.manual_seed(0)
    model = Forecaster(F, K, H, PointHead(12), cell=cell, hidden_size=12, decoder="autoregressive")
    model.eval()
    context, known = inputs(1)
    with torch.no_grad():
        unrolled = model(context, known)  # feeds back its own means, one step at a time
        forced = model(context, known, target=unrolled[..., 0])  # one kernel call over H
        paths = model.sample_paths(context, known, num_samples=2)  # a point head samples its mean
    torch.testing.assert_close(forced, unrolled, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(paths[:, 1], unrolled[..., 0], rtol=1e-5, atol=1e-6)


def test_gaussian_interval_covers_about_80_percent_of_a_known_gaussian():
    torch.manual_seed(0)
    mean, sd = 1.5, 0.7
    model = Forecaster(F, K, H, GaussianHead(16), hidden_size=16, num_layers=1, dropout=0.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(300):
        context, known = torch.randn(64, L, F), torch.randn(64, H, K)
        target = mean + sd * torch.randn(64, H)
        optimizer.zero_grad()
        model.head.loss(model(context, known), target).backward()
        optimizer.step()
    model.eval()
    context, known = torch.randn(2000, L, F), torch.randn(2000, H, K)
    target = mean + sd * torch.randn(2000, H)
    with torch.no_grad():
        params = model(context, known)
        low, mid, high = (model.head.quantile(params, q) for q in (0.1, 0.5, 0.9))
    assert bool((low < mid).all() and (mid < high).all())
    coverage = ((low <= target) & (target <= high)).float().mean().item()
    assert abs(coverage - 0.8) < 0.03, coverage
    width = (high - low).mean().item()
    assert width == pytest.approx(2 * 1.2816 * sd, rel=0.1)  # z_0.9 = 1.2816
