"""Layers on rnnkit's time loop under ``torch.jit.trace`` and ONNX export: traced at one size,
run at others, equal to the eager layer (outputs, final states, gradients)."""

import io
import warnings

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from torch import Tensor, nn

import rnnkit

LOOP_LAYERS = {
    "lstm-layer-norm-bidirectional-2": lambda: rnnkit.LSTM(
        3, 5, num_layers=2, layer_norm=True, bidirectional=True
    ),
    "lstm-peephole-projection": lambda: rnnkit.LSTM(3, 5, peephole=True, proj_size=2),
    "lstm-zoneout": lambda: rnnkit.LSTM(3, 5, zoneout=0.3, recurrent_dropout=0.2),
    "gru-layer-norm-batch-first": lambda: rnnkit.GRU(3, 5, layer_norm=True, batch_first=True),
    "rnn-relu-loop-backend": lambda: rnnkit.RNN(3, 5, nonlinearity="relu", backend="loop"),
    "jordan": lambda: rnnkit.JordanRNN(3, 5, output_size=4),
    "min-gru-bidirectional": lambda: rnnkit.MinGRU(3, 5, bidirectional=True),
    "min-lstm": lambda: rnnkit.MinLSTM(3, 5),
}


class Padded(nn.Module):
    """``(x, lengths) -> (output, *final state)``: a layer as a function of tensors only."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, ...]:
        output, state = self.layer(x, lengths=lengths)
        return (output, *((state,) if isinstance(state, Tensor) else state))


def batch(layer: nn.Module, steps: int, size: int, seed: int) -> tuple[Tensor, Tensor]:
    """Inputs ``(x, lengths)`` in the layer's layout; the first row full, the last shorter."""
    generator = torch.Generator().manual_seed(seed)
    shape = (size, steps, 3) if layer.batch_first else (steps, size, 3)
    lengths = torch.randint(1, steps + 1, (size,), generator=generator)
    lengths[0], lengths[-1] = steps, max(1, steps - 2)
    return torch.randn(shape, generator=generator), lengths


def traced(name: str) -> tuple[Padded, torch.jit.ScriptModule]:
    torch.manual_seed(0)
    model = Padded(LOOP_LAYERS[name]()).eval()
    assert not model.layer.uses_native()
    return model, torch.jit.trace(model, batch(model.layer, 5, 3, seed=1), check_trace=False)


@pytest.mark.parametrize("layer", [rnnkit.LSTM(3, 5, layer_norm=True), rnnkit.LSTM(3, 5)])
def test_a_trace_whose_lengths_are_all_full_warns_that_it_records_no_padding(layer, one_thread):
    """Both paths (the loop and torch's kernel) record no padding from such an example."""
    x = torch.randn(5, 2, 3)
    with pytest.warns(torch.jit.TracerWarning, match="will ignore lengths="):
        torch.jit.trace(Padded(layer), (x, torch.tensor([5, 5])), check_trace=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.jit.trace(Padded(layer), (x, torch.tensor([5, 3])), check_trace=False)
    assert not [w for w in caught if "will ignore lengths=" in str(w.message)]


@pytest.mark.parametrize("name", LOOP_LAYERS)
def test_a_traced_loop_layer_runs_other_lengths_and_batches_as_the_layer(name, one_thread):
    model, trace = traced(name)
    for steps, size in [(9, 4), (1, 1), (2, 6)]:
        x, lengths = batch(model.layer, steps, size, seed=steps)
        for got, expected in zip(trace(x, lengths), model(x, lengths), strict=True):
            torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "name", ["lstm-layer-norm-bidirectional-2", "jordan", "min-gru-bidirectional"]
)
def test_gradients_flow_through_a_traced_loop_as_through_the_layer(name, one_thread):
    """In float64, so that the eager layer's compiled loop and the trace's step agree to
    rounding."""
    model, _ = traced(name)
    model.double()
    x, lengths = batch(model.layer, 7, 3, seed=2)
    trace = torch.jit.trace(model, (x.double(), lengths), check_trace=False)
    parameters = list(model.parameters())
    got = torch.autograd.grad(sum(t.sum() for t in trace(x.double(), lengths)), parameters)
    expected = torch.autograd.grad(sum(t.sum() for t in model(x.double(), lengths)), parameters)
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, atol=1e-10, rtol=1e-10)


def test_a_traced_loop_records_a_loop_and_survives_save_and_load(tmp_path, one_thread):
    model, trace = traced("lstm-layer-norm-bidirectional-2")
    assert "prim::Loop" in str(trace.inlined_graph)
    trace.save(tmp_path / "layer.pt")
    loaded = torch.jit.load(tmp_path / "layer.pt")
    x, lengths = batch(model.layer, 11, 2, seed=3)
    torch.testing.assert_close(loaded(x, lengths)[0], model(x, lengths)[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "make",
    [
        lambda: rnnkit.LSTM(3, 5, recurrent_dropout=0.5),
        lambda: rnnkit.LSTM(3, 5, zoneout=0.3, recurrent_dropout=0.2, num_layers=2),
        lambda: rnnkit.GRU(3, 6, zoneout=0.5, bidirectional=True),
    ],
    ids=["lstm-recurrent-dropout", "lstm-zoneout", "bidirectional-gru-zoneout"],
)
def test_a_training_trace_draws_as_the_layer(make, one_thread):
    # traced at one length and batch size, run at others: the same masks from one seed
    torch.manual_seed(0)
    model = Padded(make()).train()
    trace = torch.jit.trace(model, batch(model.layer, 5, 3, seed=1), check_trace=False)
    x, lengths = batch(model.layer, 9, 4, seed=4)
    torch.manual_seed(7)
    got = trace(x, lengths)
    torch.manual_seed(7)
    expected = model(x, lengths)
    for traced_part, eager_part in zip(got, expected, strict=True):
        torch.testing.assert_close(traced_part, eager_part, atol=1e-5, rtol=1e-5)
    torch.manual_seed(8)
    assert not torch.allclose(trace(x, lengths)[0], got[0])  # each call draws afresh


@pytest.mark.parametrize("name", LOOP_LAYERS)
def test_an_onnx_export_of_a_loop_layer_runs_any_length_in_onnx_runtime(name, one_thread):
    model, _ = traced(name)
    buffer = io.BytesIO()
    outputs = [
        "output",
        *(f"state_{i}" for i in range(len(model(*batch(model.layer, 2, 2, 0))) - 1)),
    ]
    torch.onnx.export(
        model,
        batch(model.layer, 5, 3, seed=1),
        buffer,
        dynamo=False,
        opset_version=17,
        input_names=["x", "lengths"],
        output_names=outputs,
        dynamic_axes={"x": {0: "a", 1: "b"}, "lengths": {0: "batch"}}
        | {port: {0: "c", 1: "d"} for port in outputs},
    )
    session = onnxruntime.InferenceSession(buffer.getvalue())
    assert "Loop" in {node.op_type for node in onnx.load_from_string(buffer.getvalue()).graph.node}
    for steps, size in [(9, 4), (1, 1), (3, 5)]:
        x, lengths = batch(model.layer, steps, size, seed=steps)
        got = session.run(None, {"x": x.numpy(), "lengths": lengths.numpy()})
        with torch.no_grad():
            expected = model(x, lengths)
        for g, e in zip(got, expected, strict=True):
            np.testing.assert_allclose(g, e.numpy(), atol=1e-5)
