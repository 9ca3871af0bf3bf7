"""Micro-batched streaming generation (`rnnkit.serve.streaming`), checked against the library:
each streamed text, batched with others, is what ``task.generate`` writes for it alone."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import torch

from rnnkit import decode
from rnnkit.data.tokenizers import build_tokenizer
from rnnkit.errors import UserError
from rnnkit.serve.streaming import GenerationBatcher, GenerationRequest
from rnnkit.tasks import LoadedRun, load_run, task_class, train_run
from rnnkit.tasks.lm import LanguageModelling, LMConfig
from rnnkit.train.config import load_config

SENTENCES = ["the cat sat on the mat .", "a dog ran to the big park .", "my bird sang ."]
SMALL = ["model.embedding_dim=16", "model.hidden_size=32", "train.threads=1", "train.lr=0.01"]

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def lm(tmp_path_factory: pytest.TempPathFactory) -> LoadedRun:
    """A word-level (whitespace) language model that has learnt three sentences, one a line."""
    folder = tmp_path_factory.mktemp("lm")
    rng = random.Random(0)
    lines = [rng.choice(SENTENCES) for _ in range(300)]
    (folder / "train.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    overrides = [*SMALL, "data.tokenizer=whitespace", "train.batch_size=8", "train.bptt=16",
                 "train.max_steps=150"]  # fmt: skip
    train_run("lm", [str(folder / "train.txt")], folder / "run", overrides=overrides, live=False)
    return load_run(folder / "run")


@pytest.fixture(scope="module")
def names(tmp_path_factory: pytest.TempPathFactory) -> LoadedRun:
    """A conditional model of soft and sharp invented names (``builtin:syllables``)."""
    out = tmp_path_factory.mktemp("generate") / "run"
    train_run("generate", ["builtin:syllables"], out, overrides=[*SMALL, "train.max_steps=60"],
              live=False)  # fmt: skip
    return load_run(out)


def untrained_lm(kind: str) -> LoadedRun:
    """A language model with random weights on a ``kind`` tokenizer: it writes every token,
    end-of-sentence, unknown and (BPE) lone UTF-8 bytes included."""
    text = "Ünïcode wörds, € signs — and plain words.\n" * 20
    overrides = [f"data.tokenizer={kind}", "model.embedding_dim=8", "model.hidden_size=16"]
    task = LanguageModelling(load_config(LMConfig, overrides=overrides))
    task.tokenizer = build_tokenizer(kind, text, vocab_size=300 if kind == "bpe" else None)
    torch.manual_seed(0)
    return LoadedRun(task, task.build_model().eval(), checkpoint=None)  # type: ignore[arg-type]


def batched(
    run: LoadedRun, work: Callable[[GenerationBatcher], Awaitable[Any]], **options: Any
) -> Any:
    """Run ``work`` on a started batcher over ``run``, then stop it."""

    async def main() -> Any:
        batcher = GenerationBatcher(run, **options)
        await batcher.start()
        try:
            return await work(batcher)
        finally:
            await batcher.stop()

    return asyncio.run(main())


async def pieces_of(batcher: GenerationBatcher, request: GenerationRequest) -> list[str]:
    return [piece async for piece in batcher.stream(request)]


async def text_of(batcher: GenerationBatcher, request: GenerationRequest) -> str:
    return "".join(await pieces_of(batcher, request))


def stream_pieces(
    run: LoadedRun, requests: list[GenerationRequest], **options: Any
) -> list[list[str]]:
    """The pieces streamed for each of ``requests``, all sent at once."""

    async def work(batcher: GenerationBatcher) -> list[list[str]]:
        return list(await asyncio.gather(*(pieces_of(batcher, r) for r in requests)))

    return batched(run, work, **options)


def stream_all(run: LoadedRun, requests: list[GenerationRequest], **options: Any) -> list[str]:
    """The streamed texts of ``requests``, all sent at once."""
    return ["".join(pieces) for pieces in stream_pieces(run, requests, **options)]


def library(run: LoadedRun, request: GenerationRequest, **options: Any) -> str:
    """What ``task.generate`` writes after the prompt for ``request`` alone."""
    r = request
    texts = run.task.generate(  # type: ignore[attr-defined]
        run.model, r.prompt, r.max_new_tokens, temperature=r.temperature, top_k=r.top_k,
        top_p=r.top_p, greedy=r.greedy, seed=r.seed, **options,
    )  # fmt: skip
    return texts[0][len(r.prompt) :]


def record_batch_sizes(run: LoadedRun, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The batch size of every ``model.step`` from now on."""
    sizes: list[int] = []
    step = run.model.step

    def recording(tokens: torch.Tensor, state: Any) -> Any:
        sizes.append(len(tokens))
        return step(tokens, state)

    monkeypatch.setattr(run.model, "step", recording)
    return sizes


def test_greedy_rows_batched_write_what_generate_writes_alone(lm, monkeypatch):
    sizes = record_batch_sizes(lm, monkeypatch)
    prompts = ["the", "a dog", "my", "the cat sat", "big", "on", "the mat .", "ran"]
    requests = [
        GenerationRequest(p, n, greedy=True) for p, n in zip(prompts, range(3, 40, 5), strict=True)
    ]
    pieces, steps = stream_pieces(lm, requests, max_batch_size=3), list(sizes)
    texts = ["".join(row) for row in pieces]
    assert texts == [library(lm, r) for r in requests]
    assert len(set(texts)) == len(texts) and max(steps) == 3
    assert [len(row) for row in pieces] == [r.max_new_tokens for r in requests]  # one a token


def test_rows_stop_at_the_end_of_sentence_where_generate_stops(lm, names):
    requests = [GenerationRequest(p, 30, greedy=True, stop_at_eos=True) for p in ("a", "my")]
    texts = stream_all(lm, requests)
    assert (
        texts
        == [library(lm, r, stop_at_eos=True) for r in requests]
        == [" dog ran to the big park .", " bird sang ."]
    )
    asked = [("", "soft"), ("Ki", "sharp"), ("lu", "soft"), ("", "sharp")]
    requests = [GenerationRequest(p, 30, greedy=True, condition={"label": c}) for p, c in asked]
    texts = stream_all(names, requests)
    assert texts == [library(names, r, condition=r.condition) for r in requests]
    running = GenerationRequest("", 30, greedy=True, stop_at_eos=False, condition={"": "soft"})
    expected = library(names, running, condition="soft", stop_at_eos=False)
    assert stream_all(names, [running]) == [expected]


@pytest.mark.parametrize("kind", ["char", "word", "whitespace", "bpe"])
def test_pieces_join_to_the_sampled_text_alone_or_batched(kind):
    run = untrained_lm(kind)
    requests = [
        GenerationRequest("Ünï", 40, seed=1),
        GenerationRequest("words,", 25, seed=2, temperature=0.8, top_k=50),
        GenerationRequest("", 33, seed=3, top_p=0.9, stop_at_eos=True),
    ]
    texts = stream_all(run, requests)
    assert texts == [library(run, r, stop_at_eos=bool(r.stop_at_eos)) for r in requests]
    assert [stream_all(run, [r])[0] for r in requests] == texts


def test_a_conditioned_sample_does_not_depend_on_its_batch(names):
    requests = [GenerationRequest(p, 20, seed=s, condition={"label": c}, temperature=1.5)
                for p, s, c in [("", 5, "soft"), ("Te", 6, "sharp"), ("", 7, "sharp")]]  # fmt: skip
    texts = stream_all(names, requests)
    assert [stream_all(names, [r])[0] for r in requests] == texts
    other_seed = GenerationRequest("Te", 20, seed=8, condition={"label": "sharp"}, temperature=1.5)
    assert stream_all(names, [other_seed]) != [texts[1]]


def test_a_consumer_that_leaves_frees_its_row_and_the_others_finish(lm, monkeypatch):
    sizes = record_batch_sizes(lm, monkeypatch)
    long = [GenerationRequest("the", 1000, greedy=True), GenerationRequest("a", 900, greedy=True)]

    async def work(batcher: GenerationBatcher) -> list[Any]:
        async def leave_after_three() -> None:
            async for _ in batcher.stream(GenerationRequest("my", 10_000, greedy=True)):
                if len(sizes) > 3:
                    return  # the generator is dropped: garbage collection closes it

        async def cancelled_after_three() -> None:
            async for _ in batcher.stream(GenerationRequest("a", 10_000, greedy=True)):
                if len(sizes) > 3:
                    await asyncio.sleep(3600)  # cancelled here, as a server cancels a gone client

        cancelled = asyncio.create_task(cancelled_after_three())
        texts = asyncio.gather(*(text_of(batcher, r) for r in long))
        await leave_after_three()
        while len(sizes) < 50:
            await asyncio.sleep(0.001)
        cancelled.cancel()
        return await texts

    texts, steps = batched(lm, work, max_wait_ms=200), list(sizes)  # the four start together
    assert texts == [library(lm, r) for r in long]
    # the rows that left were dropped (or the batch would have run 10,000 steps); the two
    # others ran to their ends
    assert steps[:3] == [4, 4, 4] and 2 in steps and steps[-100:] == [1] * 100
    assert len(steps) == 1000


def test_a_request_joins_the_running_batch_at_its_next_step(lm, monkeypatch):
    sizes = record_batch_sizes(lm, monkeypatch)
    first, joining = (
        GenerationRequest("the", 1000, greedy=True),
        GenerationRequest("my", 20, seed=4),
    )

    async def work(batcher: GenerationBatcher) -> list[str]:
        running = asyncio.create_task(text_of(batcher, first))
        while len(sizes) < 20:
            await asyncio.sleep(0.001)
        return [await text_of(batcher, joining), await running]

    texts, steps = batched(lm, work), list(sizes)
    assert texts == [library(lm, joining), library(lm, first)]
    joined = steps.index(2)
    assert len(steps) == 1000 and steps[joined : joined + 20] == [2] * 20 and 20 <= joined < 980


def test_a_failing_step_fails_its_rows_and_the_batcher_goes_on(lm, monkeypatch):
    step = lm.model.step

    def failing(tokens: torch.Tensor, state: Any) -> Any:
        monkeypatch.setattr(lm.model, "step", step)
        raise RuntimeError("out of memory")

    async def work(batcher: GenerationBatcher) -> str:
        monkeypatch.setattr(lm.model, "step", failing)
        requests = [GenerationRequest("the", 5), GenerationRequest("a", 5)]
        streams = [text_of(batcher, r) for r in requests]
        for outcome in await asyncio.gather(*streams, return_exceptions=True):
            assert isinstance(outcome, RuntimeError) and "out of memory" in str(outcome)
        return await text_of(batcher, GenerationRequest("the", 5, greedy=True))

    assert batched(lm, work) == library(lm, GenerationRequest("the", 5, greedy=True))


def test_a_row_whose_own_draw_fails_fails_alone(lm, monkeypatch):
    draw = decode.sample_tokens

    def failing_at_0_123(log_probs: torch.Tensor, temperature: float, *rest: Any) -> Any:
        if temperature == 0.123:
            raise RuntimeError("probability tensor contains either inf, nan or element < 0")
        return draw(log_probs, temperature, *rest)

    monkeypatch.setattr(decode, "sample_tokens", failing_at_0_123)
    good, bad = GenerationRequest("the", 30, seed=2), GenerationRequest("a", 30, temperature=0.123)

    async def work(batcher: GenerationBatcher) -> list[Any]:
        streams = [text_of(batcher, r) for r in (good, bad)]
        return list(await asyncio.gather(*streams, return_exceptions=True))

    text, error = batched(lm, work, max_wait_ms=200)
    assert text == library(lm, good)
    assert isinstance(error, RuntimeError) and "nan" in str(error)


def test_stop_lets_the_generations_in_flight_finish(lm):
    requests = [GenerationRequest("the", 200, greedy=True), GenerationRequest("my", 150, seed=0)]

    async def main() -> tuple[list[str], str]:
        batcher = GenerationBatcher(lm, max_batch_size=1)
        await batcher.start()
        texts = asyncio.gather(*(text_of(batcher, r) for r in requests))
        await asyncio.sleep(0.01)
        await batcher.stop()
        with pytest.raises(RuntimeError) as refused:
            await text_of(batcher, requests[0])
        return await texts, str(refused.value)

    texts, refused = asyncio.run(main())
    assert texts == [library(lm, r) for r in requests]
    assert "not running" in refused


def test_bad_requests_are_user_errors_before_any_piece(lm, names):
    word_lm = untrained_lm("word")
    classify = task_class("classify")(load_config(task_class("classify").config_class))
    cases: list[tuple[LoadedRun, GenerationRequest, str]] = [
        (names, GenerationRequest("", 5, condition={"label": "blue"}), "unknown label 'blue'"),
        (names, GenerationRequest("", 5), "no value for label"),
        (lm, GenerationRequest("the", 5, condition={"label": "soft"}), "takes no condition"),
        (word_lm, GenerationRequest("  ", 5), "holds no token this model knows"),
        (lm, GenerationRequest("the", 5, temperature=0.0), "must be a finite number > 0"),
        (lm, GenerationRequest("the", -1), "max_new_tokens must be >= 0"),
        (LoadedRun(classify, lm.model, lm.checkpoint), GenerationRequest("a", 5), "classify"),
    ]

    async def first_piece(batcher: GenerationBatcher, request: GenerationRequest) -> str:
        with pytest.raises(UserError) as error:
            await batcher.stream(request).__anext__()
        return str(error.value)

    for run, request, message in cases:
        assert message in batched(run, lambda b, r=request: first_piece(b, r))


def test_no_new_token_is_no_piece(lm):
    assert stream_all(lm, [GenerationRequest("the", 0)]) == [""]
