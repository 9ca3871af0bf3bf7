"""The translator's export: the encoder as one graph, the decoder's single step as another.

- ``encoder`` (``model.onnx``): ``(source (N, S), lengths (N,)) -> (h, c, feed, memory, keys,
  mask)`` — the decoder's state before the begin token: its recurrent state (``c`` for an
  LSTM only), the attentional state ``feed`` ``(N, H)`` (zeros), the encoder's outputs
  ``memory`` ``(N, S, H)``, their attention ``keys`` ``(N, S, K)`` and the source ``mask``
  ``(N, S)`` (True at real tokens). A source is its token ids followed by the end id.
- ``decoder_step`` (``model.decoder_step.onnx``): ``(token (N,), h, c, feed, memory, keys,
  mask) -> (log_probs (N, V), h_out, c_out, feed_out)``, exactly `Seq2Seq.step` (padding and
  the begin token get ``-inf``).

Decoding: feed the begin id, then the chosen token, until the end id or
``ceil(max_ratio · source tokens) + max_extra`` tokens (``facts["decode"]``; the last allowed
token must be the end id); greedy takes the argmax, beam search keeps the ``beam_size`` best
prefixes by total log-probability, normalised by ``length ** length_penalty`` at the end.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor, nn

from rnnkit.export.facts import tokenizer_facts
from rnnkit.export.graph import BATCH, TIME, ExportPlan, Graph, Port, random_lengths, random_tokens
from rnnkit.export.state_ports import StatePorts, as_state, as_tuple
from rnnkit.models.seq2seq import DecoderState, Seq2Seq
from rnnkit.tasks.runs import LoadedRun
from rnnkit.tasks.translate import Translation

SOURCE = "source"
NO_LIMIT = 2**62  # the step never forces the end token; the runtime counts


class EncoderGraph(nn.Module):
    """`Seq2Seq.init_state`: a source batch -> the decoder's state before the begin token."""

    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.model = model

    def forward(self, source: Tensor, lengths: Tensor) -> tuple[Tensor, ...]:
        limit = torch.full_like(lengths, NO_LIMIT)
        state = self.model.init_state(source.shape[0], source, lengths, limit)
        return *as_tuple(state.rnn), state.feed, state.memory, state.keys, state.mask


class DecoderStepGraph(nn.Module):
    """`Seq2Seq.step` with the decoder state as separate tensors."""

    def __init__(self, model: Seq2Seq, state_parts: int) -> None:
        super().__init__()
        self.model = model
        self.state_parts = state_parts

    def forward(self, token: Tensor, *inputs: Tensor) -> tuple[Tensor, ...]:
        rnn, (feed, memory, keys, mask) = inputs[: self.state_parts], inputs[self.state_parts :]
        limit = torch.full_like(token, NO_LIMIT)
        state = DecoderState(as_state(rnn), feed, memory, keys, mask, limit, 0)
        log_probs, after = self.model.step(token, state)
        return log_probs, *as_tuple(after.rnn), after.feed


def plan(run: LoadedRun) -> ExportPlan:
    """The encoder and decoder-step graphs of a translate run."""
    task = cast(Translation, run.task)
    model = cast(Seq2Seq, run.model)
    source_vocab = task.source_tokenizer.vocab_size
    target_vocab = task.target_tokenizer.vocab_size
    rnn = StatePorts(lambda n: model.decoder.initial_state(n))
    hidden = model.decoder.hidden_size
    keys_size = _keys_size(model)

    def encoder_example(batch: int, length: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        lengths = random_lengths(batch, length, generator)
        return random_tokens(batch, length, source_vocab, generator, lengths), lengths

    def step_example(batch: int, length: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        token = torch.randint(1, target_vocab, (batch,), generator=generator)
        with torch.no_grad():
            encoded = EncoderGraph(model)(*encoder_example(batch, length, generator))
        feed = 0.5 * torch.randn(batch, hidden, generator=generator)  # mid-sentence, not zeros
        return token, *rnn.example(batch, generator), feed, *encoded[len(rnn.names) + 1 :]

    context = (
        Port("feed", (BATCH, hidden), "float32", "the attentional state h~ (zeros before bos)"),
        Port("memory", (BATCH, TIME, hidden), "float32", "the encoder's output per source token"),
        Port("keys", (BATCH, TIME, keys_size), "float32", "the attention's keys of the memory"),
        Port("mask", (BATCH, TIME), "bool", "True at real source tokens"),
    )
    encoder = Graph(
        name="encoder",
        doc="a padded batch of source token ids -> the decoder's state before the begin token",
        module=EncoderGraph(model),
        inputs=(
            Port(SOURCE, (BATCH, TIME), "int64", "source ids, each ending in eos; 0 past it"),
            Port("lengths", (BATCH,), "int64", "the number of ids of each source, eos included"),
        ),
        outputs=(*rnn.ports("the decoder's state before bos"), *context),
        example=encoder_example,
    )
    step = Graph(
        name="decoder_step",
        doc="one target token per row -> the next token's log-probabilities and the state",
        module=DecoderStepGraph(model, len(rnn.names)),
        inputs=(
            Port("token", (BATCH,), "int64", "the previous target token (bos first)"),
            *rnn.ports("the decoder's state"),
            *context,
        ),
        outputs=(
            Port("log_probs", (BATCH, target_vocab), "float32", "log p(next token); -inf: never"),
            *rnn.ports("the decoder's state after the token", "_out"),
            Port("feed_out", (BATCH, hidden), "float32", "the attentional state after the token"),
        ),
        example=step_example,
    )
    settings = task.settings()
    facts = {
        "source_tokenizer": tokenizer_facts(task.source_tokenizer),
        "target_tokenizer": tokenizer_facts(task.target_tokenizer),
        "decode": {
            "beam_size": settings.beam_size,
            "length_penalty": settings.length_penalty,
            "max_ratio": settings.max_ratio,
            "max_extra": settings.max_extra,
        },
    }
    return ExportPlan([encoder, step], facts)


def _keys_size(model: Seq2Seq) -> int:
    """The last size of the attention keys of one encoded token."""
    with torch.no_grad():
        memory = torch.zeros(1, 1, model.decoder.hidden_size)
        return int((memory if model.attention is None else model.attention.keys(memory)).shape[-1])
