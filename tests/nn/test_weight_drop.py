"""``weight_drop``: DropConnect on the hidden-to-hidden weights (AWD-LSTM), checked against
torch's own layer run with the same dropped weights, on both paths, with torch's state dict."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

import rnnkit

KINDS = {"lstm": (rnnkit.LSTM, torch.nn.LSTM), "gru": (rnnkit.GRU, torch.nn.GRU),
         "rnn": (rnnkit.RNN, torch.nn.RNN)}  # fmt: skip
P = 0.4


def pair(kind: str, backend: str = "auto") -> tuple[torch.nn.Module, torch.nn.Module]:
    ours_class, torch_class = KINDS[kind]
    torch.manual_seed(0)
    reference = torch_class(3, 5, num_layers=2, bidirectional=True, batch_first=True).double()
    ours = ours_class(3, 5, num_layers=2, bidirectional=True, batch_first=True, backend=backend,
                      weight_drop=P).double()  # fmt: skip
    ours.load_state_dict(reference.state_dict())  # strict: the keys are torch's
    return ours, reference


@pytest.mark.parametrize("kind", KINDS)
def test_the_state_dict_keys_are_torchs_and_evaluation_is_unchanged(kind):
    ours, reference = pair(kind)
    assert list(ours.state_dict()) == list(reference.state_dict())
    ours.eval()
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    torch.testing.assert_close(ours(x)[0], reference(x)[0])


@pytest.mark.parametrize("backend", ["auto", "loop"])
@pytest.mark.parametrize("kind", KINDS)
def test_training_runs_with_one_dropped_hidden_matrix_per_pass(kind, backend):
    ours, reference = pair(kind, backend)
    ours.train()
    assert ours.uses_native() == (backend == "auto")  # DropConnect keeps torch's kernel
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    torch.manual_seed(7)
    out, _ = ours(x)
    out.sum().backward()
    torch.manual_seed(7)  # the same draws, in the same (torch's parameter) order
    params = dict(reference.named_parameters())
    dropped = {n: F.dropout(w, P) if n.startswith("weight_hh") else w for n, w in params.items()}
    expected, _ = functional_call(reference, dropped, (x,))
    expected.sum().backward()
    torch.testing.assert_close(out, expected)
    for name, parameter in ours.named_parameters():
        torch.testing.assert_close(parameter.grad, params[name].grad, msg=name)
    zeroed = dropped["weight_hh_l0"] == 0
    assert 0 < zeroed.double().mean() < 1 and not (params["weight_hh_l0"] == 0).any()


def test_a_new_mask_every_pass_and_none_in_evaluation():
    ours, _ = pair("lstm")
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    assert not torch.equal(ours(x)[0], ours(x)[0])
    ours.eval()
    assert torch.equal(ours(x)[0], ours(x)[0])


@pytest.mark.parametrize("value", [-0.1, 1.0, True, "0.5"])
def test_a_bad_probability_is_refused(value):
    with pytest.raises(ValueError, match="weight_drop must be a probability in"):
        rnnkit.LSTM(3, 5, weight_drop=value)
