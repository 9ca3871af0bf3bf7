"""``POST /v1/predict`` (tasks that `Predicts`): a classifier's label for each text, or a
tagger's tags for each sentence.

The inputs of concurrent requests are joined, one per line, into a single call of the task's
``predict`` on its explicit ``lines`` format (one text, or one space-separated sentence, per
line) — the answer is the library's, whatever else was in the batch.
"""

from __future__ import annotations

from typing import Any, cast

from fastapi import APIRouter

from rnnkit.serve.endpoints import REQUEST, Endpoints, ServeContext
from rnnkit.serve.limits import check_texts, sentence_lines
from rnnkit.serve.schemas import ClassifyRequest, ClassifyResponse, TagRequest, TagResponse
from rnnkit.tasks import Predicts


def predict_endpoints(context: ServeContext) -> Endpoints:
    """The predict route of a classify or tag run, and the batcher behind it."""
    task, model = cast(Predicts, context.run.task), context.run.model

    def predict_lines(lines: list[str]) -> list[dict[str, Any]]:
        return task.predict(model, "\n".join(lines), REQUEST, input_format="lines")

    batcher = context.batcher(predict_lines)
    router = APIRouter(tags=["predict"])
    settings = context.settings
    if context.run.task.name == "tag":

        @router.post("/v1/predict", response_model=TagResponse, summary="Tag each sentence")
        async def tag(body: TagRequest) -> dict[str, Any]:
            """The tag of every token of each sentence, in the training data's scheme."""
            return {"predictions": await batcher.submit(sentence_lines(body.inputs, settings))}

    else:

        @router.post(
            "/v1/predict",
            response_model=ClassifyResponse,
            response_model_exclude_none=True,
            summary="Classify each text",
        )
        async def classify(body: ClassifyRequest) -> dict[str, Any]:
            """The likeliest label of each text, with every label's probability."""
            return {"predictions": await batcher.submit(check_texts(body.inputs, settings))}

    return Endpoints(router, [batcher])
