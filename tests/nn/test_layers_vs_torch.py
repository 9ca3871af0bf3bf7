"""Layers against torch.nn.RNN / LSTM / GRU for random configurations, weights copied both ways:
outputs, final states and every parameter gradient agree. The random comparison runs rnnkit's
own time loop (``backend="loop"``): with 'auto' both sides would run torch's kernel."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.utils.rnn import pack_padded_sequence

import rnnkit

KINDS = {
    "rnn_tanh": (rnnkit.RNN, torch.nn.RNN, {}),
    "rnn_relu": (rnnkit.RNN, torch.nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (rnnkit.LSTM, torch.nn.LSTM, {}),
    "gru": (rnnkit.GRU, torch.nn.GRU, {}),
}

configs = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(sorted(KINDS)),
        "num_layers": st.integers(1, 3),
        "bidirectional": st.booleans(),
        "batch_first": st.booleans(),
        "bias": st.booleans(),
        "proj": st.booleans(),
        "ours_first": st.booleans(),
        "seed": st.integers(0, 2**16),
    }
)


def _pair(kind, backend, **options):
    ours_cls, torch_cls, extra = KINDS[kind]
    return ours_cls(**options, **extra, backend=backend), torch_cls(**options, **extra)


def _run(layer, x, hx, loss_weights):
    layer.zero_grad()
    out, state = layer(x, hx)
    parts = state if isinstance(state, tuple) else (state,)
    loss = (out * loss_weights[0]).sum() + sum(
        (p * w).sum() for p, w in zip(parts, loss_weights[1:], strict=False)
    )
    loss.backward()
    return out, parts, {name: p.grad.clone() for name, p in layer.named_parameters()}


@settings(max_examples=40, deadline=None)
@given(configs)
def test_layer_matches_torch(config):
    check_against_torch(config)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None)
@given(configs)
def test_layer_matches_torch_thoroughly(config):
    check_against_torch(config)


def check_against_torch(config: dict) -> None:
    """rnnkit's time loop against torch.nn for one configuration of `configs`."""
    torch.manual_seed(config["seed"])
    options = dict(
        input_size=5,
        hidden_size=6,
        num_layers=config["num_layers"],
        bias=config["bias"],
        batch_first=config["batch_first"],
        bidirectional=config["bidirectional"],
    )
    if config["kind"] == "lstm" and config["proj"]:
        options["proj_size"] = 3
    ours, theirs = _pair(config["kind"], "loop", **options)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, v.shape) for k, v in theirs.state_dict().items()
    ]
    if config["ours_first"]:
        theirs.load_state_dict(ours.state_dict(), strict=True)
    else:
        ours.load_state_dict(theirs.state_dict(), strict=True)
    batch, steps = 3, 4
    x = torch.randn(batch, steps, 5) if config["batch_first"] else torch.randn(steps, batch, 5)
    _, state = theirs(x)
    hx = tuple(torch.randn_like(s) for s in (state if isinstance(state, tuple) else (state,)))
    hx_arg = hx if len(hx) > 1 else hx[0]
    out_t, _ = theirs(x, hx_arg)
    loss_weights = [torch.randn_like(out_t), *(torch.randn_like(h) for h in hx)]
    out_a, state_a, grads_a = _run(ours, x, hx_arg, loss_weights)
    out_b, state_b, grads_b = _run(theirs, x, hx_arg, loss_weights)
    torch.testing.assert_close(out_a, out_b, atol=1e-5, rtol=1e-5)
    for a, b in zip(state_a, state_b, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    for name, grad in grads_b.items():
        torch.testing.assert_close(grads_a[name], grad, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("backend", ["auto", "loop"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_packed_sequence_matches_torch(kind, backend):
    torch.manual_seed(0)
    ours, theirs = _pair(
        kind, backend, input_size=4, hidden_size=5, num_layers=2, bidirectional=True
    )
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(6, 4, 4)
    packed = pack_padded_sequence(x, torch.tensor([3, 6, 1, 6]), enforce_sorted=False)
    out_a, state_a = ours(packed)
    out_b, state_b = theirs(packed)
    torch.testing.assert_close(out_a.data, out_b.data, atol=1e-5, rtol=1e-5)
    assert torch.equal(out_a.batch_sizes, out_b.batch_sizes)
    assert torch.equal(out_a.unsorted_indices, out_b.unsorted_indices)
    for a, b in zip(
        state_a if kind == "lstm" else (state_a,),
        state_b if kind == "lstm" else (state_b,),
        strict=True,
    ):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("backend", ["auto", "loop"])
def test_lengths_match_torch_packing(backend):
    """``lengths=`` gives what torch gives on the packed batch, padded outputs exactly 0."""
    torch.manual_seed(0)
    ours, theirs = _pair(
        "lstm", backend, input_size=4, hidden_size=5, bidirectional=True, batch_first=True
    )
    ours.load_state_dict(theirs.state_dict())
    x, lengths = torch.randn(3, 6, 4), torch.tensor([6, 2, 4])
    out_a, (h_a, c_a) = ours(x, lengths=lengths)
    packed_out, (h_b, c_b) = theirs(
        pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    )
    out_b, _ = torch.nn.utils.rnn.pad_packed_sequence(packed_out, batch_first=True, total_length=6)
    torch.testing.assert_close(out_a, out_b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(h_a, h_b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(c_a, c_b, atol=1e-5, rtol=1e-5)
    assert bool((out_a[1, 2:] == 0).all())


@pytest.mark.parametrize("backend", ["auto", "loop"])
def test_unbatched_input_matches_torch(backend):
    torch.manual_seed(0)
    ours, theirs = _pair("gru", backend, input_size=4, hidden_size=5, num_layers=2)
    ours.load_state_dict(theirs.state_dict())
    x, h0 = torch.randn(7, 4), torch.randn(2, 5)
    out_a, h_a = ours(x, h0)
    out_b, h_b = theirs(x, h0)
    assert out_a.shape == (7, 5) and h_a.shape == (2, 5)
    torch.testing.assert_close(out_a, out_b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(h_a, h_b, atol=1e-5, rtol=1e-5)


def test_native_dispatch_is_chosen_only_where_torch_can_run():
    assert rnnkit.LSTM(3, 4).uses_native()
    assert not rnnkit.LSTM(3, 4, backend="loop").uses_native()
    assert not rnnkit.LSTM(3, 4, layer_norm=True).uses_native()
    dropped = rnnkit.LSTM(3, 4, recurrent_dropout=0.3)
    assert not dropped.uses_native()
    assert dropped.eval().uses_native()  # variational dropout is the identity in evaluation
    assert not rnnkit.MinGRU(3, 4).uses_native()
