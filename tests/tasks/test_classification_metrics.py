"""Classification and tagging metrics against counts worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.tasks.classification_metrics import multi_label_metrics, single_label_metrics
from rnnkit.tasks.tagging_metrics import entity_metrics, tag_metrics


def test_single_label_metrics_by_hand():
    # gold a a b b c, predicted a b b b a: a P=1/2 R=1/2, b P=2/3 R=1, c P=0 R=0
    metrics = single_label_metrics([0, 0, 1, 1, 2], [0, 1, 1, 1, 0], ["a", "b", "c"])
    assert metrics["accuracy"] == pytest.approx(3 / 5)
    f1_b = 2 * (2 / 3) * 1 / (2 / 3 + 1)
    assert metrics["per_class"]["b"] == pytest.approx(
        {"precision": 2 / 3, "recall": 1.0, "f1": f1_b, "support": 2}
    )
    assert metrics["macro_f1"] == pytest.approx((0.5 + f1_b + 0.0) / 3)
    assert metrics["confusion"]["matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]


def test_multi_label_metrics_by_hand():
    gold = np.array([[1, 0, 1], [0, 1, 0]])
    predicted = np.array([[1, 0, 0], [0, 1, 1]])
    metrics = multi_label_metrics(gold, predicted, ["x", "y", "z"])
    assert metrics["micro_f1"] == pytest.approx(2 * (2 / 3) * (2 / 3) / (4 / 3))  # TP 2 of 3, 3
    assert metrics["accuracy"] == 0.0  # no row exactly right
    assert metrics["macro_f1"] == pytest.approx((1 + 1 + 0) / 3)


def test_entity_metrics_by_hand():
    gold = [["B-PER", "E-PER", "O", "S-LOC"], ["S-ORG", "O"]]
    predicted = [["B-PER", "E-PER", "O", "O"], ["S-LOC", "O"]]  # 1 of 2 found, 1 of 3 gold
    metrics = entity_metrics(gold, predicted)
    assert metrics["precision"] == pytest.approx(1 / 2)
    assert metrics["recall"] == pytest.approx(1 / 3)
    assert metrics["f1"] == pytest.approx(2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3))
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["per_type"]["PER"]["f1"] == 1.0 and metrics["per_type"]["ORG"]["recall"] == 0


def test_tag_metrics_by_hand():
    metrics = tag_metrics([["N", "V", "N"]], [["N", "N", "N"]], ["N", "V"])
    assert metrics["accuracy"] == pytest.approx(2 / 3)
    assert metrics["per_class"]["N"]["precision"] == pytest.approx(2 / 3)
    assert metrics["per_class"]["V"]["recall"] == 0.0
