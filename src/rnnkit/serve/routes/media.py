"""``POST /v1/transcribe`` (tasks that `Transcribes`) and ``POST /v1/caption`` (tasks that
`Captions`): the recording or the image is the request body, as its file's bytes.

The library reads recordings and images from files, so the body is written to a temporary file
for the call and deleted afterwards (`uploaded`); a body it cannot read is a 422 that names
"the request body" rather than the temporary path. ``?beam_size=K`` sets the beam (default:
the run's ``decode.beam_size``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, cast

from fastapi import APIRouter, Query, Request

from rnnkit.data.audio import Utterance, load_audio
from rnnkit.errors import UserError
from rnnkit.serve.endpoints import REQUEST, Endpoints, ServeContext
from rnnkit.serve.schemas import MAX_BEAM, Caption, Transcript
from rnnkit.tasks import Captions, Transcribes

BODY_NAME = "the request body"
BeamSize = Annotated[
    int | None,
    Query(ge=1, le=MAX_BEAM, description="Beam width (1: greedy; default decode.beam_size)."),
]


def transcribe_endpoints(context: ServeContext) -> Endpoints:
    """The transcribe route of a speech run."""
    task, model = cast(Transcribes, context.run.task), context.run.model

    def transcribe(path: str, beam_size: int | None) -> dict[str, Any]:
        audio = load_audio(Path(path), task.sample_rate, path)
        return task.transcribe(model, [Utterance(audio, "", REQUEST, REQUEST)], beam_size)[0]

    router = APIRouter(tags=["transcribe"])

    @router.post(
        "/v1/transcribe",
        response_model=Transcript,
        summary="Transcribe a recording",
        openapi_extra=_file_body("audio/*", "The recording: a WAV, FLAC or OGG file."),
    )
    async def transcribe_body(request: Request, beam_size: BeamSize = None) -> dict[str, Any]:
        """The text of the recording sent as the body (resampled to the model's rate)."""
        with uploaded(await request.body()) as path:
            return await context.infer(transcribe, path, beam_size)

    return Endpoints(router)


def caption_endpoints(context: ServeContext) -> Endpoints:
    """The caption route of a caption run."""
    task, model = cast(Captions, context.run.task), context.run.model
    router = APIRouter(tags=["caption"])

    @router.post(
        "/v1/caption",
        response_model=Caption,
        summary="Caption an image",
        openapi_extra=_file_body("image/*", "The image: any format Pillow reads (JPEG, PNG...)."),
    )
    async def caption_body(request: Request, beam_size: BeamSize = None) -> dict[str, Any]:
        """A sentence describing the image sent as the body."""
        with uploaded(await request.body()) as path:
            records = await context.infer(task.caption, model, [path], beam_size)
        return records[0]

    return Endpoints(router)


@contextmanager
def uploaded(body: bytes) -> Iterator[str]:
    """The path of a temporary file holding ``body``, deleted after the block; a `UserError`
    raised in the block names `BODY_NAME` instead of that path."""
    if not body:
        raise UserError(f"{BODY_NAME} is empty; send the file's bytes as the body")
    with tempfile.NamedTemporaryFile(prefix="rnnkit-serve-") as file:
        file.write(body)
        file.flush()
        try:
            yield file.name
        except UserError as error:
            raise UserError(str(error).replace(file.name, BODY_NAME)) from None


def _file_body(media_type: str, description: str) -> dict[str, Any]:
    """The OpenAPI description of a request body that is a file's bytes."""
    schema = {"type": "string", "format": "binary"}
    content = {media_type: {"schema": schema}}
    return {"requestBody": {"required": True, "description": description, "content": content}}
