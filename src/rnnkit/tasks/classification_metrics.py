"""Metrics of a classifier: accuracy, macro-F1, per-class precision / recall / F1 and the
confusion matrix (one label per text), or micro / macro F1 and exact-match accuracy over
label sets (several labels per text).

Per class ``c``: precision = TP / (TP + FP), recall = TP / (TP + FN), F1 their harmonic mean
(0 when undefined); macro-F1 is the plain mean of the per-class F1 over the classes that occur
in the gold labels or the predictions, micro-F1 the F1 of the pooled counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def per_class_scores(gold: np.ndarray, predicted: np.ndarray, labels: Sequence[str]) -> dict:
    """``{label: {precision, recall, f1, support}}`` from 0/1 matrices ``(N, C)``."""
    tp = (gold & predicted).sum(0)
    fp = (~gold & predicted).sum(0)
    fn = (gold & ~predicted).sum(0)
    scores = {}
    for c, label in enumerate(labels):
        precision, recall = _ratio(tp[c], tp[c] + fp[c]), _ratio(tp[c], tp[c] + fn[c])
        scores[label] = {
            "precision": precision,
            "recall": recall,
            "f1": _f1(precision, recall),
            "support": int(gold[:, c].sum()),
        }
    return scores


def _macro_f1(per_class: dict, gold: np.ndarray, predicted: np.ndarray) -> float:
    present = (gold | predicted).any(0)
    values = [s["f1"] for s, p in zip(per_class.values(), present, strict=True) if p]
    return float(np.mean(values)) if values else 0.0


def single_label_metrics(
    gold: Sequence[int], predicted: Sequence[int], labels: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class scores and the confusion matrix (rows: gold, columns:
    predicted, in the order of ``labels``) of class ids."""
    gold_ids, predicted_ids = np.asarray(gold), np.asarray(predicted)
    eye = np.eye(len(labels), dtype=bool)
    gold_hot, predicted_hot = eye[gold_ids], eye[predicted_ids]
    per_class = per_class_scores(gold_hot, predicted_hot, labels)
    confusion = np.zeros((len(labels), len(labels)), dtype=int)
    np.add.at(confusion, (gold_ids, predicted_ids), 1)
    return {
        "accuracy": float((gold_ids == predicted_ids).mean()),
        "macro_f1": _macro_f1(per_class, gold_hot, predicted_hot),
        "per_class": per_class,
        "confusion": {"labels": list(labels), "matrix": confusion.tolist()},
    }


def multi_label_metrics(
    gold: np.ndarray, predicted: np.ndarray, labels: Sequence[str]
) -> dict[str, Any]:
    """Micro- and macro-F1, exact-match accuracy and per-class scores of 0/1 matrices
    ``(N, C)``."""
    gold, predicted = gold.astype(bool), predicted.astype(bool)
    per_class = per_class_scores(gold, predicted, labels)
    tp = float((gold & predicted).sum())
    precision, recall = _ratio(tp, predicted.sum()), _ratio(tp, gold.sum())
    return {
        "accuracy": float((gold == predicted).all(1).mean()),
        "micro_f1": _f1(precision, recall),
        "macro_f1": _macro_f1(per_class, gold, predicted),
        "per_class": per_class,
    }
