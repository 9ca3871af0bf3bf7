"""The log-space parallel scan against exact sequential runs, and minGRU / minLSTM layers
(scan) against the same layers stepping their cells (loop) and against the streaming cell."""

from __future__ import annotations

import pytest
import torch
from torch.autograd import gradcheck

import rnnkit
from rnnkit.nn.scan import chunked_linear_scan, log_linear_scan

SCANS = pytest.mark.parametrize("scan", [log_linear_scan, chunked_linear_scan])


def _sequential(a, b, h0):
    h, states = h0, []
    for a_t, b_t in zip(a, b, strict=True):
        h = a_t * h + b_t
        states.append(h)
    return torch.stack(states)


@SCANS
@pytest.mark.parametrize("steps", [1, 7, 16, 300])
def test_scan_equals_the_sequential_recurrence(scan, steps):
    torch.manual_seed(0)
    a = torch.rand(steps, 3, 4, dtype=torch.float64) * 0.999 + 1e-3
    b = torch.rand(steps, 3, 4, dtype=torch.float64) * 2
    h0 = torch.randn(3, 4, dtype=torch.float64)  # any sign
    got = scan(a.log(), b.log(), h0)
    torch.testing.assert_close(got, _sequential(a, b, h0), rtol=1e-10, atol=1e-10)


@SCANS
def test_scan_gradients(scan):
    torch.manual_seed(0)
    log_a = (-torch.rand(11, 2, 3, dtype=torch.float64) - 0.01).requires_grad_()
    log_b = torch.randn(11, 2, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    assert gradcheck(scan, (log_a, log_b, h0))


@SCANS
def test_scan_survives_long_sequences_with_vanishing_coefficients(scan):
    torch.manual_seed(0)
    steps = 5000
    a = torch.full((steps, 1, 2), 0.5, dtype=torch.float64)  # A_t underflows to 0 long before T
    b = torch.rand(steps, 1, 2, dtype=torch.float64) + 0.1
    got = scan(a.log(), b.log(), torch.ones(1, 2, dtype=torch.float64))
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, _sequential(a, b, torch.ones(1, 2, dtype=torch.float64)))


@pytest.mark.parametrize("layer_cls", [rnnkit.MinGRU, rnnkit.MinLSTM])
def test_scan_layer_equals_step_loop(layer_cls):
    torch.manual_seed(0)
    scan = layer_cls(4, 6, num_layers=2, bidirectional=True, batch_first=True).double()
    loop = layer_cls(
        4, 6, num_layers=2, bidirectional=True, batch_first=True, backend="loop"
    ).double()
    loop.load_state_dict(scan.state_dict())
    x = torch.randn(3, 9, 4, dtype=torch.float64)
    h0 = torch.randn(4, 3, 6, dtype=torch.float64)
    lengths = torch.tensor([9, 4, 6])
    results = []
    for layer in (scan, loop):
        out, h = layer(x, h0, lengths=lengths)
        (out.square().sum() + h.sum()).backward()
        results.append((out, h, {n: p.grad.clone() for n, p in layer.named_parameters()}))
    (out_a, h_a, g_a), (out_b, h_b, g_b) = results
    torch.testing.assert_close(out_a, out_b)
    torch.testing.assert_close(h_a, h_b)
    for name in g_a:
        torch.testing.assert_close(g_a[name], g_b[name])


@pytest.mark.parametrize(
    "layer_cls, cell_cls",
    [(rnnkit.MinGRU, rnnkit.MinGRUCell), (rnnkit.MinLSTM, rnnkit.MinLSTMCell)],
)
def test_streaming_cell_reproduces_the_scan(layer_cls, cell_cls):
    torch.manual_seed(0)
    layer, cell = layer_cls(4, 6), cell_cls(4, 6)
    cell.load_state_dict({"weight_ih": layer.weight_ih_l0, "bias_ih": layer.bias_ih_l0})
    x = torch.randn(20, 2, 4)
    out, h_n = layer(x)
    h = torch.zeros(2, 6)
    for t in range(20):
        h = cell(x[t], h)
        torch.testing.assert_close(h, out[t], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(h, h_n[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layer_cls", [rnnkit.MinGRU, rnnkit.MinLSTM])
def test_scan_layer_gradcheck(layer_cls):
    torch.manual_seed(0)
    layer = layer_cls(2, 3, bidirectional=True).double()
    names = [n for n, _ in layer.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in layer.parameters()]
    x = torch.randn(5, 2, 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 2, 3, dtype=torch.float64, requires_grad=True)

    def run(x, h0, *weights):
        out, h = torch.func.functional_call(
            layer,
            dict(zip(names, weights, strict=True)),
            (x, h0),
            {"lengths": torch.tensor([5, 3])},
        )
        return out, h

    assert gradcheck(run, (x, h0, *params), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("layer_cls", [rnnkit.MinGRU, rnnkit.MinLSTM, rnnkit.JordanRNN])
def test_packed_sequence_equals_lengths(layer_cls):
    """Layers torch lacks take a `PackedSequence` as torch's layers do."""
    torch.manual_seed(0)
    layer = layer_cls(4, 6, bidirectional=True)
    x, lengths = torch.randn(7, 3, 4), torch.tensor([4, 7, 2])
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
    out_packed, h_packed = layer(packed)
    out, h = layer(x, lengths=lengths)
    unpacked, _ = torch.nn.utils.rnn.pad_packed_sequence(out_packed, total_length=7)
    torch.testing.assert_close(unpacked, out)
    torch.testing.assert_close(h_packed, h)
