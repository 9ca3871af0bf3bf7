"""Metrics of a tagger: entity-level precision / recall / F1 with per-type scores, computed by
``seqeval`` in its default, conlleval-compatible mode on IOB2 tags, and token accuracy (for
part-of-speech tags, accuracy with per-tag scores)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from seqeval.metrics import classification_report

from rnnkit.data.tag_schemes import from_iobes
from rnnkit.tasks.classification_metrics import per_class_scores

Sentences = Sequence[Sequence[str]]


def token_accuracy(gold: Sentences, predicted: Sentences) -> float:
    """The share of tokens tagged right."""
    pairs = [
        (g, p) for gs, ps in zip(gold, predicted, strict=True) for g, p in zip(gs, ps, strict=True)
    ]
    return sum(g == p for g, p in pairs) / max(len(pairs), 1)


def entity_metrics(gold: Sentences, predicted: Sentences) -> dict[str, Any]:
    """Entity precision, recall, F1 (micro over all entities), per-type scores and token
    accuracy of IOBES-tagged sentences."""
    gold_iob2 = [from_iobes(tags, "iob2") for tags in gold]
    predicted_iob2 = [from_iobes(tags, "iob2") for tags in predicted]
    report = classification_report(gold_iob2, predicted_iob2, output_dict=True, zero_division=0)
    micro = report["micro avg"]
    per_type = {
        kind: {
            "precision": float(s["precision"]),
            "recall": float(s["recall"]),
            "f1": float(s["f1-score"]),
            "support": int(s["support"]),
        }
        for kind, s in report.items()
        if not kind.endswith(" avg")
    }
    return {
        "precision": float(micro["precision"]),
        "recall": float(micro["recall"]),
        "f1": float(micro["f1-score"]),
        "accuracy": token_accuracy(gold, predicted),
        "per_type": per_type,
    }


def tag_metrics(gold: Sentences, predicted: Sentences, tags: Sequence[str]) -> dict[str, Any]:
    """Token accuracy and per-tag precision / recall / F1 of sentences tagged with ``tags``."""
    index = {tag: i for i, tag in enumerate(tags)}
    eye = np.eye(len(tags), dtype=bool)
    gold_ids = [index[t] for sentence in gold for t in sentence]
    predicted_ids = [index[t] for sentence in predicted for t in sentence]
    return {
        "accuracy": token_accuracy(gold, predicted),
        "per_class": per_class_scores(eye[gold_ids], eye[predicted_ids], tags),
    }
