"""Gradient flow: ‖∂L/∂h_t‖ by distance from the loss, checked against the hand-derived BPTT,
a closed form for minGRU, and layers whose recurrent weights are zero."""

from __future__ import annotations

import math

import pytest
import torch

import rnnkit
from rnnkit.bptt.backward import bptt
from rnnkit.bptt.flow_experiment import FlowSettings, flow_report
from rnnkit.bptt.gradient_flow import gradient_flow

STEPS, BATCH, HIDDEN = 9, 3, 5


def _x(features=2, seed=0, batch_first=False):
    generator = torch.Generator().manual_seed(seed)
    shape = (BATCH, STEPS, features) if batch_first else (STEPS, BATCH, features)
    return torch.randn(*shape, generator=generator, dtype=torch.float64)


@pytest.mark.parametrize(
    "make",
    [
        lambda: rnnkit.RNN(2, HIDDEN, num_layers=2),
        lambda: rnnkit.LSTM(2, HIDDEN, batch_first=True),
        lambda: rnnkit.GRU(2, HIDDEN),
    ],
    ids=["rnn_two_layers", "lstm_batch_first", "gru"],
)
def test_matches_hand_derived_bptt(make):
    torch.manual_seed(0)
    layer = make().double()
    x = _x(batch_first=layer.batch_first)
    flow = gradient_flow(layer, x)
    # the same loss for bptt: ⟨u, y_{T-1}⟩ per sequence, u = 1/√H
    output, _ = layer(x)
    time = 1 if layer.batch_first else 0
    g_out = torch.zeros_like(output)
    g_out.select(time, -1).fill_(1 / math.sqrt(HIDDEN))
    result = bptt(layer, x, g_out)
    top = result.grad_hidden[-1]  # ∂L/∂h_t of the top layer
    expected = top.norm(dim=-1).mean(1 - time).flip(0)  # by distance
    assert flow.distances == list(range(STEPS))
    assert flow.hidden == pytest.approx(expected.tolist(), rel=1e-9, abs=1e-15)
    grad_x = result.grad_input.norm(dim=-1).mean(1 - time).flip(0)
    assert flow.input == pytest.approx(grad_x.tolist(), rel=1e-9)
    assert flow.hidden[0] == pytest.approx(1.0)


def test_min_gru_closed_form():
    torch.manual_seed(0)
    layer = rnnkit.MinGRU(2, HIDDEN).double()
    x = _x()
    flow = gradient_flow(layer, x)
    # h_t = (1 - z_t) h_{t-1} + z_t h̃_t with z_t of x_t only: ∂L/∂h_t = u ⊙ Π_{s>t} (1 - z_s)
    w, expected = layer.cell_weights(0), []
    with torch.no_grad():
        z = torch.sigmoid(x @ w.weight_ih[:HIDDEN].t() + w.bias_ih[:HIDDEN])  # (T, N, H)
    for t in range(STEPS):
        keep = torch.prod(1 - z[t + 1 :], dim=0)  # (N, H); ones for t = T - 1
        expected.append(float((keep / math.sqrt(HIDDEN)).norm(dim=-1).mean()))
    assert flow.hidden == pytest.approx(expected[::-1], rel=1e-9)


@pytest.mark.parametrize("layer_type", [rnnkit.RNN, rnnkit.LSTM])
def test_zero_recurrent_weights_stop_the_gradient(layer_type):
    torch.manual_seed(0)
    layer = layer_type(2, HIDDEN).double()
    before = gradient_flow(layer, _x())
    assert all(v > 0 for v in before.hidden)  # the test can fail
    with torch.no_grad():
        layer.weight_hh_l0.zero_()
    after = gradient_flow(layer, _x())
    assert after.hidden[0] == pytest.approx(1.0)
    assert after.hidden[1:] == [0.0] * (STEPS - 1)
    if layer_type is rnnkit.RNN:  # (an LSTM's input still reaches the loss through c)
        assert after.input[0] > 0 and after.input[1:] == [0.0] * (STEPS - 1)


def test_loss_function_and_other_layers():
    torch.manual_seed(0)
    layer = rnnkit.JordanRNN(2, HIDDEN, output_size=3).double()
    default = gradient_flow(layer, _x())
    summed = gradient_flow(layer, _x(), loss=lambda outputs: outputs[-1].sum())
    assert summed.hidden == pytest.approx([v * math.sqrt(3) for v in default.hidden])
    with pytest.raises(ValueError, match="bidirectional"):
        gradient_flow(rnnkit.GRU(2, HIDDEN, bidirectional=True), _x().float())


def test_flow_report():
    settings = FlowSettings(
        cells=("rnn", "rnn_relu_large_init"), length=30, hidden=64, batch=4, train_steps=1
    )
    report = flow_report(settings)
    assert report["distances"] == list(range(30))
    for key in ("cells", "trained"):
        assert set(report[key]) == {"rnn", "rnn_relu_large_init"}
        assert all(len(norms) == 30 for norms in report[key].values())
    rnn, exploding = report["cells"]["rnn"], report["cells"]["rnn_relu_large_init"]
    assert rnn[-1] < 1e-3 * rnn[0]  # vanishing
    assert exploding[-1] > exploding[0]  # exploding
    for effect in report["clipping"]["cells"].values():
        assert effect["after"] == pytest.approx(min(effect["before"], 1.0), rel=1e-5)
    assert list(report["settings"]["cells"]) == ["rnn", "rnn_relu_large_init"]
    assert "trained" not in flow_report(FlowSettings(cells=("gru",), length=5, hidden=4, batch=2))


def test_flow_report_without_clipping():
    """clip_norm=None trains on the raw gradient: the exploding cell's gradient is left as it
    is, and its training goes elsewhere than the clipped one's."""
    common = dict(cells=("rnn_relu_large_init",), length=30, hidden=16, batch=4, train_steps=3)
    clipped = flow_report(FlowSettings(**common))
    raw = flow_report(FlowSettings(**common, clip_norm=None))
    effect = raw["clipping"]["cells"]["rnn_relu_large_init"]
    assert raw["clipping"]["clip_norm"] is None
    assert effect["after"] == effect["before"] > 1e3
    assert raw["cells"] == clipped["cells"]  # the same model at initialisation
    assert raw["train_loss"] != clipped["train_loss"]
