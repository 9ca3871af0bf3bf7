"""Who may call the API and how much they may send: two ASGI middlewares that answer before
any route runs.

`BearerTokenMiddleware` answers 401 to a ``/v1/`` request without the header ``Authorization:
Bearer TOKEN`` (compared in constant time, so response times do not reveal how much of a
guess was right). ``/healthz``, ``/docs`` and ``/openapi.json`` stay open: a load balancer can
probe the server and a reader can see the API, neither of which reveals the model.

`BodyLimitMiddleware` answers 413 to a body over the limit: at once when its Content-Length
says so, otherwise as soon as the bytes received pass it (a chunked upload declares no length),
without reading the rest. A body within the limit is read whole and handed on.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rnnkit.serve.errors import error_response

PROTECTED_PREFIX = "/v1/"


class BearerTokenMiddleware:
    """401 for ``/v1/`` requests that do not carry ``token`` as their bearer token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = token.encode("utf-8")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PROTECTED_PREFIX):
            message = self._refusal(_header(scope, b"authorization"))
            if message:
                challenge = {"WWW-Authenticate": "Bearer"}
                await error_response(401, message, challenge)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, header: bytes | None) -> str | None:
        """Why ``header`` (the Authorization header's raw bytes) is refused, or None."""
        scheme, _, credentials = (header or b"").partition(b" ")
        if scheme.lower() != b"bearer" or not credentials.strip():
            return "missing bearer token: send the header 'Authorization: Bearer TOKEN'"
        if not hmac.compare_digest(credentials.strip(), self.expected):
            return "wrong bearer token"
        return None


class BodyLimitMiddleware:
    """413 for a request body over ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left before sending its whole body
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"the body is over the limit of {self.max_bytes:,} bytes"
        await error_response(413, message)(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` as one message, then what ``receive`` gives (the
    disconnect a streaming response listens for)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _header(scope: Scope, name: bytes) -> bytes | None:
    """The raw value of the header ``name`` (lower case), or None."""
    return next((value for key, value in scope["headers"] if key.lower() == name), None)
