"""The tagger's export: one graph, ``(words, lengths, chars, char_lengths) -> emissions``, and
for a CRF tagger its scores beside it for the NumPy Viterbi decoder (`rnnkit.export.viterbi`).

- ``words`` ``(N, T)``: word ids (``words`` of the ``tagger_vocab.json`` asset, whose
  ``specials`` then ``tokens`` are the ids in order; a word not there is ``facts["unk_id"]``;
  each token lowercased and its digits replaced by 0 first when ``facts["lowercase"]`` /
  ``["normalize_digits"]``).
- ``lengths`` ``(N,)``: the tokens of each sentence.
- ``chars`` ``(N, T, C)`` and ``char_lengths`` ``(N, T)``: each token's first
  ``facts["max_word_chars"]`` character ids (``characters`` of the asset), 0-padded, and their
  count (0 past the sentence) — only when ``facts["char_features"]``; a graph without
  character features has no such inputs.
- ``emissions`` ``(N, T, L)``: each token's score per tag of ``facts["tags"]`` (IOBES inside;
  ``facts["scheme"]`` is the scheme rnnkit prints, `rnnkit.data.tag_schemes.from_iobes`).

Without a CRF the tag is the argmax of the emissions; with one, `viterbi` with
``facts["crf"]``.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor, nn

from rnnkit.export.graph import BATCH, TIME, ExportPlan, Graph, Port, random_lengths, random_tokens
from rnnkit.models.crf import CRF
from rnnkit.models.tagger import SequenceTagger
from rnnkit.tasks.runs import LoadedRun
from rnnkit.tasks.tag import MAX_WORD_CHARS, Tagging

CHARS = "chars"


class EmissionsGraph(nn.Module):
    """`SequenceTagger.forward` without tags: the emissions."""

    def __init__(self, tagger: SequenceTagger) -> None:
        super().__init__()
        self.tagger = tagger

    def forward(self, words: Tensor, lengths: Tensor, *chars: Tensor) -> tuple[Tensor]:
        return (self.tagger(words, lengths, *chars),)


def crf_scores(crf: CRF) -> dict[str, list[float] | list[list[float]]]:
    """The CRF's start, transition and end scores, forbidden moves penalised, as lists."""
    start, transitions, end = crf._scores(torch.float32)
    return {
        "start": start.tolist(),
        "transitions": transitions.tolist(),
        "end": end.tolist(),
    }


def plan(run: LoadedRun) -> ExportPlan:
    """The emissions graph of a tag run, with its vocabularies' facts and CRF scores."""
    task = cast(Tagging, run.task)
    tagger = cast(SequenceTagger, run.model)
    num_words, num_chars = len(task.words), len(task.characters)
    reads_chars = tagger.chars is not None

    def example(batch: int, length: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        lengths = random_lengths(batch, length, generator)
        words = random_tokens(batch, length, num_words, generator, lengths)
        if not reads_chars:
            return words, lengths
        width = min(MAX_WORD_CHARS, length + 2)  # the batch's longest token, varied by length
        word_chars = random_lengths(batch * length, width, generator)
        char_lengths = torch.where(words > 0, word_chars.view(batch, length), 0)
        chars = random_tokens(batch * length, width, num_chars, generator, char_lengths.flatten())
        return words, lengths, chars.view(batch, length, width), char_lengths

    char_ports = (
        Port(CHARS, (BATCH, TIME, "chars"), "int64", "character ids of each token, 0-padded"),
        Port("char_lengths", (BATCH, TIME), "int64", "characters of each token, 0 past the end"),
    )
    graph = Graph(
        name="tagger",
        doc="word (and character) ids of a padded batch of sentences -> tag scores per token",
        module=EmissionsGraph(tagger),
        inputs=(
            Port("words", (BATCH, TIME), "int64", "word ids, 0 past each sentence's length"),
            Port("lengths", (BATCH,), "int64", "the number of tokens of each sentence, >= 1"),
            *(char_ports if reads_chars else ()),
        ),
        outputs=(Port("emissions", (BATCH, TIME, len(task.tags)), "float32", "tag scores"),),
        example=example,
    )
    data = task.config.data
    facts = {
        "tags": list(task.tags.tokens),
        "scheme": task.scheme,
        "lowercase": data.lowercase,
        "normalize_digits": data.normalize_digits,
        "char_features": reads_chars,
        "max_word_chars": MAX_WORD_CHARS,
        "unk_id": task.words.unk_id,
        "crf": None if tagger.crf is None else crf_scores(tagger.crf),
    }
    return ExportPlan([graph], facts)
