"""Length-bucketed batches: every example once per epoch, seeded, shards disjoint and equal,
and little padding; unbucketed batches (``by_length=False``) likewise, without the sorting."""

from __future__ import annotations

import random

from rnnkit.data.bucketing import bucket_batches, padding_fraction, sorted_batches

_RNG = random.Random(0)
LENGTHS = [_RNG.randint(1, 60) for _ in range(1000)]


def test_every_example_once_per_epoch_in_batches_of_the_size():
    batches = bucket_batches(LENGTHS, 32, seed=0, epoch=0)
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(len(LENGTHS)))
    assert sum(len(b) != 32 for b in batches) <= 1 + len(LENGTHS) // (50 * 32)  # pool tails


def test_seeded_per_epoch_and_shuffled():
    first = bucket_batches(LENGTHS, 32, seed=0, epoch=0)
    assert bucket_batches(LENGTHS, 32, seed=0, epoch=0) == first
    assert bucket_batches(LENGTHS, 32, seed=0, epoch=1) != first
    assert bucket_batches(LENGTHS, 32, seed=1, epoch=0) != first
    assert [max(LENGTHS[i] for i in b) for b in first] != sorted(
        max(LENGTHS[i] for i in b) for b in first
    )  # the batch order is not sorted by length


def test_shards_are_disjoint_and_equally_long():
    shards = [bucket_batches(LENGTHS, 32, seed=0, epoch=0, shard=k, num_shards=3) for k in range(3)]
    assert len({len(s) for s in shards}) == 1
    seen = [i for shard in shards for batch in shard for i in batch]
    assert len(seen) == len(set(seen))


def test_unbucketed_batches_are_seeded_shuffles_of_every_example():
    batches = bucket_batches(LENGTHS, 32, seed=0, epoch=0, by_length=False)
    assert sorted(i for batch in batches for i in batch) == list(range(len(LENGTHS)))
    assert batches == bucket_batches(LENGTHS, 32, seed=0, epoch=0, by_length=False)
    assert batches != bucket_batches(LENGTHS, 32, seed=0, epoch=1, by_length=False)
    bucketed = bucket_batches(LENGTHS, 32, seed=0, epoch=0)
    assert padding_fraction(bucketed, LENGTHS) < 0.1 < padding_fraction(batches, LENGTHS)


def test_bucketing_cuts_the_padding():
    bucketed = bucket_batches(LENGTHS, 32, seed=0, epoch=0)
    order = random.Random(0).sample(range(len(LENGTHS)), len(LENGTHS))
    unsorted = [order[i : i + 32] for i in range(0, len(order), 32)]
    assert padding_fraction(bucketed, LENGTHS) < 0.1 < padding_fraction(unsorted, LENGTHS)
    assert padding_fraction([[0, 1]], [3, 1]) == 1 - 4 / 6


def test_sorted_batches_cover_every_example_longest_first():
    batches = sorted_batches(LENGTHS, 64)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(LENGTHS)))
    assert [LENGTHS[i] for i in flat] == sorted(LENGTHS, reverse=True)
