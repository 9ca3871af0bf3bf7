"""Cells against torch's cells (weights copied both ways), against the equations written out
independently here, and against finite differences (gradcheck in float64)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck

import rnnkit
from rnnkit.nn.scan import positive_activation

TORCH_PAIRS = [
    (lambda bias: rnnkit.RNNCell(5, 7, bias), lambda bias: torch.nn.RNNCell(5, 7, bias)),
    (
        lambda bias: rnnkit.RNNCell(5, 7, bias, nonlinearity="relu"),
        lambda bias: torch.nn.RNNCell(5, 7, bias, nonlinearity="relu"),
    ),
    (lambda bias: rnnkit.LSTMCell(5, 7, bias), lambda bias: torch.nn.LSTMCell(5, 7, bias)),
    (lambda bias: rnnkit.GRUCell(5, 7, bias), lambda bias: torch.nn.GRUCell(5, 7, bias)),
]


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def _outputs_and_grads(cell, x, hx):
    cell.zero_grad()
    x = x.clone().requires_grad_()
    out = _as_tuple(cell(x, hx))
    weights = [
        torch.randn_like(o, generator=torch.Generator().manual_seed(i)) for i, o in enumerate(out)
    ]
    sum((o * w).sum() for o, w in zip(out, weights, strict=True)).backward()
    grads = {name: p.grad.clone() for name, p in cell.named_parameters()}
    return out, x.grad, grads


@pytest.mark.parametrize("make", TORCH_PAIRS, ids=["rnn_tanh", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("direction", ["torch->rnnkit", "rnnkit->torch"])
def test_cell_matches_torch(make, bias, direction):
    torch.manual_seed(0)
    ours, theirs = make[0](bias), make[1](bias)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    if direction == "torch->rnnkit":
        ours.load_state_dict(theirs.state_dict(), strict=True)
    else:
        theirs.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(4, 5)
    hx = tuple(torch.randn(4, 7) for _ in _as_tuple(theirs(x)))
    hx_arg = hx if len(hx) > 1 else hx[0]
    out_a, dx_a, grads_a = _outputs_and_grads(ours, x, hx_arg)
    out_b, dx_b, grads_b = _outputs_and_grads(theirs, x, hx_arg)
    for a, b in zip(out_a, out_b, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(dx_a, dx_b, atol=1e-5, rtol=1e-5)
    for name in grads_b:
        torch.testing.assert_close(grads_a[name], grads_b[name], atol=1e-5, rtol=1e-5)


def test_unbatched_input_and_default_state_match_torch():
    torch.manual_seed(0)
    ours, theirs = rnnkit.LSTMCell(5, 7), torch.nn.LSTMCell(5, 7)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(5)
    for a, b in zip(ours(x), theirs(x), strict=True):
        assert a.shape == (7,)
        torch.testing.assert_close(a, b)


def _layer_norm(x, gain, bias=None, eps=1e-5):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    out = (x - mean) / torch.sqrt(var + eps) * gain
    return out if bias is None else out + bias


def test_lstm_options_follow_their_equations():
    """Peepholes, layer norm and projection, written out from the papers' equations."""
    torch.manual_seed(0)
    cell = rnnkit.LSTMCell(5, 6, peephole=True, layer_norm=True, proj_size=4)
    with torch.no_grad():
        for p in (cell.weight_ln_ih, cell.weight_ln_hh, cell.weight_ln_c, cell.bias_ln_c):
            p.uniform_(0.5, 1.5)
    x, h, c = torch.randn(3, 5), torch.randn(3, 4), torch.randn(3, 6)
    pre = (
        _layer_norm(x @ cell.weight_ih.T, cell.weight_ln_ih)
        + _layer_norm(h @ cell.weight_hh.T, cell.weight_ln_hh)
        + cell.bias_ih
        + cell.bias_hh
    )
    a_i, a_f, a_g, a_o = pre.split(6, dim=1)
    w_ci, w_cf, w_co = cell.weight_ch.split(6)
    i = torch.sigmoid(a_i + w_ci * c)
    f = torch.sigmoid(a_f + w_cf * c)
    c_new = f * c + i * torch.tanh(a_g)
    o = torch.sigmoid(a_o + w_co * c_new)
    h_new = (
        o * torch.tanh(_layer_norm(c_new, cell.weight_ln_c, cell.bias_ln_c))
    ) @ cell.weight_hr.T
    got_h, got_c = cell(x, (h, c))
    torch.testing.assert_close(got_c, c_new)
    torch.testing.assert_close(got_h, h_new)


def test_gru_layer_norm_follows_its_equations():
    torch.manual_seed(0)
    cell = rnnkit.GRUCell(5, 6, layer_norm=True)
    x, h = torch.randn(3, 5), torch.randn(3, 6)
    gx = _layer_norm(x @ cell.weight_ih.T, cell.weight_ln_ih) + cell.bias_ih
    gh = _layer_norm(h @ cell.weight_hh.T, cell.weight_ln_hh) + cell.bias_hh
    r = torch.sigmoid(gx[:, :6] + gh[:, :6])
    z = torch.sigmoid(gx[:, 6:12] + gh[:, 6:12])
    n = torch.tanh(gx[:, 12:] + r * gh[:, 12:])
    torch.testing.assert_close(cell(x, h), (1 - z) * n + z * h)


def test_jordan_cell_feeds_back_its_output():
    torch.manual_seed(0)
    cell = rnnkit.JordanCell(5, 6, output_size=3, nonlinearity="relu")
    x, y = torch.randn(4, 5), torch.randn(4, 3)
    h = torch.relu(x @ cell.weight_ih.T + cell.bias_ih + y @ cell.weight_yh.T)
    torch.testing.assert_close(cell(x, y), h @ cell.weight_hy.T + cell.bias_hy)


def _g_reference(x):
    return torch.tensor(
        [v + 0.5 if v >= 0 else 1 / (1 + torch.exp(-v)) for v in x.detach().flatten()]
    ).view_as(x)


def test_min_cells_follow_feng_et_al():
    torch.manual_seed(0)
    x, h = torch.randn(4, 5), torch.randn(4, 6)
    gru = rnnkit.MinGRUCell(5, 6)
    k_z, k_h = (x @ gru.weight_ih.T + gru.bias_ih).split(6, dim=1)
    z = torch.sigmoid(k_z)
    torch.testing.assert_close(gru(x, h), (1 - z) * h + z * _g_reference(k_h))
    lstm = rnnkit.MinLSTMCell(5, 6)
    k_f, k_i, k_h = (x @ lstm.weight_ih.T + lstm.bias_ih).split(6, dim=1)
    f, i = torch.sigmoid(k_f), torch.sigmoid(k_i)
    expected = f / (f + i) * h + i / (f + i) * _g_reference(k_h)
    torch.testing.assert_close(lstm(x, h), expected)


def test_g_is_positive_and_continuous():
    x = torch.linspace(-30, 30, 2001, dtype=torch.float64)
    assert bool((positive_activation(x) > 0).all())
    torch.testing.assert_close(
        positive_activation(torch.tensor([-1e-12, 0.0, 1e-12])), torch.tensor([0.5, 0.5, 0.5])
    )


GRADCHECK_CELLS = {
    "rnn": lambda: rnnkit.RNNCell(3, 4),
    "rnn_relu_layer_norm": lambda: rnnkit.RNNCell(3, 4, nonlinearity="relu", layer_norm=True),
    "lstm": lambda: rnnkit.LSTMCell(3, 4),
    "lstm_peephole": lambda: rnnkit.LSTMCell(3, 4, peephole=True),
    "lstm_layer_norm": lambda: rnnkit.LSTMCell(3, 4, layer_norm=True),
    "lstm_projection": lambda: rnnkit.LSTMCell(3, 4, proj_size=2),
    "lstm_everything": lambda: rnnkit.LSTMCell(3, 4, peephole=True, layer_norm=True, proj_size=2),
    "gru": lambda: rnnkit.GRUCell(3, 4),
    "gru_layer_norm": lambda: rnnkit.GRUCell(3, 4, layer_norm=True),
    "jordan": lambda: rnnkit.JordanCell(3, 4, output_size=2),
    "mingru": lambda: rnnkit.MinGRUCell(3, 4),
    "minlstm": lambda: rnnkit.MinLSTMCell(3, 4),
}


@pytest.mark.parametrize("name", list(GRADCHECK_CELLS))
def test_gradcheck_float64(name):
    torch.manual_seed(0)
    cell = GRADCHECK_CELLS[name]().double()
    names = [n for n, _ in cell.named_parameters()]
    params = [p.detach().clone().requires_grad_() for _, p in cell.named_parameters()]
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    hx = tuple(
        torch.randn(2, s, dtype=torch.float64, requires_grad=True) for s in cell.state_sizes()
    )

    def run(x, *tensors):
        state, weights = tensors[: len(hx)], dict(zip(names, tensors[len(hx) :], strict=True))
        out = torch.func.functional_call(cell, weights, (x, state if len(state) > 1 else state[0]))
        return out

    assert gradcheck(run, (x, *hx, *params), eps=1e-6, atol=1e-6)


def test_forget_bias_sets_the_total_forget_gate_bias():
    cell = rnnkit.LSTMCell(5, 6, forget_bias=1.0)
    total = cell.bias_ih + cell.bias_hh
    torch.testing.assert_close(total[6:12].detach(), torch.ones(6))
    reference = torch.nn.LSTMCell(5, 6)
    reference.load_state_dict(cell.state_dict(), strict=True)
    minlstm = rnnkit.MinLSTMCell(5, 6, forget_bias=2.0)
    torch.testing.assert_close(minlstm.bias_ih[:6].detach(), torch.full((6,), 2.0))


@pytest.mark.parametrize(
    "call, expected",
    [
        (lambda c: c(torch.randn(3, 4)), r"\(N, 5\)"),
        (lambda c: c(torch.randn(2, 3, 5)), r"\(N, 5\)"),
        (lambda c: c(torch.randn(3, 5), (torch.randn(3, 7), torch.randn(2, 7))), r"\(3, 7\)"),
        (lambda c: c(torch.randn(3, 5), torch.randn(3, 7)), "2 tensors"),
    ],
)
def test_bad_input_names_the_expected_shape(call, expected):
    with pytest.raises(ValueError, match=expected):
        call(rnnkit.LSTMCell(5, 7))


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="nonlinearity"):
        rnnkit.RNNCell(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="proj_size"):
        rnnkit.LSTMCell(3, 4, proj_size=4)


def test_layer_norm_gain_only_on_projections():
    """The projections' layer norm has no bias of its own: b_ih and b_hh play that role."""
    cell = rnnkit.LSTMCell(3, 4, layer_norm=True)
    names = {n for n, _ in cell.named_parameters()}
    assert {"weight_ln_ih", "weight_ln_hh", "weight_ln_c", "bias_ln_c"} <= names
    assert "bias_ln_ih" not in names
    x = torch.randn(2, 3)
    # F.layer_norm with the same gain and no bias is the projection's normalisation
    proj = F.layer_norm(x @ cell.weight_ih.T, (16,), cell.weight_ln_ih)
    torch.testing.assert_close(
        rnnkit.LSTMCell.project_input(cell.weights(), x) - cell.bias_ih - cell.bias_hh, proj
    )
