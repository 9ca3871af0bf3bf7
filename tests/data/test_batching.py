"""Tests for rnnkit.data.batching: stream layout for truncated BPTT, sharding, splits."""

from __future__ import annotations

import doctest
import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.data import batching
from rnnkit.data.batching import StreamBatches, split_train_valid, variable_windows
from rnnkit.errors import UserError


def streams(batches: StreamBatches) -> tuple[list[list[int]], list[list[int]]]:
    """Each batch row's inputs and targets, concatenated over all batches."""
    inputs: list[list[int]] = [[] for _ in range(batches.batch_size)]
    targets: list[list[int]] = [[] for _ in range(batches.batch_size)]
    for x, y in batches:
        for row in range(batches.batch_size):
            inputs[row] += x[row].tolist()
            targets[row] += y[row].tolist()
    return inputs, targets


def test_docstring_examples() -> None:
    assert doctest.testmod(batching).failed == 0


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(2, 120),
    batch_size=st.integers(1, 5),
    bptt=st.integers(1, 9),
    num_shards=st.integers(1, 3),
)
def test_streams_are_contiguous_slices_of_the_corpus(
    n: int, batch_size: int, bptt: int, num_shards: int
) -> None:
    corpus = [(7 * i + 3) % 101 for i in range(n)]  # repeats values, unlike a plain range
    if n < batch_size * num_shards + 1:
        with pytest.raises(UserError, match=f"{batch_size * num_shards + 1} are needed"):
            StreamBatches(corpus, batch_size, bptt, num_shards=num_shards)
        return
    all_inputs: list[list[int]] = []
    for shard in range(num_shards):
        batches = StreamBatches(corpus, batch_size, bptt, num_shards=num_shards, shard=shard)
        inputs, targets = streams(batches)
        length = len(inputs[0])
        shapes = [tuple(x.shape) for x, _ in batches]
        assert shapes == [tuple(y.shape) for _, y in batches]
        assert all(s[0] == batch_size for s in shapes)
        assert all(s[1] == bptt for s in shapes[:-1]) and 1 <= shapes[-1][1] <= bptt
        assert len(batches) == len(shapes)
        assert batches.num_tokens == batch_size * length == sum(b * t for b, t in shapes)
        for row in range(batch_size):
            start = (shard * batch_size + row) * length
            assert inputs[row] == corpus[start : start + length]
            assert targets[row] == corpus[start + 1 : start + length + 1]
        all_inputs += inputs
    # together, the streams tile the start of the corpus and drop fewer tokens than one per stream
    flat = [token for stream in all_inputs for token in stream]
    assert flat == corpus[: len(flat)]
    assert 0 <= n - (len(flat) + 1) < batch_size * num_shards


def test_targets_are_inputs_shifted_and_batches_continue_each_stream() -> None:
    corpus = torch.randint(0, 50, (1000,), generator=torch.Generator().manual_seed(0))
    batches = list(StreamBatches(corpus, batch_size=4, bptt=7))
    for (x, y), (next_x, _) in itertools.pairwise(batches):
        assert torch.equal(y[:, :-1], x[:, 1:])
        assert torch.equal(next_x[:, 0], y[:, -1])  # the next batch starts where this one ended
    assert all(x.dtype == y.dtype == torch.long for x, y in batches)


def test_shards_are_disjoint_rows_of_the_unsharded_layout() -> None:
    corpus = list(range(500))
    batch_size, num_shards, bptt = 3, 4, 10
    whole = list(StreamBatches(corpus, batch_size * num_shards, bptt))
    shards = [
        list(StreamBatches(corpus, batch_size, bptt, num_shards=num_shards, shard=k))
        for k in range(num_shards)
    ]
    assert all(len(shard) == len(whole) for shard in shards)
    for i, (x, y) in enumerate(whole):
        assert torch.equal(torch.cat([shard[i][0] for shard in shards]), x)
        assert torch.equal(torch.cat([shard[i][1] for shard in shards]), y)
    seen = [set(torch.cat([x for x, _ in shard], dim=1).flatten().tolist()) for shard in shards]
    assert all(seen[a].isdisjoint(seen[b]) for a in range(num_shards) for b in range(a))


def test_list_and_tensor_inputs_agree_and_iteration_repeats() -> None:
    corpus = [5, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9]
    from_list = StreamBatches(corpus, batch_size=2, bptt=3)
    from_tensor = StreamBatches(torch.tensor(corpus, dtype=torch.int32), batch_size=2, bptt=3)
    first, second, third = list(from_list), list(from_list), list(from_tensor)
    for (a, b), (c, d), (e, f) in zip(first, second, third, strict=True):
        assert torch.equal(a, c) and torch.equal(b, d)
        assert torch.equal(a, e) and torch.equal(b, f)


def test_shortest_corpus_gives_one_step() -> None:
    batches = StreamBatches([10, 11, 12, 13], batch_size=3, bptt=5)
    assert len(batches) == 1 and batches.num_tokens == 3
    ((x, y),) = list(batches)
    assert x.tolist() == [[10], [11], [12]] and y.tolist() == [[11], [12], [13]]
    with pytest.raises(UserError, match="corpus too short: 3 tokens, but 4 are needed"):
        StreamBatches([10, 11, 12], batch_size=3, bptt=5)


def test_bad_arguments() -> None:
    with pytest.raises(UserError, match="batch_size"):
        StreamBatches(list(range(10)), batch_size=0, bptt=2)
    with pytest.raises(UserError, match="bptt"):
        StreamBatches(list(range(10)), batch_size=1, bptt=0)
    with pytest.raises(ValueError, match="shard"):
        StreamBatches(list(range(10)), batch_size=1, bptt=2, num_shards=2, shard=2)
    with pytest.raises(ValueError, match="one-dimensional"):
        StreamBatches(torch.zeros(2, 5, dtype=torch.long), batch_size=1, bptt=2)


def test_split_train_valid_cuts_after_a_line_break_or_else_a_space() -> None:
    lines = "".join(f"line {i}\n" for i in range(10))  # 7 characters a line
    train, valid = split_train_valid(lines, 0.1)  # the cut at character 63 ends line 9
    assert train == lines[:63] and valid == lines[63:] == "line 9\n"
    train, valid = split_train_valid(lines, 0.15)  # character 59.5 -> 60, inside line 8
    assert train + valid == lines and valid == "line 9\n"
    train, valid = split_train_valid("one two three four five\n", 0.25)  # in the last line
    assert (train, valid) == ("one two three four ", "five\n")
    train, valid = split_train_valid("abcdefghij", 0.3)  # no boundary: the exact character
    assert (train, valid) == ("abcdefg", "hij")
    for fraction in (0.0, 1.0, -0.5):
        with pytest.raises(UserError, match="valid_fraction"):
            split_train_valid(lines, fraction)
    with pytest.raises(UserError, match="too short"):
        split_train_valid("a", 0.1)


def test_variable_windows_cover_the_streams_without_losing_a_token():
    ids = list(range(2001))
    windows = variable_windows(bptt=35, total=1000, seed=3, epoch=0)
    assert windows == variable_windows(bptt=35, total=1000, seed=3, epoch=0)
    assert windows != variable_windows(bptt=35, total=1000, seed=3, epoch=1)
    assert min(windows) >= 5 and sum(windows) >= 1000
    assert 28 < sum(windows) / len(windows) < 37  # N(35, 5), one in 20 around 17.5
    fixed = StreamBatches(ids, batch_size=2, bptt=35)
    varied = StreamBatches(ids, batch_size=2, bptt=35, windows=windows)
    joined = [torch.cat([x for x, _ in batches], dim=1) for batches in (fixed, varied)]
    assert torch.equal(joined[0], joined[1])  # the same stream, cut elsewhere
    lengths = [x.shape[1] for x, _ in varied]
    assert lengths[:-1] == windows[: len(lengths) - 1] and len(varied) == len(lengths)
