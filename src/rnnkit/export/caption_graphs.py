"""The captioner's export: an image encoder graph and a decoder graph that writes one word.

- ``encoder`` (``model.onnx``): ``(images (N, 3, S, S)) -> (h, c, memory (N, L, D), keys
  (N, L, A))``: the decoder's state before the begin token and the image's annotation vectors
  with their share of the attention scores (`Captioner.init_state`). ``images`` are RGB
  resized to ``S x S`` and normalised, ``(p / 255 - mean_c) / std_c`` with the facts' ``mean``
  and ``std``; ``L = h · w`` positions of the encoder's grid (the facts' ``grid``).
- ``step`` (``model.step.onnx``): ``(token (N,), h, c, memory, keys) -> (log_probs (N, V),
  h_out, c_out, attention (N, L))``, exactly `Captioner.step`; ``attention`` holds the
  weights over the grid the word was written with (row-major ``(h, w)``). Padding and the
  begin token have ``-inf``.

A model without attention (``model.attention=none``) has no ``memory``, ``keys`` or
``attention``: its encoder gives the state only and its step takes and gives the state. A GRU
decoder has ``h`` only. Writing a caption, as ``rnnkit caption --beam 1`` does: encode, feed
the begin token through ``step``, then repeatedly feed back the most probable word until the
end token, at most ``max_length`` words; the caption is the tokenizer's decoding of the words.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor, nn

from rnnkit.data.tokenizers import Tokenizer
from rnnkit.export.facts import tokenizer_facts
from rnnkit.export.graph import BATCH, ExportPlan, Graph, Port
from rnnkit.export.state_ports import StatePorts
from rnnkit.models.captioner import Captioner, CaptionState
from rnnkit.tasks.caption import Captioning
from rnnkit.tasks.runs import LoadedRun

IMAGE_DOCS = {"memory": "the annotation vectors a_i", "keys": "W_a a_i, their attention keys"}


class EncoderGraph(nn.Module):
    """`Captioner.init_state`: the images' decoder state and, with attention, their annotation
    vectors and keys."""

    def __init__(self, model: Captioner) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        state = self.model.init_state(images.shape[0], images)
        if self.model.attention is None:
            return state.rnn
        return *state.rnn, state.memory, state.keys


class StepGraph(nn.Module):
    """`Captioner.step` from the state as tensors: ``(token, *rnn, memory, keys)`` with
    attention, ``(token, *rnn)`` without."""

    def __init__(self, model: Captioner, parts: int, grid: tuple[int, int]) -> None:
        super().__init__()
        self.model, self.parts, self.grid = model, parts, grid

    def forward(self, token: Tensor, *tensors: Tensor) -> tuple[Tensor, ...]:
        rnn, image = tensors[: self.parts], tensors[self.parts :]
        memory, keys = image if image else (rnn[0], rnn[0])  # without attention: never read
        weights = memory.new_zeros(memory.shape[:2])
        log_probs, state = self.model.step(
            token, CaptionState(rnn, memory, keys, weights, self.grid)
        )
        if self.model.attention is None:
            return log_probs, *state.rnn
        return log_probs, *state.rnn, state.weights


def plan(run: LoadedRun) -> ExportPlan:
    """The encoder and decoder step graphs of a caption run."""
    task = cast(Captioning, run.task)
    model = cast(Captioner, run.model)
    tokenizer = cast(Tokenizer, task.tokenizer)
    vocab_size, size = tokenizer.vocab_size, task.image_size
    with torch.no_grad():
        probe = model.init_state(1, torch.zeros(1, 3, size, size))
    grid, positions = probe.grid, probe.memory.shape[1]  # L = h · w, fixed by the image size
    attends = model.attention is not None
    state = StatePorts(lambda n: tuple(torch.zeros(n, part.shape[1]) for part in probe.rnn))
    widths = {"memory": probe.memory.shape[2], "keys": probe.keys.shape[2]} if attends else {}
    image_side = [
        Port(name, (BATCH, positions, width), "float32", IMAGE_DOCS[name])
        for name, width in widths.items()
    ]

    def images(batch: int, _length: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        return (torch.randn(batch, 3, size, size, generator=generator),)

    def step_example(batch: int, _length: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        token = torch.randint(1, vocab_size, (batch,), generator=generator)
        features = [
            torch.randn(batch, positions, width, generator=generator) for width in widths.values()
        ]
        return token, *state.example(batch, generator), *features

    encoder = Graph(
        name="encoder",
        doc="normalised images -> the decoder's state before the begin token"
        + (" and the image's annotation vectors" if attends else ""),
        module=EncoderGraph(model),
        inputs=(Port("images", (BATCH, 3, size, size), "float32", "normalised RGB images"),),
        outputs=(*state.ports("the state before the begin token"), *image_side),
        example=images,
    )
    attention = [
        Port("attention", (BATCH, positions), "float32", "the word's weights over the grid")
    ] if attends else []  # fmt: skip
    step = Graph(
        name="step",
        doc="one word per row -> the next word's log-probabilities",
        module=StepGraph(model, len(probe.rnn), grid),
        inputs=(
            Port("token", (BATCH,), "int64", "the last word of each row (first: bos)"),
            *state.ports("the state after the words so far (first: the encoder's)"),
            *image_side,
        ),
        outputs=(
            Port("log_probs", (BATCH, vocab_size), "float32", "log p(next word); -inf: never"),
            *state.ports("the state after the word", "_out"),
            *attention,
        ),
        example=step_example,
    )
    data = task.config.data
    facts = {
        "image_size": size,
        "mean": list(data.mean),
        "std": list(data.std),
        "normalise": (
            "RGB resized to image_size x image_size (bilinear, antialiased), then per channel "
            "(p / 255 - mean) / std, as (N, 3, image_size, image_size)"
        ),
        "grid": list(grid),
        "attention": attends,
        "bos_id": model.bos_id,
        "eos_id": model.eos_id,
        "max_length": task.config.decode.max_length,
        "decode": (
            "encoder, then feed bos_id through step; take the argmax (or a beam), feed it back, "
            "stop at eos_id (not part of the caption) or after max_length words"
        ),
        "tokenizer": tokenizer_facts(tokenizer),
    }
    return ExportPlan([encoder, step], facts)
