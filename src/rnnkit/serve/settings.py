"""`ServeSettings`: where ``rnnkit serve`` listens, who may call it, how it batches, and the
limits that keep one request from taking the server down."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

from rnnkit.errors import UserError

MIB = 1024 * 1024


@dataclass(frozen=True)
class ServeSettings:
    """The server's settings, checked when made (a bad value is a `UserError`).

    ``token`` None leaves the API open; otherwise every ``/v1/`` request needs the header
    ``Authorization: Bearer TOKEN``. ``workers`` > 1 runs that many server processes on one
    port. The inputs of requests that arrive while the model is busy run together as the next
    batch, of at most ``max_batch_size`` inputs (1: each request alone); an idle model starts
    at once, unless ``max_wait_ms`` > 0 makes the first input of a batch wait that long for
    others (larger batches under steady load, slower answers when load is light). The limits
    answer 413 (a body over ``max_body_bytes``) or 422 (a text over ``max_input_chars``
    characters, more than ``max_inputs`` inputs in one request, more than ``max_new_tokens``
    to generate).
    """

    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    workers: int = 1
    max_batch_size: int = 32
    max_wait_ms: float = 0.0
    max_body_bytes: int = MIB
    max_input_chars: int = 10_000
    max_inputs: int = 64
    max_new_tokens: int = 512

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise UserError(f"--port must be in 1..65535, got {self.port}")
        if self.token == "":
            raise UserError("--token must not be empty (leave it out for an open API)")
        if self.max_wait_ms < 0:
            raise UserError(f"--max-wait-ms must be >= 0, got {self.max_wait_ms}")
        positive = ("workers", "max_batch_size", "max_body_bytes", "max_input_chars",
                    "max_inputs", "max_new_tokens")  # fmt: skip
        for name in positive:
            if getattr(self, name) < 1:
                option = "--" + name.replace("_", "-")
                raise UserError(f"{option} must be at least 1, got {getattr(self, name)}")

    def to_json(self) -> str:
        """The settings as JSON (handed to worker processes through the environment)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeSettings:
        """The settings `to_json` wrote."""
        values = json.loads(text)
        return cls(**{f.name: values[f.name] for f in fields(cls) if f.name in values})
