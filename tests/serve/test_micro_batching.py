"""`MicroBatcher`: concurrent requests share batches, each gets its own results in order, no
batch is larger than allowed, a failing batch fails only its own requests, and stopping runs
what is still waiting."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from rnnkit.serve.batching import MicroBatcher


class Recorder:
    """A batch function that records each batch it gets (and the thread it runs in) and
    answers ``item * 10``; an item of -1 makes its whole batch fail."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.threads: set[str] = set()

    def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        self.threads.add(threading.current_thread().name)
        if -1 in items:
            raise ValueError("bad item")
        return [item * 10 for item in items]


def with_batcher(
    recorder: Recorder, body: Callable[[MicroBatcher[int, int]], Awaitable[None]], **options
) -> None:
    """Run ``body(batcher)`` with a started batcher over ``recorder``, then stop it."""

    async def main() -> None:
        with ThreadPoolExecutor(1, thread_name_prefix="inference") as executor:
            batcher = MicroBatcher(recorder, executor, **options)
            await batcher.start()
            await body(batcher)
            await batcher.stop()

    asyncio.run(main())


def test_concurrent_requests_share_a_batch_and_get_their_own_results_in_order():
    recorder = Recorder()
    requests = [[1, 2, 3], [4], [5, 6]]

    async def body(batcher: MicroBatcher[int, int]) -> None:
        results = await asyncio.gather(*(batcher.submit(r) for r in requests))
        assert results == [[10, 20, 30], [40], [50, 60]]

    with_batcher(recorder, body, max_batch_size=32, max_wait_ms=50)
    assert recorder.batches == [[1, 2, 3, 4, 5, 6]]
    assert recorder.threads == {"inference_0"}


def test_no_batch_is_larger_than_the_maximum_and_a_long_request_spans_batches():
    recorder = Recorder()

    async def body(batcher: MicroBatcher[int, int]) -> None:
        long, short = await asyncio.gather(batcher.submit(list(range(7))), batcher.submit([9]))
        assert long == [i * 10 for i in range(7)] and short == [90]

    with_batcher(recorder, body, max_batch_size=3, max_wait_ms=50)
    assert recorder.batches == [[0, 1, 2], [3, 4, 5], [6, 9]]


def test_batch_size_one_runs_each_input_alone_without_waiting():
    recorder = Recorder()

    async def body(batcher: MicroBatcher[int, int]) -> None:
        assert await asyncio.gather(batcher.submit([1, 2]), batcher.submit([3])) == [
            [10, 20],
            [30],
        ]

    with_batcher(recorder, body, max_batch_size=1, max_wait_ms=10_000)
    assert recorder.batches == [[1], [2], [3]]


def test_an_exception_fails_only_the_requests_of_its_batch():
    recorder = Recorder()

    async def body(batcher: MicroBatcher[int, int]) -> None:
        first = await asyncio.gather(
            batcher.submit([1]), batcher.submit([-1]), return_exceptions=True
        )
        assert isinstance(first[0], ValueError) and isinstance(first[1], ValueError)
        assert await batcher.submit([2]) == [20]  # the batcher goes on

    with_batcher(recorder, body, max_batch_size=2, max_wait_ms=50)
    assert recorder.batches == [[1, -1], [2]]


def test_a_request_spread_over_a_failing_and_a_good_batch_fails_and_the_other_succeeds():
    recorder = Recorder()

    async def body(batcher: MicroBatcher[int, int]) -> None:
        spread, later = await asyncio.gather(
            batcher.submit([-1, 1, 2]), batcher.submit([3]), return_exceptions=True
        )
        assert isinstance(spread, ValueError) and later == [30]

    with_batcher(recorder, body, max_batch_size=2, max_wait_ms=50)
    assert recorder.batches == [[-1, 1], [2, 3]]


def test_stop_runs_the_waiting_inputs_before_it_returns():
    recorder = Recorder()

    async def body(batcher: MicroBatcher[int, int]) -> None:
        waiting = asyncio.ensure_future(batcher.submit([1, 2]))
        await asyncio.sleep(0)  # submitted; its batch waits up to 10 s for more
        await batcher.stop()
        assert await asyncio.wait_for(waiting, timeout=1) == [10, 20]  # not after 10 s
        with pytest.raises(RuntimeError, match="not running"):
            await batcher.submit([3])

    with_batcher(recorder, body, max_batch_size=8, max_wait_ms=10_000)
    assert recorder.batches == [[1, 2]]
