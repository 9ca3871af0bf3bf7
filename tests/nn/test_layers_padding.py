"""Variable lengths: a padded batch gives, for every sequence, what that sequence gives alone —
outputs, final state and parameter gradients — in both directions, for every layer type; the
padding's content (NaN included) changes nothing, and padded outputs are exactly 0."""

from __future__ import annotations

import pytest
import torch

import rnnkit

LAYERS = {
    "rnn": lambda **kw: rnnkit.RNN(4, 5, **kw),
    "rnn_layer_norm": lambda **kw: rnnkit.RNN(4, 5, layer_norm=True, **kw),
    "lstm": lambda **kw: rnnkit.LSTM(4, 5, **kw),
    "lstm_projection": lambda **kw: rnnkit.LSTM(4, 5, proj_size=3, **kw),
    "lstm_layer_norm_peephole": lambda **kw: rnnkit.LSTM(
        4, 5, layer_norm=True, peephole=True, **kw
    ),
    "lstm_zoneout": lambda **kw: rnnkit.LSTM(4, 5, zoneout=0.3, **kw),
    "gru": lambda **kw: rnnkit.GRU(4, 5, **kw),
    "gru_layer_norm": lambda **kw: rnnkit.GRU(4, 5, layer_norm=True, **kw),
    "mingru": lambda **kw: rnnkit.MinGRU(4, 5, **kw),
    "minlstm": lambda **kw: rnnkit.MinLSTM(4, 5, **kw),
    "jordan": lambda **kw: rnnkit.JordanRNN(4, 5, output_size=3, **kw),
}
LENGTHS = [6, 2, 5, 1]


def _loss(out, state, out_w, state_w):
    parts = state if isinstance(state, tuple) else (state,)
    return (out * out_w).sum() + sum((p * w).sum() for p, w in zip(parts, state_w, strict=True))


def _grads(layer):
    grads = {name: p.grad.clone() for name, p in layer.named_parameters()}
    layer.zero_grad()
    return grads


@pytest.mark.parametrize("backend", ["auto", "loop"])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_each_sequence_as_if_alone(name, backend):
    torch.manual_seed(0)
    layer = (
        LAYERS[name](num_layers=2, bidirectional=True, batch_first=True, backend=backend)
        .double()
        .eval()
    )
    steps = max(LENGTHS)
    x = torch.randn(len(LENGTHS), steps, 4, dtype=torch.float64)
    out, state = layer(x, lengths=torch.tensor(LENGTHS))
    parts = state if isinstance(state, tuple) else (state,)
    out_w = torch.randn_like(out)
    state_w = [torch.randn_like(p) for p in parts]
    _loss(out, state, out_w, state_w).backward()
    batch_grads = _grads(layer)

    summed = {name: torch.zeros_like(g) for name, g in batch_grads.items()}
    for n, length in enumerate(LENGTHS):
        out_n, state_n = layer(x[n : n + 1, :length])
        parts_n = state_n if isinstance(state_n, tuple) else (state_n,)
        torch.testing.assert_close(out[n : n + 1, :length], out_n)
        for p, p_n in zip(parts, parts_n, strict=True):
            torch.testing.assert_close(p[:, n : n + 1], p_n)
        assert bool((out[n, length:] == 0).all())
        weights_n = [w[:, n : n + 1] for w in state_w]
        _loss(out_n, state_n, out_w[n : n + 1, :length], weights_n).backward()
        for key, grad in _grads(layer).items():
            summed[key] += grad
    for key, grad in batch_grads.items():
        torch.testing.assert_close(grad, summed[key])


@pytest.mark.parametrize("backend", ["auto", "loop"])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_nan_padding_changes_nothing(name, backend):
    torch.manual_seed(0)
    layer = LAYERS[name](num_layers=2, bidirectional=True, backend=backend).eval()
    lengths = torch.tensor(LENGTHS)
    clean = torch.randn(max(LENGTHS), len(LENGTHS), 4)
    poisoned = clean.clone()
    for n, length in enumerate(LENGTHS):
        poisoned[length:, n] = float("nan")
    results = []
    for x in (clean, poisoned):
        x = x.clone().requires_grad_()
        out, state = layer(x, lengths=lengths)
        parts = state if isinstance(state, tuple) else (state,)
        (out.sum() + sum(p.sum() for p in parts)).backward()
        results.append((out, parts, x.grad, _grads(layer)))
    (out_a, parts_a, dx_a, grads_a), (out_b, parts_b, dx_b, grads_b) = results
    assert torch.equal(out_a, out_b)
    assert not out_b.isnan().any()
    for a, b in zip(parts_a, parts_b, strict=True):
        assert torch.equal(a, b)
    assert torch.equal(dx_a, dx_b)
    for key in grads_a:
        assert torch.equal(grads_a[key], grads_b[key]), key
