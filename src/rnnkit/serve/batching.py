"""`MicroBatcher`: the inputs of concurrent requests run through the model as one batch.

A model answers a batch of 32 inputs in little more time than one input, so a server that
runs each request alone wastes most of its time when many requests come at once. Each request
hands the batcher its list of inputs (`MicroBatcher.submit`) and waits; a background task takes
the waiting inputs in arrival order until it has ``max_batch_size`` of them or ``max_wait_ms``
have passed since the first arrived, runs the batch function once on them in the inference
thread, and gives each request the results of its own inputs, in order. A request with more
inputs than ``max_batch_size`` is spread over consecutive batches.

The batch function runs in the executor it is given: a single-thread executor shared by
everything that runs the model, so that torch work never runs in two threads at once and the
event loop stays free to accept requests meanwhile. An exception in the function fails the
requests whose inputs were in that batch, and no others. `stop` runs what is waiting, then
ends the task (the server's shutdown: requests in flight get their answers).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class _Waiting(Generic[Item]):
    """One input waiting for its batch: the future its request awaits, when it arrived."""

    item: Item
    future: asyncio.Future[Any]
    arrived: float


class MicroBatcher(Generic[Item, Result]):
    """Run ``function`` on the joined inputs of concurrent requests.

    ``function(items) -> results`` must return one result per item, in order. ``max_batch_size``
    1 runs every input alone, at once; ``max_wait_ms`` 0 runs whatever is waiting whenever the
    previous batch is done. Call `start` in the running event loop before `submit`.
    """

    def __init__(
        self,
        function: Callable[[list[Item]], Sequence[Result]],
        executor: Executor,
        max_batch_size: int = 32,
        max_wait_ms: float = 0.0,
    ) -> None:
        if max_batch_size < 1 or max_wait_ms < 0:
            raise ValueError("max_batch_size must be >= 1 and max_wait_ms >= 0")
        self.function = function
        self.executor = executor
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self._waiting: deque[_Waiting[Item]] = deque()
        self._arrival = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the background task that forms and runs the batches."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="micro-batcher")

    async def stop(self) -> None:
        """Run the inputs still waiting, then end the background task."""
        self._stopping = True
        self._arrival.set()
        if self._task is not None:
            await self._task

    async def submit(self, items: Sequence[Item]) -> list[Result]:
        """The results of ``items``, in order, once the batches holding them have run; the
        exception of a batch that failed."""
        if self._task is None or self._stopping:
            raise RuntimeError("the batcher is not running")
        loop = asyncio.get_running_loop()
        waiting = [_Waiting(item, loop.create_future(), loop.time()) for item in items]
        self._waiting.extend(waiting)
        self._arrival.set()
        outcomes = await asyncio.gather(*(w.future for w in waiting), return_exceptions=True)
        failure = next((o for o in outcomes if isinstance(o, BaseException)), None)
        if failure is not None:
            raise failure
        return cast(list[Result], outcomes)

    async def _run(self) -> None:
        while self._waiting or not self._stopping:
            if not self._waiting:
                self._arrival.clear()
                await self._arrival.wait()
                continue
            await self._fill(deadline=self._waiting[0].arrived + self.max_wait)
            size = min(len(self._waiting), self.max_batch_size)
            batch = [self._waiting.popleft() for _ in range(size)]
            await self._execute([w for w in batch if not w.future.done()])  # skip cancelled

    async def _fill(self, deadline: float) -> None:
        """Wait until a full batch is waiting, the deadline passes or the batcher stops."""
        loop = asyncio.get_running_loop()
        while len(self._waiting) < self.max_batch_size and not self._stopping:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._arrival.clear()
            try:
                async with asyncio.timeout(remaining):
                    await self._arrival.wait()
            except TimeoutError:
                return

    async def _execute(self, batch: list[_Waiting[Item]]) -> None:
        """Run the function on ``batch`` in the executor; settle each input's future."""
        if not batch:
            return
        items = [w.item for w in batch]
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(self.executor, self.function, items)
            if len(results) != len(items):
                raise RuntimeError(f"the batch function gave {len(results)} results for "
                                   f"{len(items)} inputs")  # fmt: skip
        except Exception as error:  # the requests of this batch fail; the batcher goes on
            for w in batch:
                if not w.future.done():
                    w.future.set_exception(error)
            return
        for w, result in zip(batch, results, strict=True):
            if not w.future.done():
                w.future.set_result(result)
