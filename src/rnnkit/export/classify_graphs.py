"""The classifier's export: one graph, ``(tokens, lengths) -> (logits, probabilities)``."""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor, nn

from rnnkit.export.facts import tokenizer_facts
from rnnkit.export.graph import BATCH, TIME, ExportPlan, Graph, Port, random_lengths, random_tokens
from rnnkit.models.classifier import SequenceClassifier
from rnnkit.tasks.classify import Classification
from rnnkit.tasks.runs import LoadedRun


class ClassifierGraph(nn.Module):
    """A `SequenceClassifier` with its output probabilities: softmax over the classes, or a
    sigmoid per class for a multi-label model."""

    def __init__(self, classifier: SequenceClassifier, multi_label: bool) -> None:
        super().__init__()
        self.classifier = classifier
        self.multi_label = multi_label

    def forward(self, tokens: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """``tokens`` ``(N, T)``, ``lengths`` ``(N,)`` -> logits and probabilities ``(N, C)``."""
        logits = self.classifier(tokens, lengths)
        return logits, logits.sigmoid() if self.multi_label else logits.softmax(-1)


def plan(run: LoadedRun) -> ExportPlan:
    """The graph of a classify run, with its labels and tokenizer facts."""
    task = cast(Classification, run.task)
    classifier = cast(SequenceClassifier, run.model)
    labels = list(task.labels.tokens)
    multi_label = task.config.data.multi_label
    vocab_size = task.tokenizer.vocab_size

    def example(batch: int, length: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        lengths = random_lengths(batch, length, generator)
        return random_tokens(batch, length, vocab_size, generator, lengths), lengths

    graph = Graph(
        name="classifier",
        doc="token ids of a padded batch and their lengths -> one score per label",
        module=ClassifierGraph(classifier, multi_label),
        inputs=(
            Port("tokens", (BATCH, TIME), "int64", "token ids, 0 past each text's length"),
            Port("lengths", (BATCH,), "int64", "the number of tokens of each text, >= 1"),
        ),
        outputs=(
            Port("logits", (BATCH, len(labels)), "float32", "one score per label"),
            Port(
                "probabilities",
                (BATCH, len(labels)),
                "float32",
                "sigmoid per label (multi-label: >= 0.5 is predicted)"
                if multi_label
                else "softmax over the labels (the highest is predicted)",
            ),
        ),
        example=example,
    )
    facts = {
        "labels": labels,
        "multi_label": multi_label,
        "max_length": task.config.data.max_length,
        "tokenizer": tokenizer_facts(task.tokenizer),
    }
    return ExportPlan([graph], facts)
