"""What the route modules share: the `ServeContext` they are built from (the run, the settings,
the one inference thread) and the `Endpoints` each gives back (its routes, and the background
services, such as batchers, that the app starts and stops with itself)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol, TypeVar

from fastapi import APIRouter

from rnnkit.serve.batching import MicroBatcher
from rnnkit.serve.settings import ServeSettings
from rnnkit.tasks import LoadedRun

T = TypeVar("T")
REQUEST = "request"  # the name the library gives the input in its messages


class Service(Protocol):
    """A background task the app starts before serving and stops (drained) at shutdown."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class Endpoints:
    """One capability's routes and the services they need running."""

    router: APIRouter
    services: list[Service] = field(default_factory=list)


@dataclass(frozen=True)
class ServeContext:
    """What a route module is built from: the loaded ``run``, the ``settings``, and
    ``inference``, the single-thread executor every model call runs in (so torch work never
    runs in two threads at once, and the event loop stays free meanwhile)."""

    run: LoadedRun
    settings: ServeSettings
    inference: Executor

    async def infer(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``function(*args, **kwargs)`` run in the inference thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.inference, partial(function, *args, **kwargs))

    def batcher(self, function: Callable[[list[Any]], Sequence[T]]) -> MicroBatcher[Any, T]:
        """A `MicroBatcher` of ``function`` with the settings' batch size and wait, run in
        the inference thread."""
        return MicroBatcher(
            function, self.inference, self.settings.max_batch_size, self.settings.max_wait_ms
        )
