"""What a forecaster predicts at each future step: a point, or the parameters of a distribution
(as DeepAR, Salinas et al. 2020, "DeepAR: Probabilistic forecasting with autoregressive
recurrent networks").

Each head maps features ``(..., D)`` to ``num_params`` raw outputs and reads them as:

- `PointHead` — the value itself; loss MSE or MAE.
- `GaussianHead` — N(μ, σ²), σ = softplus(raw) + 1e-4; loss the negative log-likelihood.
- `StudentTHead` — Student-t(ν, μ, σ), ν = 2 + softplus(raw) (finite variance); heavy tails
  for returns and spiky series; loss the negative log-likelihood.

All heads give the mean, samples, and (analytically) quantiles of the marginal at each step.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import stdtrit
from torch import Tensor, distributions, nn

OutputName = Literal["point", "gaussian", "student_t"]
PointLoss = Literal["mse", "mae"]
MIN_SCALE = 1e-4


class ForecastHead(nn.Module):
    """A linear map to the raw parameters, and how to read them."""

    num_params = 1

    def __init__(self, in_features: int) -> None:
        super().__init__()
        self.project = nn.Linear(in_features, self.num_params)

    def forward(self, features: Tensor) -> Tensor:
        """``(..., D)`` -> raw parameters ``(..., P)``."""
        return self.project(features)

    def loss(self, params: Tensor, target: Tensor) -> Tensor:
        """The mean loss of ``params`` ``(..., P)`` against ``target`` ``(...)``."""
        return -self.distribution(params).log_prob(target).mean()

    def mean(self, params: Tensor) -> Tensor:
        """The point forecast ``(...)``."""
        return self.distribution(params).mean

    def sample(self, params: Tensor) -> Tensor:
        """One draw ``(...)`` from each marginal (torch's global generator)."""
        return self.distribution(params).sample()

    def quantile(self, params: Tensor, level: float) -> Tensor:
        """The ``level`` quantile ``(...)`` of each marginal."""
        raise NotImplementedError

    def distribution(self, params: Tensor) -> distributions.Distribution:
        raise NotImplementedError


class PointHead(ForecastHead):
    """The value itself, trained with MSE or MAE; its quantiles are the point (no spread)."""

    def __init__(self, in_features: int, loss: PointLoss = "mse") -> None:
        super().__init__(in_features)
        self.loss_name = loss

    def loss(self, params: Tensor, target: Tensor) -> Tensor:
        error = params[..., 0] - target
        return error.square().mean() if self.loss_name == "mse" else error.abs().mean()

    def mean(self, params: Tensor) -> Tensor:
        return params[..., 0]

    def sample(self, params: Tensor) -> Tensor:
        return params[..., 0]

    def quantile(self, params: Tensor, level: float) -> Tensor:
        return params[..., 0]


class GaussianHead(ForecastHead):
    """N(μ, σ²) at each step."""

    num_params = 2

    def distribution(self, params: Tensor) -> distributions.Normal:
        loc, raw_scale = params.float().unbind(-1)
        return distributions.Normal(loc, F.softplus(raw_scale) + MIN_SCALE)

    def quantile(self, params: Tensor, level: float) -> Tensor:
        return self.distribution(params).icdf(torch.tensor(level))


class StudentTHead(ForecastHead):
    """Student-t(ν, μ, σ) at each step, ν > 2."""

    num_params = 3

    def distribution(self, params: Tensor) -> distributions.StudentT:
        raw_df, loc, raw_scale = params.float().unbind(-1)
        return distributions.StudentT(
            2.0 + F.softplus(raw_df), loc, F.softplus(raw_scale) + MIN_SCALE
        )

    def quantile(self, params: Tensor, level: float) -> Tensor:
        d = self.distribution(params)
        standard = stdtrit(d.df.detach().cpu().double().numpy(), np.float64(level))
        return d.loc + d.scale * torch.as_tensor(standard, dtype=d.loc.dtype, device=d.loc.device)


def build_head(output: OutputName, in_features: int, point_loss: PointLoss = "mse") -> ForecastHead:
    """The head for ``model.output``."""
    if output == "point":
        return PointHead(in_features, point_loss)
    return GaussianHead(in_features) if output == "gaussian" else StudentTHead(in_features)
