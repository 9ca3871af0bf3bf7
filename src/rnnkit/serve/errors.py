"""Every error the API answers is JSON of one shape, FastAPI's: ``{"detail": ...}``.

For 422 (the request is well-formed HTTP but its content is wrong) ``detail`` is FastAPI's list
of problems, ``[{"type", "loc", "msg", ...}]``, ``loc`` the place in the request (``["body",
"inputs", 2]``); this holds for pydantic's own checks, for the server's limits, for a body that
is not UTF-8 and for a `rnnkit.errors.UserError` the library raises about the input. For every
other status (401, 404, 413, 500) ``detail`` is a one-line message.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from rnnkit.errors import UserError

Location = Sequence[str | int]


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """``{"detail": message}`` with ``status``."""
    return JSONResponse({"detail": message}, status_code=status, headers=headers)


def problem(location: Location, message: str) -> dict[str, object]:
    """One entry of a 422's ``detail`` list."""
    return {"type": "value_error", "loc": ["body", *location], "msg": message}


def raise_problems(problems: list[dict[str, object]]) -> None:
    """A 422 listing ``problems``, if there are any."""
    if problems:
        raise RequestValidationError(problems)


async def _validation_error(request: Request, error: Exception) -> Response:
    """FastAPI's 422, whose echo of the input may hold a number JSON cannot write (``1e999``
    reads as infinity): such a number is echoed as text."""
    assert isinstance(error, RequestValidationError)
    return JSONResponse({"detail": _finite(jsonable_encoder(error.errors()))}, status_code=422)


def _finite(value: Any) -> Any:
    """``value`` (JSON-ready) with each infinite or NaN float written as text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list):
        return [_finite(item) for item in value]
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    return value


async def _user_error(request: Request, error: Exception) -> Response:
    """The library's verdict on the input (e.g. a series too short for the model): a 422."""
    return await _validation_error(request, RequestValidationError([problem((), str(error))]))


async def _http_error(request: Request, error: Exception) -> Response:
    """FastAPI's answer, except for a JSON body that is not UTF-8 (FastAPI calls that a 400
    'error parsing the body'): a 422 saying so, like any other body that is not JSON."""
    assert isinstance(error, HTTPException)
    cause = error.__cause__
    if isinstance(cause, UnicodeDecodeError):
        message = (
            f"the body is not valid UTF-8: byte 0x{cause.object[cause.start]:02x} at {cause.start}"
        )
        invalid = {"type": "json_invalid", "loc": ["body"], "msg": message}
        return await _validation_error(request, RequestValidationError([invalid]))
    return await http_exception_handler(request, error)


async def _internal_error(request: Request, error: Exception) -> Response:
    """A bug, never bad input: answered without its traceback (Starlette raises the error on,
    and uvicorn logs it with the traceback)."""
    return error_response(500, "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    """Make every error of ``app`` JSON of the one shape."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(UserError, _user_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _internal_error)
