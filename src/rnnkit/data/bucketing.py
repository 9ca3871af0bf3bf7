"""Batches of examples of similar length, so that a padded batch is mostly real tokens.

Training (`bucket_batches`): each epoch the examples are shuffled (seeded by the run's seed and
the epoch), cut into pools of ``pool_size`` batches, each pool sorted by length and cut into
batches, and the batches shuffled again — the order stays random, the padding small, and the
same seed and epoch always give the same batches (so a resumed run sees what an uninterrupted
one saw). With ``by_length=False`` the pools are not sorted: plain shuffled batches, seeded
alike. Distributed ranks take every ``num_shards``-th batch; the last few batches are dropped
so that every rank gets as many (they step together).

Evaluation (`sorted_batches`): sorted by length, no shuffling; callers put the results back in
input order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

POOL_SIZE = 50  # batches per pool sorted together


def bucket_batches(
    lengths: Sequence[int],
    batch_size: int,
    *,
    seed: int,
    epoch: int,
    shard: int = 0,
    num_shards: int = 1,
    pool_size: int = POOL_SIZE,
    by_length: bool = True,
) -> list[list[int]]:
    """The example indices of each training batch of ``epoch`` for ``shard``."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    pool = pool_size * batch_size
    batches: list[list[int]] = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool].tolist()
        if by_length:
            chunk.sort(key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    batches = [batches[i] for i in rng.permutation(len(batches))]
    usable = len(batches) - len(batches) % num_shards
    return batches[shard:usable:num_shards]


def sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """The example indices in batches of similar length, longest first (evaluation)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def padding_fraction(batches: Sequence[Sequence[int]], lengths: Sequence[int]) -> float:
    """The share of padded positions when each batch is padded to its longest example."""
    padded = sum(len(batch) * max(lengths[i] for i in batch) for batch in batches if batch)
    real = sum(lengths[i] for batch in batches for i in batch)
    return 1.0 - real / padded if padded else 0.0
