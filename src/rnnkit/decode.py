"""Decoding from any model with the step-wise interface: greedy, sampling, beam search.

The language model and the seq2seq decoder implement :class:`StepModel`; the functions here see
nothing else. The state is opaque: it is only passed to ``step`` and ``map_state``.

Every decoder starts from *the distribution of the next token and the state that produced it*:
the LM gets them by feeding a prompt (:func:`feed`), the seq2seq decoder by encoding the source
and feeding BOS. They return the generated tokens only (not the prompt).

    log_probs, state = feed(model, prompt, model.init_state(batch_size))  # (B, V), state
    tokens = greedy(model, log_probs, state, 50, eos_id=eos)               # list of B lists
    best = beam_search(model, log_probs, state, 50, beam_size=5, eos_id=eos)

End of sequence: a row that emits ``eos_id`` stops, with the eos included in its output. In
greedy decoding and sampling, finished rows leave the batch (``map_state``) and are never
stepped again; in beam search a beam ending in eos is set aside and never stepped, and a row
that has stopped searching rides along (its beams change nothing) until every row has stopped.

Beam search scores a hypothesis ``y`` of ``|y|`` generated tokens (eos included) by

    score(y) = log p(y) / |y| ** length_penalty

(``length_penalty = 0``: plain log-probability; ``1``: mean log-probability per token).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Protocol

import torch
from torch import Tensor

__all__ = [
    "Hypothesis",
    "StepModel",
    "beam_search",
    "beam_search_nbest",
    "check_sampling_args",
    "feed",
    "greedy",
    "sample",
    "sample_tokens",
    "top_k_filter",
    "top_p_filter",
]

EarlyStop = Literal["heuristic", "exact", "off"]
TEMPERATURE_RANGE = (1e-30, 1e30)  # sampling temperatures beyond it act as its ends


class StepModel(Protocol):
    """What a model provides to be decoded one token at a time (DESIGN: step-wise interface)."""

    def init_state(self, batch_size: int, *args: Any, **kwargs: Any) -> Any:
        """The state before any token, for ``batch_size`` rows (opaque to the decoders); a
        model may need more to start from (the seq2seq decoder: the source to encode)."""
        ...

    def step(self, tokens: Tensor, state: Any) -> tuple[Tensor, Any]:
        """Feed one token per row: ``tokens`` ``(B,)`` long -> (log-probs ``(B, V)``, state)."""
        ...

    def map_state(self, state: Any, index: Tensor) -> Any:
        """Select / reorder / repeat batch rows: new row ``i`` is old row ``index[i]``."""
        ...


@dataclass(frozen=True)
class Hypothesis:
    """One beam-search result: the generated ``tokens`` (eos included when it ended there),
    its length-normalised ``score`` and its total ``log_prob`` (natural log)."""

    tokens: list[int]
    score: float
    log_prob: float


# --------------------------------------------------------------------------- prompt


@torch.no_grad()
def feed(model: StepModel, tokens: Tensor, state: Any) -> tuple[Tensor, Any]:
    """Run a prompt through ``model.step`` one token at a time.

    Args:
        model: a :class:`StepModel`.
        tokens: ``(B, P)`` long, ``P >= 1``: the prompt of each row.
        state: the state of the ``B`` rows before the prompt (e.g. ``model.init_state(B)``).

    Returns:
        ``(log_probs, state)``: the next-token log-probs ``(B, V)`` after the last prompt token,
        and the state after it.
    """
    if tokens.dim() != 2 or tokens.shape[1] < 1:
        raise ValueError(f"tokens must have shape (B, P) with P >= 1, got {tuple(tokens.shape)}")
    log_probs = torch.empty(0)
    for column in tokens.unbind(dim=1):  # (B,) each
        log_probs, state = model.step(column, state)
    return log_probs, state


# --------------------------------------------------------------------------- greedy / sampling


def _float(x: Tensor) -> Tensor:
    """``x`` in float32 or wider (half-precision log-probs are too coarse to rank or sample)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def _check_max_new_tokens(max_new_tokens: int) -> None:
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")


def _generate(
    model: StepModel,
    log_probs: Tensor,
    state: Any,
    max_new_tokens: int,
    eos_id: int | None,
    pick: Callable[[Tensor], Tensor],
) -> list[list[int]]:
    """Shared loop of greedy and sampling: ``pick`` maps log-probs ``(B', V)`` to tokens ``(B',)``.

    Finished rows (last token ``eos_id``) leave the batch through ``model.map_state``; the model
    is not stepped after the last token is chosen.
    """
    outputs: list[list[int]] = [[] for _ in range(log_probs.shape[0])]
    rows = torch.arange(log_probs.shape[0], device=log_probs.device)  # (B',) original row ids
    for t in range(max_new_tokens):
        tokens = pick(log_probs)  # (B',)
        for row, token in zip(rows.tolist(), tokens.tolist(), strict=True):
            outputs[row].append(token)
        if t == max_new_tokens - 1:
            break
        if eos_id is not None:
            live = tokens != eos_id  # (B',)
            if not bool(live.any()):
                break
            if not bool(live.all()):
                keep = live.nonzero().squeeze(1)  # (B'',)
                rows, tokens, state = rows[keep], tokens[keep], model.map_state(state, keep)
        log_probs, state = model.step(tokens, state)
    return outputs


@torch.no_grad()
def greedy(
    model: StepModel,
    log_probs: Tensor,
    state: Any,
    max_new_tokens: int,
    *,
    eos_id: int | None = None,
) -> list[list[int]]:
    """Greedy decoding: the most probable token at every step (the first one on ties).

    Args:
        model: a :class:`StepModel`.
        log_probs: ``(B, V)``, the distribution of the first new token of each row.
        state: the state that produced ``log_probs`` (``B`` rows).
        max_new_tokens: the most tokens generated per row.
        eos_id: a row that emits it stops (eos kept as its last token). ``None``: no stop.

    Returns:
        ``B`` lists of token ids, each at most ``max_new_tokens`` long.
    """
    _check_max_new_tokens(max_new_tokens)
    return _generate(model, log_probs, state, max_new_tokens, eos_id, lambda lp: lp.argmax(-1))


def top_k_filter(logits: Tensor, k: int) -> Tensor:
    """Keep the ``k`` largest logits of each row, set the others to ``-inf``.

    Exactly ``k`` survive (ties broken by ``torch.topk``); ``k >= V`` keeps all.

    Args:
        logits: ``(..., V)``.
        k: ``>= 1``.

    Returns:
        A new tensor ``(..., V)``.
    """
    if k < 1:
        raise ValueError(f"top_k must be >= 1, got {k}")
    if k >= logits.shape[-1]:
        return logits.clone()
    values, indices = logits.topk(k, dim=-1)  # (..., k)
    return torch.full_like(logits, float("-inf")).scatter(-1, indices, values)


def top_p_filter(logits: Tensor, p: float) -> Tensor:
    """Nucleus filter (Holtzman et al. 2020): keep the smallest set of most probable tokens whose
    total probability is ``>= p``, set the other logits to ``-inf``.

    The most probable token is always kept; ``p = 1`` keeps every token. A set whose total falls
    short of ``p`` by mere rounding (16 ulps of the working precision) counts as reaching it, so
    probabilities ``[0.5, 0.3, 0.15, 0.05]`` with ``p = 0.8`` keep two tokens.

    Args:
        logits: ``(..., V)``, unnormalised log-probabilities.
        p: ``0 < p <= 1``.

    Returns:
        A new tensor ``(..., V)``.
    """
    if not 0.0 < p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {p}")
    if p == 1.0:
        return logits.clone()
    dtype = torch.promote_types(logits.dtype, torch.float32)
    sorted_logits, order = logits.to(dtype).sort(dim=-1, descending=True)  # (..., V)
    probs = sorted_logits.softmax(dim=-1)  # (..., V)
    mass_before = probs.cumsum(dim=-1) - probs  # (..., V) total of the more probable tokens
    tolerance = 16 * torch.finfo(dtype).eps
    drop_sorted = mass_before >= p - tolerance  # (..., V) the set already reached p
    drop_sorted[..., 0] = False  # always keep the most probable token
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)  # back to vocab order
    return logits.masked_fill(drop, float("-inf"))


def check_sampling_args(temperature: float, top_k: int | None, top_p: float | None) -> None:
    """A ``ValueError`` unless ``temperature`` is finite and ``> 0``, ``top_k >= 1`` and
    ``0 < top_p <= 1`` (the filters may be ``None``)."""
    if not 0 < temperature < math.inf:
        raise ValueError(f"temperature must be a finite number > 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")


@torch.no_grad()
def sample(
    model: StepModel,
    log_probs: Tensor,
    state: Any,
    max_new_tokens: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    eos_id: int | None = None,
    generator: torch.Generator | None = None,
) -> list[list[int]]:
    """Ancestral sampling: at each step ``log_probs / temperature``, then :func:`top_k_filter`,
    then :func:`top_p_filter`, then one draw per row with ``torch.multinomial``.

    Args:
        model, log_probs, state, max_new_tokens, eos_id: as in :func:`greedy`.
        temperature: ``> 0``; below 1 sharpens the distribution, above 1 flattens it.
        top_k: ``>= 1`` or ``None`` (no filter).
        top_p: in ``(0, 1]`` or ``None`` (no filter).
        generator: the random source (on the device of ``log_probs``); seeded, it makes the
            output reproducible.

    Returns:
        ``B`` lists of token ids, each at most ``max_new_tokens`` long.
    """
    _check_max_new_tokens(max_new_tokens)
    check_sampling_args(temperature, top_k, top_p)

    def pick(lp: Tensor) -> Tensor:
        return sample_tokens(lp, temperature, top_k, top_p, generator)

    return _generate(model, log_probs, state, max_new_tokens, eos_id, pick)


def sample_tokens(
    log_probs: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """One draw per row, as :func:`sample` makes each step: ``log_probs / temperature``, then
    :func:`top_k_filter`, then :func:`top_p_filter`, then ``torch.multinomial``. The scores are
    shifted so that each row's best is 0 before they are divided, which changes no probability,
    and the temperature is held within `TEMPERATURE_RANGE`, where float32 still divides: a
    tinier one leaves the best token(s) alone, a huger one makes every token the model can
    write equally likely, as their limits do.

    Args:
        log_probs: ``(B, V)``.
        temperature, top_k, top_p, generator: as in :func:`sample` (not checked here: see
            :func:`check_sampling_args`).

    Returns:
        ``(B,)`` long: the token drawn for each row.
    """
    scores = _float(log_probs)
    temperature = min(max(temperature, TEMPERATURE_RANGE[0]), TEMPERATURE_RANGE[1])
    logits = (scores - scores.amax(dim=-1, keepdim=True)) / temperature  # (B, V), <= 0
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = logits.softmax(dim=-1)  # (B, V)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)  # (B,)


# --------------------------------------------------------------------------- beam search


def _normalise(log_prob: float, length: int, length_penalty: float) -> float:
    """The beam-search score: ``log_prob / length ** length_penalty``."""
    return log_prob / float(length) ** length_penalty


class _Step(NamedTuple):
    """The candidates kept at one beam step, for ``B`` rows and ``K`` beams."""

    top_scores: Tensor  # (B, C) the best C = min(2K, K*V) expansions by log-prob
    top_beams: Tensor  # (B, C) the beam each expands
    top_tokens: Tensor  # (B, C) its new token
    live_scores: Tensor  # (B, K) the K best expansions not ending in eos (-inf: no beam)
    live_source: Tensor  # (B*K,) flat index (row * K + beam) of the beam each extends
    live_tokens: Tensor  # (B*K,) its new token


def _expand(scores: Tensor, log_probs: Tensor, eos_id: int | None) -> _Step:
    """Expand every beam by every token and keep the best ones.

    Args:
        scores: ``(B, K)`` log-probs of the live beams (``-inf`` for empty slots).
        log_probs: ``(B*K, V)`` next-token log-probs of each beam.
        eos_id: the token that ends a hypothesis, or ``None``.
    """
    batch, beams = scores.shape
    vocab = log_probs.shape[-1]
    total = (scores.unsqueeze(-1) + log_probs.reshape(batch, beams, vocab)).view(batch, -1)
    top_scores, top_index = total.topk(min(2 * beams, beams * vocab), dim=1)  # (B, C)
    top_beams, top_tokens = top_index // vocab, top_index % vocab  # (B, C)
    not_eos = top_scores  # (B, C)
    if eos_id is not None:
        not_eos = top_scores.masked_fill(top_tokens == eos_id, float("-inf"))
    live_scores, position = not_eos.topk(beams, dim=1)  # (B, K): at most K candidates are eos
    offsets = torch.arange(batch, device=scores.device).unsqueeze(1) * beams  # (B, 1)
    live_source = (offsets + top_beams.gather(1, position)).view(-1)  # (B*K,)
    live_tokens = top_tokens.gather(1, position).view(-1)  # (B*K,)
    return _Step(top_scores, top_beams, top_tokens, live_scores, live_source, live_tokens)


def _finish_eos(
    found: _Step,
    prefixes: Tensor,
    eos_id: int,
    done: list[bool],
    finished: list[list[Hypothesis]],
    length_penalty: float,
) -> None:
    """Set aside the expansions by ``eos_id`` ranked among the best ``K`` of their row.

    ``prefixes`` ``(B*K, t-1)`` are the beams' tokens before this step; rows already ``done``
    take nothing more. Each row's list is kept sorted, best first.
    """
    beams = found.live_scores.shape[1]
    ranked = found.top_scores[:, :beams]  # (B, K)
    is_eos = (found.top_tokens[:, :beams] == eos_id) & (ranked > float("-inf"))  # (B, K)
    length = prefixes.shape[1] + 1
    for row, rank in is_eos.nonzero().tolist():
        if done[row]:
            continue
        source = row * beams + int(found.top_beams[row, rank])
        log_prob = float(ranked[row, rank])
        tokens = [*prefixes[source].tolist(), eos_id]
        score = _normalise(log_prob, length, length_penalty)
        finished[row].append(Hypothesis(tokens, score, log_prob))
        finished[row].sort(key=lambda h: h.score, reverse=True)
        del finished[row][beams:]


def _update_done(
    done: list[bool],
    finished: list[list[Hypothesis]],
    live_scores: Tensor,
    length: int,
    max_new_tokens: int,
    length_penalty: float,
    early_stop: EarlyStop,
) -> None:
    """Mark the rows whose ``K`` finished hypotheses no live beam can beat any more.

    ``live_scores`` ``(B, K)``: log-probs of the live beams, ``length`` tokens long. A live beam's
    log-prob can only fall; its best reachable score is bounded by normalising at
    ``max_new_tokens`` (``length_penalty > 0``) or ``length + 1`` (``<= 0``) for ``"exact"``, and
    estimated at its current ``length`` for ``"heuristic"``.
    """
    beams = live_scores.shape[1]
    best_live = live_scores.max(dim=1).values.tolist()  # (B,)
    if early_stop == "exact":
        bound_length = max_new_tokens if length_penalty > 0 else length + 1
    else:
        bound_length = length
    for row, live in enumerate(best_live):
        if done[row] or live == float("-inf"):
            done[row] = True
            continue
        if early_stop == "off" or len(finished[row]) < beams:
            continue
        bound = _normalise(live, bound_length, length_penalty)
        done[row] = finished[row][-1].score >= bound


def _check_beam_args(
    max_new_tokens: int, beam_size: int, n_best: int, early_stop: EarlyStop
) -> None:
    _check_max_new_tokens(max_new_tokens)
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    if not 1 <= n_best <= beam_size:
        raise ValueError(f"n_best must be in [1, beam_size={beam_size}], got {n_best}")
    if early_stop not in ("heuristic", "exact", "off"):
        raise ValueError(f"early_stop must be 'heuristic', 'exact' or 'off', got {early_stop!r}")


@torch.no_grad()
def beam_search_nbest(
    model: StepModel,
    log_probs: Tensor,
    state: Any,
    max_new_tokens: int,
    *,
    beam_size: int = 4,
    n_best: int = 1,
    eos_id: int | None = None,
    length_penalty: float = 1.0,
    early_stop: EarlyStop = "heuristic",
) -> list[list[Hypothesis]]:
    """Beam search; the ``n_best`` best hypotheses of each row, best first.

    At each step every live beam is expanded by every token and each row keeps its ``beam_size``
    best expansions by log-prob; those ending in ``eos_id`` among them are set aside as finished
    and the beam is refilled with the best expansions that do not end in eos. The state follows
    the beams through ``model.map_state`` (flat index ``row * beam_size + beam``). Hypotheses are
    ranked by ``log_prob / length ** length_penalty`` (``length``: generated tokens, eos
    included). After ``max_new_tokens`` steps the live beams join the finished ones.

    A row stops once it has ``beam_size`` finished hypotheses and no live beam can beat the worst:
    ``early_stop="heuristic"`` judges a live beam by its score at its current length (the usual
    rule; ``beam_size=1`` is then exactly :func:`greedy`); ``"exact"`` by the best score it could
    still reach (needs log-probs <= 0; never changes the result); ``"off"`` never stops early.
    The search ends when every row has stopped (stopped rows stay in the batch meanwhile).
    Without eos, every hypothesis is exactly ``max_new_tokens`` long.

    Args:
        model, log_probs, state, max_new_tokens, eos_id: as in :func:`greedy`.
        beam_size: ``K >= 1``.
        n_best: ``1 <= n_best <= K`` hypotheses returned per row.
        length_penalty: the exponent ``alpha`` of the length normalisation.
        early_stop: ``"heuristic"``, ``"exact"`` or ``"off"``.

    Returns:
        ``B`` lists of :class:`Hypothesis` (each of ``n_best`` or fewer), best first.
    """
    _check_beam_args(max_new_tokens, beam_size, n_best, early_stop)
    batch, device = log_probs.shape[0], log_probs.device
    if max_new_tokens == 0:
        return [[Hypothesis([], 0.0, 0.0)] for _ in range(batch)]
    repeat = torch.arange(batch, device=device).repeat_interleave(beam_size)  # (B*K,)
    log_probs, state = log_probs[repeat], model.map_state(state, repeat)  # B*K rows
    scores = torch.full((batch, beam_size), float("-inf"), device=device)  # (B, K)
    scores[:, 0] = 0.0  # one beam per row to start with, no duplicates
    prefixes = torch.zeros(batch * beam_size, 0, dtype=torch.long, device=device)  # (B*K, t)
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]
    done = [False] * batch
    for t in range(1, max_new_tokens + 1):
        found = _expand(scores, _float(log_probs), eos_id)
        if eos_id is not None:
            _finish_eos(found, prefixes, eos_id, done, finished, length_penalty)
        scores = found.live_scores
        prefixes = torch.cat([prefixes[found.live_source], found.live_tokens.unsqueeze(1)], 1)
        _update_done(done, finished, scores, t, max_new_tokens, length_penalty, early_stop)
        if all(done) or t == max_new_tokens:
            break
        state = model.map_state(state, found.live_source)
        log_probs, state = model.step(found.live_tokens, state)
    _finish_live(scores, prefixes, done, finished, length_penalty)
    return [row[:n_best] for row in finished]


def _finish_live(
    scores: Tensor,
    prefixes: Tensor,
    done: list[bool],
    finished: list[list[Hypothesis]],
    length_penalty: float,
) -> None:
    """At the last step, add the live beams (``scores`` ``(B, K)``, ``prefixes`` ``(B*K, T)``) of
    the rows still searching to their finished hypotheses."""
    beams, length = scores.shape[1], prefixes.shape[1]
    for row, row_scores in enumerate(scores.tolist()):
        if done[row]:
            continue
        for beam, log_prob in enumerate(row_scores):
            if log_prob == float("-inf"):
                continue
            tokens = prefixes[row * beams + beam].tolist()
            score = _normalise(log_prob, length, length_penalty)
            finished[row].append(Hypothesis(tokens, score, log_prob))
        finished[row].sort(key=lambda h: h.score, reverse=True)


@torch.no_grad()
def beam_search(
    model: StepModel,
    log_probs: Tensor,
    state: Any,
    max_new_tokens: int,
    *,
    beam_size: int = 4,
    eos_id: int | None = None,
    length_penalty: float = 1.0,
    early_stop: EarlyStop = "heuristic",
) -> list[Hypothesis]:
    """Beam search; the best :class:`Hypothesis` of each of the ``B`` rows.

    See :func:`beam_search_nbest` for the algorithm, the score and the arguments.
    """
    best = beam_search_nbest(
        model,
        log_probs,
        state,
        max_new_tokens,
        beam_size=beam_size,
        n_best=1,
        eos_id=eos_id,
        length_penalty=length_penalty,
        early_stop=early_stop,
    )
    return [row[0] for row in best]
