"""Long-memory task generators: deterministic under a seed, with targets checked independently
(hand-computed sums, the paper's copy layout, a regular expression for the Reber grammar)."""

from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F

from rnnkit.data.synthetic import (
    REBER_PAD_TARGET,
    REBER_SYMBOLS,
    adding_baseline_mse,
    adding_problem,
    copy_memory,
    copy_memory_baseline,
    legal_next,
    reber_batch,
    reber_strings,
    reber_text,
)

# The Reber grammar written as a regular expression, derived by hand from the graph
# (Cleeremans et al. 1989): after B, either T S* X or P T* V P leads to the node where
# (X T* V P)* loops, left by S or X T* V V; or P T* V V goes straight to the end.
REBER = r"B(?:(?:TS*X|PT*VP)(?:XT*VP)*(?:S|XT*VV)|PT*VV)E"
EMBEDDED_REBER = rf"B(?:T{REBER}T|P{REBER}P)E"


def test_adding_problem_is_deterministic_under_a_seed():
    a, b, c = adding_problem(8, 30, seed=3), adding_problem(8, 30, seed=3), adding_problem(8, 30, 4)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    stream = torch.Generator().manual_seed(3)
    first, second = adding_problem(8, 30, stream), adding_problem(8, 30, stream)
    assert torch.equal(first[0], a[0]) and not torch.equal(second[0], first[0])


def test_adding_problem_layout_and_targets():
    inputs, targets = adding_problem(64, 11, seed=0)
    assert inputs.shape == (64, 11, 2) and targets.shape == (64,)
    values, markers = inputs[..., 0], inputs[..., 1]
    assert bool(((values >= 0) & (values < 1)).all())
    assert bool((markers[:, :5].sum(1) == 1).all()) and bool((markers[:, 5:].sum(1) == 1).all())
    for n in range(64):
        marked = [float(v) for v, m in zip(values[n], markers[n], strict=True) if m == 1]
        assert float(targets[n]) == pytest.approx(sum(marked))


def test_a_hand_computed_adding_example():
    inputs, targets = adding_problem(1, 4, seed=0)
    values, markers = inputs[0, :, 0].tolist(), inputs[0, :, 1].tolist()
    first = markers.index(1.0)
    second = markers.index(1.0, first + 1)
    assert first in (0, 1) and second in (2, 3) and sum(markers) == 2
    assert float(targets[0]) == pytest.approx(values[first] + values[second])


def test_adding_baseline_is_the_mse_of_predicting_one():
    _, targets = adding_problem(200_000, 4, seed=1)
    assert float(((targets - 1) ** 2).mean()) == pytest.approx(adding_baseline_mse(), abs=2e-3)
    assert adding_baseline_mse() == pytest.approx(0.1667, abs=1e-4)


def test_copy_memory_follows_the_paper_layout():
    delay = 7
    inputs, targets = copy_memory(16, delay, seed=2)
    assert inputs.shape == targets.shape == (16, delay + 20)
    symbols = inputs[:, :10]
    assert bool(((symbols >= 1) & (symbols <= 8)).all())
    assert torch.equal(targets[:, -10:], symbols)  # the copy is the first 10 inputs
    assert bool((targets[:, :-10] == 0).all())
    assert bool((inputs[:, delay + 9] == 9).all())  # the delimiter, 10 before the end
    rest = torch.cat([inputs[:, 10 : delay + 9], inputs[:, delay + 10 :]], dim=1)
    assert bool((rest == 0).all()) and rest.shape[1] == delay - 1 + 10
    again = copy_memory(16, delay, seed=2)
    assert torch.equal(again[0], inputs) and not torch.equal(copy_memory(16, delay, 3)[0], inputs)


def test_copy_memory_baseline_is_the_memoryless_strategy():
    delay = 5
    _, targets = copy_memory(32, delay, seed=0)
    logits = torch.full((32, delay + 20, 10), -math.inf)
    logits[:, : delay + 10, 0] = 0.0  # blank, surely
    logits[:, delay + 10 :, 1:9] = 0.0  # a uniform guess among the 8 symbols
    loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
    assert float(loss) == pytest.approx(copy_memory_baseline(delay))
    assert copy_memory_baseline(100) == pytest.approx(10 * math.log(8) / 120)


def test_reber_strings_belong_to_the_grammar():
    embedded = reber_strings(300, seed=0)
    assert all(re.fullmatch(EMBEDDED_REBER, s) for s in embedded)
    assert {s[1] for s in embedded} == {"T", "P"} and all(s[1] == s[-2] for s in embedded)
    plain = reber_strings(300, seed=0, embedded=False)
    assert all(re.fullmatch(REBER, s) for s in plain)
    assert len(set(plain)) > 20
    assert reber_strings(50, seed=5) == reber_strings(50, seed=5) != reber_strings(50, seed=6)


def test_legal_next_symbols():
    expected = ["TP", "B", "TP", "SX", "SX", "E", "T", "E"]  # after B, BT, BTB, ... BTBTXSET
    assert legal_next("BTBTXSETE") == [frozenset(s) for s in expected]
    assert legal_next("BPVVE", embedded=False) == [frozenset(s) for s in ["TP", "TV", "PV", "E"]]
    for string in ["BTSSXXTVVE", "BPTVPSE", "BTXSE"]:
        assert len(legal_next(string, embedded=False)) == len(string) - 1
    for bad in ["BTBTXSETP", "BTBTXSEPE", "BTBTXSE", "BTSSXXTVVE"]:
        with pytest.raises(ValueError):
            legal_next(bad)
    for string in reber_strings(50, seed=1):  # each actual next symbol is legal
        assert all(s in legal for s, legal in zip(string[1:], legal_next(string), strict=True))


def test_reber_batch_and_text():
    batch = reber_batch(20, seed=3)
    assert batch.strings == reber_strings(20, seed=3)
    width = max(len(s) for s in batch.strings) - 1
    assert batch.inputs.shape == batch.targets.shape == (20, width)
    assert batch.legal.shape == (20, width, len(REBER_SYMBOLS))
    for n, string in enumerate(batch.strings):
        length = len(string) - 1
        assert int(batch.lengths[n]) == length
        assert "".join(REBER_SYMBOLS[i] for i in batch.inputs[n, :length]) == string[:-1]
        assert "".join(REBER_SYMBOLS[i] for i in batch.targets[n, :length]) == string[1:]
        assert bool((batch.targets[n, length:] == REBER_PAD_TARGET).all())
        assert not bool(batch.legal[n, length:].any())
        targets_legal = batch.legal[n, torch.arange(length), batch.targets[n, :length]]
        assert bool(targets_legal.all())
    text = reber_text(20, seed=3)
    assert text.endswith("\n") and text.splitlines() == batch.strings
