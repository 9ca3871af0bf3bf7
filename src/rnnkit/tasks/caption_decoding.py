"""Writing captions for a batch of images with a trained `Captioner`.

The images are encoded once and searched with `rnnkit.decode.beam_search` (a beam of 1 is
greedy decoding), at most ``max_length`` words plus eos. When the attention is wanted, the
chosen captions are scored again teacher-forced, which gives the weights over the image grid
that each word (and the final eos) was written with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from rnnkit.data.tokenizers import Tokenizer
from rnnkit.decode import beam_search
from rnnkit.models.captioner import Captioner
from rnnkit.tasks.supervised import pad
from rnnkit.tasks.translation_output import content_ids


@dataclass(frozen=True)
class Described:
    """The caption written for one image."""

    caption: str
    words: list[str]  # eos excluded
    score: float  # log p / length (eos included): beam search's ranking
    attention: list[list[float]] | None  # one row of h * w weights per word, then eos
    grid: tuple[int, int]  # (h, w) of the attention rows

    def record(self, image: str) -> dict[str, Any]:
        """The JSON-ready form ``rnnkit caption --json`` prints."""
        record: dict[str, Any] = {
            "image": image,
            "caption": self.caption,
            "words": self.words,
            "score": self.score,
        }
        if self.attention is not None:
            record |= {"attention": self.attention, "grid": list(self.grid)}
        return record


@torch.no_grad()
def describe(
    model: Captioner,
    images: Tensor,
    tokenizer: Tokenizer,
    *,
    beam_size: int,
    max_length: int,
    attention: bool = False,
) -> list[Described]:
    """The best caption of each of ``images`` ``(N, 3, S, S)`` (normalised, on the model's
    device), with its attention when asked and the model has any."""
    model.eval()
    log_probs, state = model.start(images)
    found = beam_search(
        model, log_probs, state, max_length + 1, beam_size=beam_size, eos_id=model.eos_id
    )
    outputs = [h.tokens or [model.eos_id] for h in found]
    weights = _attention(model, images, outputs) if attention else None
    described = []
    for row, (hypothesis, tokens) in enumerate(zip(found, outputs, strict=True)):
        words = [tokenizer.id_to_token(i) for i in content_ids(tokens, tokenizer)]
        rows = None if weights is None else weights[row, : len(tokens)].tolist()
        described.append(Described(" ".join(words), words, hypothesis.score, rows, state.grid))
    return described


def _attention(model: Captioner, images: Tensor, outputs: list[list[int]]) -> Tensor | None:
    """The attention ``(N, T, h * w)`` of each output (eos included) teacher-forced; None for a
    model without attention."""
    captions_in, _ = pad([[model.bos_id, *tokens[:-1]] for tokens in outputs])
    _, weights = model(images, captions_in.to(images.device))
    return weights
