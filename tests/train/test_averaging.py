"""NT-ASGD: the average equals torch.optim.ASGD's, the trigger fires as AWD-LSTM's does, and a
run with averaging resumes bit for bit."""

from __future__ import annotations

import pytest
import torch
from test_trainer import assert_same_weights, run, weights

from rnnkit.checkpoint import load_checkpoint, read_metrics_log
from rnnkit.train.averaging import ParameterAverage


def test_the_average_is_the_mean_of_the_sgd_iterates_since_the_trigger():
    torch.manual_seed(0)
    ours, reference = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
    reference.load_state_dict(ours.state_dict())
    sgd = torch.optim.SGD(ours.parameters(), lr=0.1)
    asgd = torch.optim.ASGD(reference.parameters(), lr=0.1, t0=0, lambd=0.0)
    average = ParameterAverage(nonmono=1)
    assert not average.after_evaluation(2.0, ours.parameters())  # nothing before it
    assert not average.after_evaluation(3.0, ours.parameters())  # nothing n back
    assert average.after_evaluation(4.0, ours.parameters())
    iterates = []
    for _ in range(7):
        x = torch.randn(8, 4)
        for model, optimizer in ((ours, sgd), (reference, asgd)):
            optimizer.zero_grad()
            model(x).pow(2).sum().backward()
            optimizer.step()
        average.update(ours.parameters())
        iterates.append([p.detach().clone() for p in ours.parameters()])
    for i, (p, q) in enumerate(zip(ours.parameters(), reference.parameters(), strict=True)):
        torch.testing.assert_close(p, q)  # ASGD with lambd=0 steps as SGD does
        torch.testing.assert_close(
            average.average[i], torch.stack([w[i] for w in iterates]).mean(0)
        )
        # torch's ax overwrites its first iterate with the second, then averages on
        torch.testing.assert_close(
            asgd.state[q]["ax"], torch.stack([w[i] for w in iterates[1:]]).mean(0)
        )
    own = [p.detach().clone() for p in ours.parameters()]
    with average.applied(ours):
        torch.testing.assert_close(list(ours.parameters()), average.average)
    torch.testing.assert_close(list(ours.parameters()), own)


@pytest.mark.parametrize(
    ("scores", "higher", "fires_at"),
    [
        ([5, 4, 3, 2, 1, 0.5, 0.4], False, None),  # always improving
        ([5, 4, 3, 3.5, 3.4], False, None),  # never worse than the best two evaluations back
        ([5, 4, 3, 3.2, 3.1, 3.05], False, 5),  # 3.05 is worse than min(5, 4, 3)
        ([5, 4, 6], False, None),  # too few evaluations to look n back
        ([0.5, 0.6, 0.7, 0.55, 0.52], True, 4),  # accuracy: worse than the best of [0.5, 0.6]
    ],
)
def test_the_trigger_looks_n_evaluations_back(scores, higher, fires_at):
    average = ParameterAverage(nonmono=2, higher_is_better=higher)
    weights = [torch.nn.Parameter(torch.zeros(2))]
    fired = [average.after_evaluation(s, weights) for s in scores]
    assert (fired.index(True) if True in fired else None) == fires_at


def test_an_averaged_run_resumes_exactly_and_evaluates_the_average(corpus, tmp_path):
    settings = ("train.optimizer=asgd", "train.lr=1", "train.asgd_nonmono=1", "train.eval_every=3")
    run(corpus, tmp_path / "straight", *settings, "train.max_steps=36")
    run(corpus, tmp_path / "resumed", *settings, "train.max_steps=30")
    run(corpus, tmp_path / "resumed", *settings, "train.max_steps=36", resume=True)
    assert_same_weights(tmp_path / "straight" / "last", tmp_path / "resumed" / "last")
    last = tmp_path / "straight" / "last"
    averaged = load_checkpoint(last).load_trainer_state("cpu")["averaging"]
    assert averaged["count"] == 12  # triggered at step 24, the evaluation that stalled
    log = read_metrics_log(tmp_path / "straight")
    assert [r["valid_loss"] for r in log] == pytest.approx(averaged["history"])
    assert log[-1]["valid_loss"] < log[7]["valid_loss"]  # the average evaluates better
    assert not torch.equal(weights(tmp_path / "straight")["rnn.weight_hh_l0"],
                           weights(last)["rnn.weight_hh_l0"])  # fmt: skip
