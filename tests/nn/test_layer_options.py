"""The options torch lacks (recurrent dropout, zoneout, forget_bias, backends) and the errors
that bad input gets."""

from __future__ import annotations

import pytest
import torch

import rnnkit
from rnnkit.nn.recurrent_cell import State


def test_recurrent_dropout_mask_is_constant_over_time():
    """relu RNN with W_ih = 0, W_hh = I, b = 1/2 per bias: h_1 = 1 and h_t = 1 + m ⊙ h_{t-1}.

    A unit whose mask is 0 stays at 1 for ever; one whose mask is s = 1/(1-p) follows
    h_t = 1 + s h_{t-1}. A mask drawn afresh at each step would break both patterns."""
    torch.manual_seed(0)
    p, width = 0.5, 64
    layer = rnnkit.RNN(1, width, nonlinearity="relu", recurrent_dropout=p)
    with torch.no_grad():
        layer.weight_ih_l0.zero_()
        layer.weight_hh_l0.copy_(torch.eye(width))
        layer.bias_ih_l0.fill_(0.5)
        layer.bias_hh_l0.fill_(0.5)
    out, _ = layer(torch.zeros(6, 3, 1))  # (T, N, H)
    scale = 1 / (1 - p)
    dropped = out[1] == 1.0  # (N, H)
    assert 0 < int(dropped.sum()) < dropped.numel()
    expected = torch.ones(3, width)
    for t in range(6):
        torch.testing.assert_close(out[t][dropped], torch.ones(int(dropped.sum())))
        torch.testing.assert_close(out[t][~dropped], expected[~dropped])
        expected = 1 + scale * expected
    assert not torch.equal(dropped[0], dropped[1])  # one mask per sequence


def test_recurrent_dropout_is_the_identity_in_evaluation():
    torch.manual_seed(0)
    dropped = rnnkit.LSTM(3, 4, recurrent_dropout=0.4).eval()
    plain = torch.nn.LSTM(3, 4)
    plain.load_state_dict(dropped.state_dict())
    x = torch.randn(5, 2, 3)
    torch.testing.assert_close(dropped(x)[0], plain(x)[0])


def _manual_zoneout_eval(cell: rnnkit.LSTMCell, x: torch.Tensor, p: float) -> torch.Tensor:
    state: State = (torch.zeros(x.shape[1], 4), torch.zeros(x.shape[1], 4))
    outputs = []
    for x_t in x:
        new = cell(x_t, state)
        state = tuple(p * old + (1 - p) * n for old, n in zip(state, new, strict=True))
        outputs.append(state[0])
    return torch.stack(outputs)


def test_zoneout_in_evaluation_is_the_expectation():
    torch.manual_seed(0)
    layer = rnnkit.LSTM(3, 4, zoneout=0.3).eval()
    cell = rnnkit.LSTMCell(3, 4)
    cell.load_state_dict({k.removesuffix("_l0"): v for k, v in layer.state_dict().items()})
    x = torch.randn(6, 2, 3)
    torch.testing.assert_close(layer(x)[0], _manual_zoneout_eval(cell, x, 0.3))


def test_zoneout_in_training_keeps_or_updates_each_unit():
    torch.manual_seed(0)
    layer = rnnkit.GRU(3, 200, zoneout=0.5).train()
    cell = rnnkit.GRUCell(3, 200)
    cell.load_state_dict({k.removesuffix("_l0"): v for k, v in layer.state_dict().items()})
    x, h0 = torch.randn(1, 2, 3), torch.randn(1, 2, 200)
    out, _ = layer(x, h0)
    updated = cell(x[0], h0[0])
    kept = out[0] == h0[0]  # exactly; the update within the compiled loop's rounding
    assert bool((kept | torch.isclose(out[0], updated, rtol=1e-5, atol=1e-6)).all())
    assert 0.3 < kept.float().mean() < 0.7


@pytest.mark.parametrize("make", [
    lambda: rnnkit.LSTM(3, 4, num_layers=2, dropout=0.5, recurrent_dropout=0.3, zoneout=0.2),
    lambda: rnnkit.JordanRNN(3, 4, num_layers=2, dropout=0.5, zoneout=0.2),
    lambda: rnnkit.MinGRU(3, 4, num_layers=2, dropout=0.5),
])  # fmt: skip
def test_evaluation_is_deterministic_and_training_is_not(make):
    torch.manual_seed(0)
    layer, x = make(), torch.randn(5, 2, 3)
    assert not torch.equal(layer(x)[0], layer(x)[0])
    layer.eval()
    assert torch.equal(layer(x)[0], layer(x)[0])


def test_forget_bias_leaves_a_state_dict_torch_loads_and_runs():
    torch.manual_seed(0)
    ours = rnnkit.LSTM(3, 4, num_layers=2, bidirectional=True, forget_bias=1.0)
    for names in ours.all_weights:
        total = names[2] + names[3]  # bias_ih + bias_hh
        torch.testing.assert_close(total[4:8].detach(), torch.ones(4))
    theirs = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(5, 2, 3)
    torch.testing.assert_close(ours(x)[0], theirs(x)[0])


def test_forget_bias_only_where_there_is_a_forget_gate():
    assert rnnkit.MinLSTM(3, 4, forget_bias=1.0).bias_ih_l0[:4].eq(1.0).all()
    with pytest.raises(ValueError, match="forget"):
        rnnkit.MinGRU(3, 4, forget_bias=1.0)


@pytest.mark.parametrize("make, reason", [
    (lambda: rnnkit.LSTM(3, 4, layer_norm=True, backend="native"), "layer_norm=True"),
    (lambda: rnnkit.LSTM(3, 4, peephole=True, backend="native"), "peephole=True"),
    (lambda: rnnkit.GRU(3, 4, recurrent_dropout=0.2, backend="native"), "recurrent_dropout=0.2"),
    (lambda: rnnkit.RNN(3, 4, zoneout=0.1, backend="native"), "zoneout=0.1"),
    (lambda: rnnkit.MinGRU(3, 4, backend="native"), "no native MinGRU kernel"),
    (lambda: rnnkit.JordanRNN(3, 4, backend="native"), "no native JordanRNN kernel"),
    (lambda: rnnkit.LSTM(3, 4, backend="cudnn"), "unknown backend 'cudnn'"),
])  # fmt: skip
def test_backend_errors_say_why(make, reason):
    with pytest.raises(ValueError, match=reason):
        make()


@pytest.mark.parametrize("call, message", [
    (lambda m: m(torch.randn(2, 3, 4, 5)), r"expected input of shape \(N, L, 5\) or \(L, 5\)"),
    (lambda m: m(torch.randn(2, 3, 4)), r"expected input of shape \(N, L, 5\)"),
    (lambda m: m(torch.ones(2, 3, 5, dtype=torch.long)), r"floating point"),
    (lambda m: m(torch.randn(2, 3, 5), lengths=torch.ones(2, 1)), r"lengths of shape \(2,\)"),
    (lambda m: m(torch.randn(2, 3, 5), lengths=[3, 4]), r"lengths must lie in \[1, 3\]"),
    (lambda m: m(torch.randn(2, 3, 5), lengths=[3, 0]), r"lengths must lie in \[1, 3\]"),
    (lambda m: m(torch.randn(2, 3, 5), lengths=[3, 4, 1]), r"lengths of shape \(2,\)"),
    (lambda m: m(torch.randn(2, 3, 5), lengths=torch.tensor([3.0, 2.0])), r"integer lengths"),
    (lambda m: m(torch.randn(2, 3, 5), lengths=torch.tensor([True, True])), r"integer lengths"),
    (lambda m: m(torch.randn(2, 3, 5), (torch.zeros(4, 2, 6), torch.zeros(4, 2, 6))), None),
    (lambda m: m(torch.randn(2, 3, 5), (torch.zeros(2, 2, 6), torch.zeros(4, 2, 6))),
     r"expected hx\[0\] of shape \(4, 2, 6\), got \(2, 2, 6\)"),
    (lambda m: m(torch.randn(2, 3, 5), torch.zeros(4, 2, 6)), r"expected hx as 2 tensor\(s\)"),
    (lambda m: m(torch.randn(3, 5), (torch.zeros(4, 6), torch.zeros(4, 1, 6))),
     r"expected hx\[1\] of shape \(4, 6\)"),
])  # fmt: skip
def test_bad_input_names_the_expected_shape(call, message):
    layer = rnnkit.LSTM(5, 6, num_layers=2, bidirectional=True, batch_first=True)
    if message is None:
        call(layer)  # the well-formed call next to the broken ones
        return
    with pytest.raises(ValueError, match=message):
        call(layer)


@pytest.mark.parametrize("kwargs, message", [
    (dict(hidden_size=0), "hidden_size must be an integer >= 1"),
    (dict(num_layers=1.5), "num_layers must be an integer"),
    (dict(dropout=1.5), r"dropout should be a number in range \[0, 1\]"),
    (dict(zoneout=-0.1), "zoneout must be a probability"),
])  # fmt: skip
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        rnnkit.GRU(**({"input_size": 3, "hidden_size": 4} | kwargs))


def test_dropout_with_one_layer_warns_like_torch():
    with pytest.warns(UserWarning, match="num_layers=1"):
        rnnkit.LSTM(3, 4, dropout=0.2)


def test_factory_arguments_and_repr():
    layer = rnnkit.LSTM(3, 4, dtype=torch.float64, layer_norm=True)
    assert all(p.dtype == torch.float64 for p in layer.parameters())
    assert "layer_norm=True" in repr(layer)
