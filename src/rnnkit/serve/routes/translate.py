"""``POST /v1/translate`` (tasks that `Translates`): the ``n_best`` translations of each
sentence.

The sentences of concurrent requests are batched together; a batch holding requests with
different search settings makes one ``translate`` call per setting, all in one turn of the
inference thread.
"""

from __future__ import annotations

from typing import Any, cast

from fastapi import APIRouter

from rnnkit.serve.endpoints import REQUEST, Endpoints, ServeContext
from rnnkit.serve.limits import check_texts
from rnnkit.serve.schemas import TranslateRequest, TranslateResponse
from rnnkit.tasks import Translates

Settings = tuple[tuple[str, Any], ...]  # the search settings, hashable: ((name, value), ...)


def translate_endpoints(context: ServeContext) -> Endpoints:
    """The translate route and the batcher behind it."""
    task, model = cast(Translates, context.run.task), context.run.model

    def translate_batch(items: list[tuple[str, Settings]]) -> list[list[dict[str, Any]]]:
        """The translations of each ``(sentence, settings)``, in order."""
        positions: dict[Settings, list[int]] = {}
        for position, (_, settings) in enumerate(items):
            positions.setdefault(settings, []).append(position)
        results: list[list[dict[str, Any]]] = [[] for _ in items]
        for settings, group in positions.items():
            text = "\n".join(items[p][0] for p in group)
            for p, hypotheses in zip(group, task.translate(model, text, REQUEST, **dict(settings)),
                                     strict=True):  # fmt: skip
                results[p] = hypotheses
        return results

    batcher = context.batcher(translate_batch)
    router = APIRouter(tags=["translate"])

    @router.post("/v1/translate", response_model=TranslateResponse, summary="Translate sentences")
    async def translate(body: TranslateRequest) -> dict[str, Any]:
        """The ``n_best`` translations of each sentence, best first."""
        settings = _search_settings(body)
        sentences = check_texts(body.inputs, context.settings)
        return {"translations": await batcher.submit([(s, settings) for s in sentences])}

    return Endpoints(router, [batcher])


def _search_settings(body: TranslateRequest) -> Settings:
    """The settings ``body`` gives, as ``translate`` takes them (those left null: the run's)."""
    given = {"beam_size": body.beam_size, "n_best": body.n_best,
             "length_penalty": body.length_penalty, "replace_unk": body.replace_unk}  # fmt: skip
    return tuple((name, value) for name, value in given.items() if value is not None)
