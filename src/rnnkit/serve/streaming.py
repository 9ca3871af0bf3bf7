"""Micro-batched, streaming text generation: what ``POST /v1/generate`` of ``rnnkit serve`` runs.

Concurrent requests are decoded together, one ``model.step`` per token for the whole batch, by
*continuous batching*: a request joins the running batch at its next step (while the batch has
room: ``max_batch_size`` rows), and a row leaves it as soon as it is finished, or its client has
gone. When the batch is empty, the first request waits up to ``max_wait_ms`` for others to
start with it. Every row starts from its own state (`stream_state`, joined to the batch's with
the model's ``cat_state``) and feeds its own prompt one token a step inside the batched loop,
then picks its own tokens: greedily, or drawn with its own temperature, top-k, top-p and a
``torch.Generator`` seeded by the request, so a request's text does not depend on the others in
its batch. Each row follows its task's ``generate`` exactly: the same prompt ids, stop and
rendering, so greedy output is what ``task.generate(model, prompt, length, greedy=True)``
writes after the prompt (the lm task's samples with a seed too; the generate task draws its
samples in a batch of 16, so only its greedy texts are the same; nor does a stream redraw an
empty text, as ``generate`` does).

All model work runs in one worker thread, never two torch computations at once and never on
the event loop; the worker hands each text piece to its request's asyncio queue through
``loop.call_soon_threadsafe``.

    batcher = GenerationBatcher(load_run("runs/demo"), max_batch_size=32)
    await batcher.start()
    async for piece in batcher.stream(GenerationRequest("Return ", 50, temperature=0.7)):
        print(piece, end="")
    await batcher.stop()
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast, runtime_checkable

import torch
from torch import Tensor

from rnnkit import decode
from rnnkit.data.tokenizers import Tokenizer
from rnnkit.errors import UserError
from rnnkit.tasks import LoadedRun

REPLACEMENT = "\ufffd"  # what a byte-level BPE decodes an incomplete UTF-8 character to
CONTEXT = 8  # tokens re-rendered before the new ones, enough for any tokenizer's spacing / bytes


@dataclass(frozen=True)
class GenerationRequest:
    """One text to generate: the options of the task's ``generate`` for one sample.

    ``stop_at_eos``: ``None`` for the task's own default (lm: no, generate: yes). ``condition``:
    field -> value for the generate task (``{"": VALUE}`` for a model with one field)."""

    prompt: str
    max_new_tokens: int
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    greedy: bool = False
    seed: int | None = None
    stop_at_eos: bool | None = None
    condition: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class StreamsText(Protocol):
    """A task that writes text one row at a time (`rnnkit.tasks.lm.LanguageModelling`,
    `rnnkit.tasks.generate.ConditionalGeneration`)."""

    tokenizer: Tokenizer
    stops_at_eos: bool

    def stream_prompt(
        self, prompt: str, condition: Mapping[str, str]
    ) -> tuple[list[int], list[int]]: ...

    def stream_state(self, model: Any, condition_ids: Sequence[int]) -> Any: ...

    def continuation(self, prompt: str, ids: list[int], stopped_at_eos: bool) -> str: ...


class BatchingStepModel(decode.StepModel, Protocol):
    """A `rnnkit.decode.StepModel` whose states of separate batches join into one."""

    def cat_state(self, states: Sequence[Any]) -> Any: ...


class _End:
    """Put in a request's queue after its last piece."""


END = _End()
Item = str | _End | BaseException  # what the worker hands a request


class _TextPieces:
    """The text each new token of a row adds to its continuation, as the task renders it
    (`continuation`): what rendering the tokens so far adds to rendering those given out.

    Both renderings start `CONTEXT` tokens before the new ones, enough to settle a word's
    leading space and a BPE character's bytes, so a piece costs the same at any length (the
    first tokens are rendered after the prompt, which may add a space). Rendering more tokens
    only appends text (a dropped final end-of-sentence token appends nothing), except where the
    text ends in an incomplete UTF-8 character (BPE byte tokens), shown as U+FFFD until it is
    complete: such a text is held back, and the last piece gives out whatever is left."""

    def __init__(self, task: StreamsText, prompt: str, stop_at_eos: bool) -> None:
        self.task, self.prompt, self.stop_at_eos = task, prompt, stop_at_eos
        self.given = 0  # tokens whose text has been given out

    def next(self, ids: list[int], final: bool) -> str:
        """The piece of ``ids`` (the row's generated tokens so far) not given out yet."""
        start = max(self.given - CONTEXT, 0)
        prompt = self.prompt if start == 0 else ""
        before = self.task.continuation(prompt, ids[start : self.given], False)
        after = self.task.continuation(prompt, ids[start:], final and self.stop_at_eos)
        if not final and after.endswith(REPLACEMENT):
            return ""
        self.given = len(ids)
        return after[len(before) :]


class _Row:
    """One request in the batch: the prompt it feeds, how it picks, the tokens it wrote."""

    def __init__(
        self,
        request: GenerationRequest,
        task: StreamsText,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.request = request
        self.prompt_ids, self.condition_ids = task.stream_prompt(request.prompt, request.condition)
        stop = task.stops_at_eos if request.stop_at_eos is None else request.stop_at_eos
        self.eos_id = task.tokenizer.eos_id if stop else None
        self.pieces = _TextPieces(task, request.prompt, stop)
        self.loop, self.inbox = loop, asyncio.Queue[Item]()
        self.generator: torch.Generator | None = None  # set when it joins a batch
        self.fed = 0  # tokens fed to the model so far (the prompt's, then its own)
        self.generated: list[int] = []
        self.finished = False
        self.cancelled = False  # set by the consumer's side when it stops listening

    def deliver(self, item: Item) -> None:
        """Hand ``item`` to the consumer (from the worker thread); a closed event loop means
        nobody listens any more."""
        try:
            self.loop.call_soon_threadsafe(self.inbox.put_nowait, item)
        except RuntimeError:
            self.cancelled = True

    def next_input(self) -> int:
        """The token this row feeds at the next step."""
        return self.prompt_ids[self.fed] if self.fed < len(self.prompt_ids) else self.generated[-1]

    def advance(self, log_probs: Tensor, best: int) -> None:
        """Take the step's result: ``log_probs`` ``(1, V)`` after the token fed, ``best`` their
        argmax. Past the prompt, pick the next token and hand its text to the consumer."""
        self.fed += 1
        if self.fed < len(self.prompt_ids):
            return
        r = self.request
        if r.greedy:
            token = best
        else:
            token = int(
                decode.sample_tokens(log_probs, r.temperature, r.top_k, r.top_p, self.generator)
            )
        self.generated.append(token)
        self.finished = len(self.generated) == r.max_new_tokens or token == self.eos_id
        piece = self.pieces.next(self.generated, self.finished)
        if piece:
            self.deliver(piece)
        if self.finished:
            self.deliver(END)


class _Batch:
    """The rows decoded together and their joint state (``None`` when there are none)."""

    def __init__(self, task: StreamsText, model: BatchingStepModel) -> None:
        self.task, self.model = task, model
        self.device = next(cast(torch.nn.Module, model).parameters()).device
        self.rows: list[_Row] = []
        self.state: Any = None

    def add(self, rows: list[_Row]) -> None:
        """Start ``rows`` at their first prompt token."""
        if not rows:
            return
        states = [self.state] if self.rows else []
        self.rows += rows
        for row in rows:
            seed = torch.seed() if row.request.seed is None else row.request.seed
            row.generator = torch.Generator(self.device).manual_seed(seed)
            states.append(self.task.stream_state(self.model, row.condition_ids))
        self.state = self.model.cat_state(states)

    def prune(self) -> None:
        """Drop the rows that finished or whose consumer left."""
        keep = [i for i, row in enumerate(self.rows) if not (row.finished or row.cancelled)]
        if len(keep) < len(self.rows):
            self.rows = [self.rows[i] for i in keep]
            index = torch.tensor(keep, device=self.device)
            self.state = self.model.map_state(self.state, index) if keep else None

    def step(self) -> None:
        """Feed every row its next token; each row past its prompt picks one."""
        tokens = torch.tensor([row.next_input() for row in self.rows], device=self.device)
        log_probs, self.state = self.model.step(tokens, self.state)  # (B, V)
        best = log_probs.argmax(dim=-1).tolist()  # (B,)
        for index, row in enumerate(self.rows):
            try:
                row.advance(log_probs[index : index + 1], best[index])
            except Exception as error:  # a row's own pick fails that row, not its batch
                row.deliver(error)
                row.finished = True

    def fail(self, error: Exception) -> None:
        """Hand ``error`` to every row and empty the batch."""
        for row in self.rows:
            row.deliver(error)
        self.rows, self.state = [], None


class GenerationBatcher:
    """Streams the texts of concurrent `GenerationRequest` s, decoded in batches (see the
    module docstring).

    Args:
        run: a loaded lm or generate run (another task's requests get a `UserError`).
        max_batch_size: the most rows decoded together (1: one request at a time).
        max_wait_ms: how long the first request to an idle batcher waits for others.
    """

    def __init__(self, run: LoadedRun, max_batch_size: int = 32, max_wait_ms: float = 0.0) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        self.run = run
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self._pending: queue.SimpleQueue[_Row | None] = queue.SimpleQueue()  # None: stop
        self._worker: threading.Thread | None = None
        self._stopped = False

    async def start(self) -> None:
        """Start the worker thread."""
        if self._worker is not None:
            raise RuntimeError("the generation batcher was already started")
        self._worker = threading.Thread(target=self._work, name="rnnkit-generation", daemon=True)
        self._worker.start()

    async def stop(self) -> None:
        """Take no new request; return when every accepted one has finished."""
        if self._worker is None or self._stopped:
            return
        self._stopped = True
        self._pending.put(None)
        await asyncio.to_thread(self._worker.join)

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        """The text pieces of ``request``'s new tokens, as they are made; joined, the text
        ``generate`` writes after the prompt. A bad request raises `UserError` before the first
        piece. Leaving the loop (or being cancelled) frees the request's row."""
        if self._worker is None or self._stopped:
            raise RuntimeError("the generation batcher is not running (start() it first)")
        task = self.run.task
        if not isinstance(task, StreamsText):
            raise UserError(f"a {task.name} model does not generate text")
        _check(request)
        row = _Row(request, task, asyncio.get_running_loop())
        if request.max_new_tokens == 0:
            return
        self._pending.put(row)
        try:
            while not isinstance(item := await row.inbox.get(), _End):
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            row.cancelled = True

    # --- the worker thread -------------------------------------------------------------------
    def _work(self) -> None:
        """Admit requests and step the batch until `stop` and the last row finished."""
        task, model = cast(StreamsText, self.run.task), cast(BatchingStepModel, self.run.model)
        batch, taking = _Batch(task, model), True
        with torch.inference_mode():
            while taking or batch.rows:
                try:
                    batch.prune()
                    if taking:
                        taking = self._admit(batch)
                    if batch.rows:
                        batch.step()
                except Exception as error:  # the worker outlives a batch it cannot step
                    batch.fail(error)

    def _admit(self, batch: _Batch) -> bool:
        """Move waiting requests into ``batch`` while it has room; an empty batch waits for
        one, then up to ``max_wait`` for more. False once `stop`'s mark is read."""
        arrived: list[_Row] = []
        deadline = 0.0
        while len(batch.rows) + len(arrived) < self.max_batch_size:
            idle = not batch.rows and not arrived
            timeout = None if idle else max(deadline - time.monotonic(), 0.0)
            try:
                row = self._pending.get(timeout=timeout)
            except queue.Empty:
                break
            if row is None:
                batch.add(arrived)
                return False
            if row.cancelled:
                continue
            if idle:
                deadline = time.monotonic() + self.max_wait
            arrived.append(row)
        batch.add(arrived)
        return True


def _check(request: GenerationRequest) -> None:
    """A `UserError` for settings no text can be generated with."""
    if request.max_new_tokens < 0:
        raise UserError(f"max_new_tokens must be >= 0, got {request.max_new_tokens}")
    if not request.greedy:
        try:
            decode.check_sampling_args(request.temperature, request.top_k, request.top_p)
        except ValueError as error:
            raise UserError(str(error)) from None
