"""Built-in time series, generated (deterministic, no download), for the forecasting tour and
tests: ``--data builtin:NAME``.

- ``builtin:load`` — one hourly series of 100 days, an electricity-load-like signal:
  ``y_t = 50 + 0.003 t + 8 sin(2π t / 24) + 4 sin(2π t / 168) + ε_t``, ε ~ N(0, 1): trend, a
  daily and a weekly season, noise. Seasonal-naive is a strong baseline on it; a model that
  learns both seasons beats it.
- ``builtin:shops`` — daily sales of three shops over two years, in long format (id column
  ``shop``), of very different scale (about 20, 400 and 9,000 a day), each with its own weekly
  pattern, a yearly swing and multiplicative noise; a past covariate ``price``.
"""

from __future__ import annotations

import numpy as np

from rnnkit.data.series import Series
from rnnkit.errors import UserError

PREFIX = "builtin:"


def _load() -> list[Series]:
    rng = np.random.default_rng(7)
    t = np.arange(100 * 24)
    values = (
        50
        + 0.003 * t
        + 8 * np.sin(2 * np.pi * t / 24)
        + 4 * np.sin(2 * np.pi * t / 168)
        + rng.normal(0, 1, len(t))
    )
    time = np.datetime64("2024-01-01T00:00:00") + t.astype("timedelta64[h]")
    return [
        _series("load", "load", time.astype("datetime64[s]"), values, np.zeros((len(t), 0)), "load")
    ]


def _shops() -> list[Series]:
    rng = np.random.default_rng(11)
    days = np.arange(2 * 365)
    time = (np.datetime64("2023-01-01") + days.astype("timedelta64[D]")).astype("datetime64[s]")
    weekday = (days + 6) % 7  # 2023-01-01 was a Sunday; Monday = 0
    series = []
    for name, level, weekend in (
        ("corner", 20.0, 1.6),
        ("market", 400.0, 0.7),
        ("mall", 9000.0, 1.3),
    ):
        week = np.where(weekday >= 5, weekend, 1.0)
        year = 1 + 0.2 * np.sin(2 * np.pi * days / 365.25)
        price = 1 + 0.1 * np.sin(2 * np.pi * days / 91) + rng.normal(0, 0.01, len(days))
        noise = rng.lognormal(0, 0.05, len(days))
        values = level * week * year * noise / price
        series.append(_series("shops", name, time, values, price[:, None], "sales"))
    return series


def _series(
    name: str, key: str, time: np.ndarray, values: np.ndarray, covariates: np.ndarray, target: str
) -> Series:
    """Series ``key`` of the set ``builtin:NAME``, its values called ``target``."""
    lines = np.arange(2, len(values) + 2)
    return Series(key, time, values, covariates, lines, PREFIX + name, "time", target)


BUILTIN_SERIES = {"load": _load, "shops": _shops}
BUILTIN_COVARIATES = {"load": (), "shops": ("price",)}


def builtin_series(name: str, covariates: tuple[str, ...] = ()) -> list[Series]:
    """The built-in set ``builtin:NAME``; ``covariates`` must be among the set's."""
    key = name.removeprefix(PREFIX)
    if key not in BUILTIN_SERIES:
        raise UserError(
            f"unknown built-in series {name!r}; choose one of: "
            + ", ".join(PREFIX + k for k in BUILTIN_SERIES)
        )
    unknown = [c for c in covariates if c not in BUILTIN_COVARIATES[key]]
    if unknown:
        have = ", ".join(BUILTIN_COVARIATES[key]) or "none"
        raise UserError(f"{name} has no covariate {unknown[0]!r} (it has: {have})")
    series = BUILTIN_SERIES[key]()
    keep = [BUILTIN_COVARIATES[key].index(c) for c in covariates]
    for s in series:
        s.covariates = s.covariates[:, keep]
    return series
