"""The native path's padded batches (`rnnkit.nn.native_padding`) against torch's packed
computation, weights copied: outputs at real steps, final states and the gradients of the input
and of every parameter, for LSTM (with and without projection) and GRU, one to three layers,
either direction, zero or given initial states, training and evaluation mode, several dtypes;
and the same through a `PackedSequence` input. Each comparison runs twice: as dispatched on
this machine, and with the padded route forced (as a GPU's cuDNN would take it for every
configuration)."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit
import rnnkit.nn.recurrent_layer as recurrent_layer
from rnnkit.nn.native import NativeConfig
from rnnkit.nn.native_padding import FLAG_WEIGHT, flag_weights, fuses_sequence, runs_padded

KINDS = {"lstm": (rnnkit.LSTM, torch.nn.LSTM), "gru": (rnnkit.GRU, torch.nn.GRU)}
STEPS = 9


def length_patterns(batch: int) -> st.SearchStrategy[list[int]]:
    """Any lengths, all equal, one long among short ones, or all of length 1."""
    return st.one_of(
        st.lists(st.integers(1, STEPS), min_size=batch, max_size=batch),
        st.integers(1, STEPS).map(lambda n: [n] * batch),
        st.integers(0, batch - 1).map(lambda k: [STEPS if i == k else 2 for i in range(batch)]),
        st.just([1] * batch),
    )


configs = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(sorted(KINDS)),
        "num_layers": st.integers(1, 3),
        "bidirectional": st.booleans(),
        "bias": st.booleans(),
        "proj": st.booleans(),
        "initial_state": st.booleans(),
        "training": st.booleans(),
        "seed": st.integers(0, 2**16),
    }
).flatmap(lambda c: st.tuples(st.just(c), st.integers(1, 5).flatmap(length_patterns)))


# one configuration of `configs`, for the fixed cases below to vary
TWO_LAYERS_BOTH_WAYS = dict(kind="lstm", num_layers=2, bidirectional=True, bias=True, proj=False,
                            initial_state=False, training=True, seed=0)  # fmt: skip


def _layers(config: dict, dtype: torch.dtype, device: str):
    ours_cls, torch_cls = KINDS[config["kind"]]
    options = dict(
        input_size=5,
        hidden_size=6,
        num_layers=config["num_layers"],
        bias=config["bias"],
        bidirectional=config["bidirectional"],
    )
    if config["kind"] == "lstm" and config["proj"]:
        options["proj_size"] = 4
    ours = ours_cls(**options).to(device, dtype)
    theirs = torch_cls(**options).to(device, dtype)
    theirs.load_state_dict(ours.state_dict())
    for layer in (ours, theirs):
        layer.train(config["training"])
    return ours, theirs


def _initial_state(layer, batch: int, dtype: torch.dtype):
    zeros = layer.initial_state(batch)
    if isinstance(zeros, tuple):
        return tuple(torch.randn_like(z, dtype=dtype) for z in zeros)
    return torch.randn_like(zeros, dtype=dtype)


def _run(layer, x, lengths, hx, loss_weights, packed_input: bool):
    """Output (padded, zeros beyond each length), final state parts and all gradients of the
    weighted sum of the outputs and final states."""
    x = x.detach().clone().requires_grad_()
    parts_in = (
        None
        if hx is None
        else tuple(
            h.detach().clone().requires_grad_() for h in (hx if isinstance(hx, tuple) else (hx,))
        )
    )
    given = None if parts_in is None else (parts_in if isinstance(hx, tuple) else parts_in[0])
    layer.zero_grad()
    if packed_input:
        packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
        out_packed, state = layer(packed, given)
        out = pad_packed_sequence(out_packed, total_length=x.shape[0])[0]
    else:
        out, state = layer(x, given, lengths=lengths)
    parts = state if isinstance(state, tuple) else (state,)
    loss = (out * loss_weights[0]).sum() + sum(
        (p * w).sum() for p, w in zip(parts, loss_weights[1:], strict=False)
    )
    loss.backward()
    grads = {"input": x.grad, **{n: p.grad for n, p in layer.named_parameters()}}
    if parts_in is not None:
        grads.update({f"hx{i}": h.grad for i, h in enumerate(parts_in)})
    return out, parts, grads


def compare_with_packed(config: dict, lengths: list[int], **options) -> None:
    """`compare_as_dispatched`, then again with every LSTM and GRU on the padded route."""
    compare_as_dispatched(config, lengths, **options)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(recurrent_layer, "runs_padded", lambda config, x, share: True)
        compare_as_dispatched(config, lengths, **options)


def compare_as_dispatched(
    config: dict,
    lengths: list[int],
    *,
    packed_input: bool = False,
    dtype: torch.dtype = torch.float32,
    device: str = "cpu",
    tolerance=(1e-5, 1e-4),
) -> None:
    torch.manual_seed(config["seed"])
    ours, theirs = _layers(config, dtype, device)
    batch = len(lengths)
    x = torch.randn(STEPS, batch, 5, dtype=dtype, device=device)
    for n, length in enumerate(lengths):
        x[length:, n] = float("nan")  # never read: padding is for the layer to ignore
    hx = _initial_state(ours, batch, dtype) if config["initial_state"] else None
    state = ours.initial_state(batch)
    weights = [torch.randn(STEPS, batch, ours.out_features, dtype=dtype, device=device)] + [
        torch.randn_like(p) for p in (state if isinstance(state, tuple) else (state,))
    ]
    lengths_tensor = torch.tensor(lengths)
    out_ours, parts_ours, grads_ours = _run(ours, x, lengths_tensor, hx, weights, packed_input)
    out_theirs, parts_theirs, grads_theirs = _run(theirs, x, lengths_tensor, hx, weights, True)
    atol, rtol = tolerance
    torch.testing.assert_close(out_ours, out_theirs, atol=atol, rtol=rtol)
    for a, b in zip(parts_ours, parts_theirs, strict=True):
        torch.testing.assert_close(a, b, atol=atol, rtol=rtol)
    assert grads_ours.keys() == grads_theirs.keys()
    for name, grad in grads_theirs.items():
        torch.testing.assert_close(grads_ours[name], grad, atol=atol, rtol=rtol, msg=name)


@settings(max_examples=150, deadline=None)
@given(configs)
def test_padded_batch_equals_torch_packed(config_and_lengths):
    config, lengths = config_and_lengths
    compare_with_packed(config, lengths)


@settings(max_examples=40, deadline=None)
@given(configs)
def test_packed_input_equals_torch_packed(config_and_lengths):
    config, lengths = config_and_lengths
    compare_with_packed(config, lengths, packed_input=True)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_half_precision_equals_torch_packed(kind, dtype):
    config = {**TWO_LAYERS_BOTH_WAYS, "kind": kind}
    compare_with_packed(config, [9, 3, 1, 6], dtype=dtype, tolerance=(2e-2, 2e-2))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_float64_equals_torch_packed(dtype):
    config = {**TWO_LAYERS_BOTH_WAYS, "proj": True, "initial_state": True, "training": False}
    compare_with_packed(config, [9, 3, 1, 6], dtype=dtype)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_cuda_equals_torch_packed(kind, dtype, monkeypatch):
    """cuDNN's kernels (training mode: cuDNN differentiates only there), TF32 off."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    tolerance = (1e-5, 1e-4) if dtype == torch.float32 else (2e-2, 2e-2)
    for layers, bidirectional, proj, initial_state in itertools.product(
        (1, 2), (False, True), (False, True), (False, True)
    ):
        varied = dict(num_layers=layers, bidirectional=bidirectional, proj=proj,
                      initial_state=initial_state)  # fmt: skip
        config = {**TWO_LAYERS_BOTH_WAYS, "kind": kind, **varied}
        for lengths in ([9, 3, 1, 6], [9, 2, 2, 2], [1, 1, 1]):
            compare_as_dispatched(config, lengths, dtype=dtype, device="cuda", tolerance=tolerance)


def test_fused_kernels_are_told_apart():
    """oneDNN's LSTM on a CPU is fused; a GRU, a projection, float16 / float64 run torch's step
    loop; Elman is never padded."""
    lstm, gru = NativeConfig("LSTM", True, 1, 0.0, False), NativeConfig("GRU", True, 1, 0.0, False)
    projected = NativeConfig("LSTM", True, 1, 0.0, False, proj_size=2)
    x = torch.zeros(3, 2, 4)
    assert fuses_sequence(lstm, x) == torch.backends.mkldnn.is_available()
    assert fuses_sequence(lstm, x.bfloat16()) == torch.backends.mkldnn.is_available()
    assert not fuses_sequence(lstm, x.double()) and not fuses_sequence(lstm, x.half())
    assert not fuses_sequence(projected, x) and not fuses_sequence(gru, x)
    assert not runs_padded(NativeConfig("RNN_TANH", True, 1, 0.0, False), x, 0.1)


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="needs oneDNN")
@pytest.mark.parametrize("grad", [True, False])
def test_mostly_padded_batches_are_packed(grad):
    """Lengths uniform in [10, 100] (45% padding) stay padded when differentiating; one long
    sequence among short ones (87% padding) is packed either way."""
    lstm, x = NativeConfig("LSTM", True, 1, 0.0, False), torch.zeros(3, 2, 4)
    with torch.set_grad_enabled(grad):
        assert runs_padded(lstm, x, 0.3)
        assert runs_padded(lstm, x, 0.45) == (grad or torch.get_num_threads() > 1)
        assert not runs_padded(lstm, x, 0.87)


def test_step_loop_kernels_pad_only_training_batches_of_little_padding():
    gru, x = NativeConfig("GRU", True, 1, 0.0, False), torch.zeros(3, 2, 4)
    assert runs_padded(gru, x, 0.1) and not runs_padded(gru, x, 0.45)
    with torch.no_grad():
        assert not runs_padded(gru, x, 0.05)


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="needs oneDNN")
def test_lstm_batch_runs_unpacked(monkeypatch):
    """A padded LSTM batch never reaches pack_padded_sequence."""

    def refuse(*args, **kwargs):
        raise AssertionError("packed")

    monkeypatch.setattr(recurrent_layer, "pack_padded_sequence", refuse)
    layer = rnnkit.LSTM(5, 6, num_layers=2, bidirectional=True)
    out, _ = layer(torch.randn(STEPS, 3, 5), lengths=[STEPS, 4, 1])
    assert out.shape == (STEPS, 3, 12)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_flag_saturates_the_gates_exactly(dtype):
    """σ of the flagged pre-activations rounds to exactly 0 or 1 (so σ' is exactly 0), even
    with a pre-activation of ±1e3 beside the flag."""
    column = flag_weights("LSTM", torch.zeros(8, 3, dtype=dtype)).squeeze(1)
    rows = [-FLAG_WEIGHT] * 2 + [FLAG_WEIGHT] * 2 + [0.0] * 4
    assert torch.equal(column, torch.tensor(rows, dtype=dtype))
    for other in (-1e3, 0.0, 1e3):
        shut = torch.sigmoid(torch.tensor(-FLAG_WEIGHT + other, dtype=dtype))
        open_ = torch.sigmoid(torch.tensor(FLAG_WEIGHT + other, dtype=dtype))
        assert shut.item() == 0.0 and open_.item() == 1.0
