"""The long-memory problems as models see them: the copy problem's one-hot inputs, its loss
and metrics against hand-built predictions, and chunked evaluation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnkit.bptt.long_memory import AddingProblem, CopyProblem, MemoryModel, evaluate
from rnnkit.data.synthetic import COPY_BLANK, COPY_CLASSES, COPY_LENGTH, copy_memory


def test_copy_inputs_are_the_symbols_one_hot():
    problem = CopyProblem(delay=7)
    inputs, targets = problem.sample(5, seed=3)
    symbols, expected_targets = copy_memory(5, 7, seed=3)
    assert inputs.shape == (5, 7 + 2 * COPY_LENGTH, COPY_CLASSES)
    assert torch.equal(inputs.argmax(-1), symbols) and torch.equal(
        inputs.sum(-1), torch.ones(5, 27)
    )
    assert torch.equal(targets, expected_targets)


def test_the_memoryless_strategy_scores_the_baseline():
    """Blank with certainty until the copy, then a uniform guess among the 8 symbols."""
    problem = CopyProblem(delay=12)
    _, targets = problem.sample(4, seed=0)
    steps = targets.shape[1]
    log_probs = torch.full((4, steps, COPY_CLASSES), -torch.inf)
    log_probs[:, : steps - COPY_LENGTH, COPY_BLANK] = 0.0
    log_probs[:, steps - COPY_LENGTH :, 1:9] = -torch.log(torch.tensor(8.0))
    metrics = problem.metrics(log_probs, targets)
    assert metrics["cross_entropy"] == pytest.approx(problem.baseline(), rel=1e-6)


def test_copy_accuracy_counts_the_copied_symbols_only():
    problem = CopyProblem(delay=4)
    _, targets = problem.sample(6, seed=1)
    perfect = 50.0 * F.one_hot(targets, COPY_CLASSES).float()
    assert problem.metrics(perfect, targets)["accuracy"] == 1.0
    assert problem.metrics(perfect, targets)["cross_entropy"] < 1e-6
    half_wrong = perfect.clone()
    half_wrong[:, -COPY_LENGTH : -COPY_LENGTH // 2] = perfect[:, : COPY_LENGTH // 2]  # blanks
    assert problem.metrics(half_wrong, targets)["accuracy"] == 0.5
    wrong_early = perfect.clone()
    wrong_early[:, 0] = 50.0 * F.one_hot(torch.tensor(5), COPY_CLASSES)  # not a copied step
    assert problem.metrics(wrong_early, targets)["accuracy"] == 1.0


@pytest.mark.parametrize("problem", [CopyProblem(delay=3), AddingProblem(length=9)])
def test_evaluation_in_chunks_equals_one_pass(problem):
    torch.manual_seed(0)
    model = MemoryModel("gru", problem.input_size, 8, problem.output_size)
    inputs, targets = problem.sample(10, seed=2)
    chunked = evaluate(model, problem, inputs, targets, chunk=3)
    with torch.no_grad():
        whole = problem.metrics(model(inputs), targets)
    assert chunked == pytest.approx(whole, rel=1e-6)
