"""``POST /v1/generate`` (tasks that `Generates`): a continuation of the prompt, streamed token
by token as server-sent events, or whole as JSON.

Concurrent generations run batched, step by step, in `rnnkit.serve.streaming.GenerationBatcher`,
which yields each request's text piece by piece. The first piece is awaited before the answer
starts, so that a request the library refuses (an unknown condition, a prompt of no known
token) is a 422 rather than a stream that breaks off. The stream (``text/event-stream``) is one
``data: {"text": PIECE}`` event per token, then ``event: done`` with ``data: {"text": TEXT}``,
the whole text; the pieces joined are that text.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any, cast

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from rnnkit.serve.endpoints import Endpoints, ServeContext
from rnnkit.serve.errors import problem, raise_problems
from rnnkit.serve.limits import check_generation
from rnnkit.serve.schemas import Generated, GenerateRequest
from rnnkit.tasks import GeneratesConditioned

EVENT_STREAM = "text/event-stream"
STREAM_DOC = {
    "description": 'With "stream": true: server-sent events, `data: {"text": PIECE}` per '
    'token, then `event: done` and `data: {"text": WHOLE_TEXT}`.',
    "content": {EVENT_STREAM: {"schema": {"type": "string"}}},
}


def generate_endpoints(context: ServeContext) -> Endpoints:
    """The generate route of an lm or generate run, and the generation batcher behind it."""
    from rnnkit.serve.streaming import GenerationBatcher, GenerationRequest

    settings = context.settings
    batcher = GenerationBatcher(context.run, settings.max_batch_size, settings.max_wait_ms)
    conditioned = isinstance(context.run.task, GeneratesConditioned)
    router = APIRouter(tags=["generate"])

    @router.post(
        "/v1/generate",
        response_model=Generated,
        summary="Generate text",
        responses={200: STREAM_DOC},
    )
    async def generate(body: GenerateRequest) -> Any:
        """The continuation of ``prompt``: streamed, or whole."""
        check_generation(body.prompt, body.max_new_tokens, settings)
        if body.condition and not conditioned:
            message = f"a {context.run.task.name} model takes no condition"
            raise_problems([problem(("condition",), message)])
        request = GenerationRequest(
            prompt=body.prompt, max_new_tokens=body.max_new_tokens,
            temperature=body.temperature, top_k=body.top_k, top_p=body.top_p,
            greedy=body.greedy, seed=body.seed, stop_at_eos=body.stop_at_eos,
            condition=dict(body.condition),
        )  # fmt: skip
        pieces = cast(AsyncGenerator[str, None], batcher.stream(request))  # closed with aclosing
        first = await _first(pieces)  # a refused request raises here: 422
        if body.stream:
            return StreamingResponse(
                _events(first, pieces),
                media_type=EVENT_STREAM,
                headers={"Cache-Control": "no-cache"},
            )
        async with aclosing(pieces):
            return {"text": "".join([*first, *[piece async for piece in pieces]])}

    return Endpoints(router, [batcher])


async def _first(pieces: AsyncIterator[str]) -> list[str]:
    """The first piece of ``pieces`` (none if it ends at once)."""
    try:
        return [await anext(pieces)]
    except StopAsyncIteration:
        return []


async def _events(first: list[str], pieces: AsyncGenerator[str, None]) -> AsyncIterator[str]:
    """The server-sent events of ``first`` and the pieces after it, then ``done``."""
    text = list(first)
    async with aclosing(pieces):
        if first:
            yield _event(first[0])
        async for piece in pieces:
            text.append(piece)
            yield _event(piece)
    yield _event("".join(text), name="done")


def _event(text: str, name: str | None = None) -> str:
    """One server-sent event whose data is ``{"text": text}``."""
    data = "data: " + json.dumps({"text": text}, ensure_ascii=False) + "\n\n"
    return data if name is None else f"event: {name}\n{data}"
