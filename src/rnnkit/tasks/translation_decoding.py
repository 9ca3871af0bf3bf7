"""Translating encoded sentences with a trained `Seq2Seq`, in batches of similar length.

Each batch is encoded once and searched with `rnnkit.decode.beam_search_nbest` (a beam of 1 is
greedy decoding); a row may write at most ``ceil(max_ratio * source tokens) + max_extra``
tokens, eos included (`Seq2Seq.step` forces eos at the row's last one). When attention weights
are wanted (``attention``, ``replace_unk``), the hypotheses are scored again teacher-forced,
which gives the weights each token was produced with.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import torch

from rnnkit.data.tokenizers import Tokenizer
from rnnkit.decode import Hypothesis, beam_search_nbest
from rnnkit.models.seq2seq import Seq2Seq
from rnnkit.tasks.supervised import EVAL_BATCH_SIZE, in_input_order, pad
from rnnkit.tasks.translation_output import content_ids, render, source_token_texts, token_texts


class TranslationSettings(NamedTuple):
    """How to search: beam width, hypotheses returned, length normalisation and limit, unknown
    word replacement, whether to return the attention weights, and sentences per batch."""

    beam_size: int = 5
    n_best: int = 1
    length_penalty: float = 1.0
    max_ratio: float = 2.0
    max_extra: int = 10
    replace_unk: bool = False
    attention: bool = False
    batch_size: int = EVAL_BATCH_SIZE


class Encoded(Protocol):
    """An encoded sentence: source ids ending in eos, and its text (``pair.source``)."""

    @property
    def source(self) -> list[int]: ...

    @property
    def pair(self) -> Any: ...


@dataclass(frozen=True)
class Translated:
    """One hypothesis for a source sentence."""

    source: str
    text: str
    tokens: list[str]  # the output tokens' texts (after unknown-word replacement), eos excluded
    source_tokens: list[str]  # the source's tokens, eos excluded
    score: float  # log p / length ** length_penalty (length: tokens with eos)
    log_prob: float
    attention: list[list[float]] | None  # (tokens + eos) x (source tokens + eos)

    def record(self) -> dict[str, Any]:
        """The JSON-ready form ``rnnkit translate --json`` prints."""
        record: dict[str, Any] = {
            "source": self.source,
            "translation": self.text,
            "score": self.score,
            "log_prob": self.log_prob,
            "tokens": self.tokens,
            "source_tokens": self.source_tokens,
        }
        if self.attention is not None:
            record["attention"] = self.attention
        return record


def translate_examples(
    model: Seq2Seq,
    examples: Sequence[Encoded],
    source_tokenizer: Tokenizer,
    target_tokenizer: Tokenizer,
    settings: TranslationSettings,
) -> list[list[Translated]]:
    """The ``n_best`` translations of every example (best first), in input order."""
    if not 1 <= settings.n_best <= settings.beam_size:
        raise ValueError(f"n_best must be in [1, beam_size={settings.beam_size}]")
    model.eval()

    def batch(indices: list[int]) -> list[list[Translated]]:
        chosen = [examples[i] for i in indices]
        return _translate_batch(model, chosen, source_tokenizer, target_tokenizer, settings)

    return in_input_order([len(e.source) for e in examples], batch, settings.batch_size)


@torch.no_grad()
def _translate_batch(
    model: Seq2Seq,
    examples: Sequence[Encoded],
    source_tokenizer: Tokenizer,
    target_tokenizer: Tokenizer,
    settings: TranslationSettings,
) -> list[list[Translated]]:
    device = next(model.parameters()).device
    source, lengths = pad([e.source for e in examples])
    source = source.to(device)
    limit = torch.tensor([_limit(len(e.source) - 1, settings) for e in examples])
    log_probs, state = model.start(source, lengths, limit)
    found = beam_search_nbest(
        model,
        log_probs,
        state,
        int(limit.max()),
        beam_size=settings.beam_size,
        n_best=settings.n_best,
        eos_id=target_tokenizer.eos_id,
        length_penalty=settings.length_penalty,
    )
    flat = [(row, hypothesis) for row, best in enumerate(found) for hypothesis in best]
    attention: list[Any] = [None] * len(flat)
    if settings.attention or settings.replace_unk:
        attention = _attention(model, source, lengths, flat)
    sources = [source_token_texts(e.pair.source, source_tokenizer) for e in examples]
    results: list[list[Translated]] = [[] for _ in examples]
    for (row, hypothesis), weights in zip(flat, attention, strict=True):
        pair, source_tokens = examples[row].pair, sources[row]
        ids = content_ids(hypothesis.tokens, target_tokenizer)
        replace = settings.replace_unk and weights is not None
        texts = token_texts(ids, target_tokenizer, source_tokens if replace else None, weights)
        results[row].append(
            Translated(
                pair.source,
                render(ids, texts, target_tokenizer),
                texts,
                source_tokens,
                hypothesis.score,
                hypothesis.log_prob,
                weights if settings.attention else None,
            )
        )
    return results


def _limit(source_tokens: int, settings: TranslationSettings) -> int:
    """The most tokens (eos included) a translation of ``source_tokens`` tokens may have; an
    empty source gets just eos, so empty lines translate to empty lines."""
    if source_tokens == 0:
        return 1
    return math.ceil(settings.max_ratio * source_tokens) + settings.max_extra


def _attention(
    model: Seq2Seq,
    source: torch.Tensor,
    lengths: torch.Tensor,
    flat: list[tuple[int, Hypothesis]],
) -> list[list[list[float]] | None]:
    """The attention rows ``(tokens, source length)`` of each hypothesis, teacher-forced; None
    for every hypothesis when the model has no attention."""
    rows = torch.tensor([row for row, _ in flat], device=source.device)
    outputs = [h.tokens or [model.eos_id] for _, h in flat]
    target_in, _ = pad([[model.bos_id, *tokens[:-1]] for tokens in outputs])
    target_out, _ = pad(outputs)
    _, weights = model.score(
        source[rows], lengths[rows.cpu()], target_in.to(source.device), target_out.to(source.device)
    )
    if weights is None:
        return [None] * len(flat)
    return [
        weights[i, : len(tokens), : int(lengths[row])].tolist()
        for i, ((row, _), tokens) in enumerate(zip(flat, outputs, strict=True))
    ]
