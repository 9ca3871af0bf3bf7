"""rnnkit's layers and cells under `torch.compile`: the results and gradients of eager mode,
with and without grad, in training and evaluation, on both paths; the time loop compiles into
one graph (``fullgraph``), and torch's kernels run outside the graph as torch runs its own
``nn.LSTM`` (AOT autograd's tracing, where the kernels failed, is the ``aot_eager`` backend)."""

from __future__ import annotations

import pytest
import torch
from torch._dynamo.testing import CompileCounter

import rnnkit

pytestmark = pytest.mark.usefixtures("one_thread")
LAYERS = {
    "lstm": lambda **kw: rnnkit.LSTM(3, 4, num_layers=2, bidirectional=True, **kw),
    "gru": lambda **kw: rnnkit.GRU(3, 4, **kw),
    "lstm_layer_norm": lambda **kw: rnnkit.LSTM(3, 4, layer_norm=True, **kw),
    "mingru": lambda **kw: rnnkit.MinGRU(3, 4, **kw),
}
CELLS = {"lstm": rnnkit.LSTMCell, "gru": rnnkit.GRUCell, "rnn": rnnkit.RNNCell}


def compiled(module: torch.nn.Module, fullgraph: bool = False) -> torch.nn.Module:
    torch._dynamo.reset()
    return torch.compile(module, backend="aot_eager", fullgraph=fullgraph)


def assert_same_run(module: torch.nn.Module, inputs: tuple, fullgraph: bool = False) -> None:
    """Output, state and every gradient of the compiled module equal eager mode's."""
    eager_out = module(*inputs)
    eager = torch.autograd.grad(
        eager_out[0].sum(), list(module.parameters()), allow_unused=True
    ) if torch.is_grad_enabled() else None  # fmt: skip
    out = compiled(module, fullgraph)(*inputs)
    torch.testing.assert_close(out[0], eager_out[0])
    torch.testing.assert_close(out[1], eager_out[1])
    if eager is not None:
        grads = torch.autograd.grad(out[0].sum(), list(module.parameters()), allow_unused=True)
        for got, expected in zip(grads, eager, strict=True):
            torch.testing.assert_close(got, expected)


@pytest.mark.parametrize(
    ("training", "grad"), [(True, True), (False, False)], ids=["train", "infer"]
)
@pytest.mark.parametrize("backend", ["auto", "loop"])
@pytest.mark.parametrize("kind", LAYERS)
def test_a_compiled_layer_gives_eager_results(kind, backend, training, grad):
    torch.manual_seed(0)
    layer = LAYERS[kind](backend=backend).train(training)
    x = torch.randn(6, 2, 3)  # the usual case: features that need no gradient
    lengths = torch.tensor([6, 4])
    with torch.set_grad_enabled(grad):
        assert_same_run(layer, (x, None, lengths))


@pytest.mark.parametrize("kind", ["lstm", "gru", "lstm_layer_norm"])
def test_the_time_loop_compiles_into_one_graph(kind):
    torch.manual_seed(0)
    layer = LAYERS[kind](backend="loop")
    x = torch.randn(6, 2, 3, requires_grad=True)
    assert_same_run(layer, (x,), fullgraph=True)


def test_torchs_kernel_stays_out_of_the_graph_as_for_torchs_own_lstm():
    with pytest.raises(torch._dynamo.exc.Unsupported):
        compiled(torch.nn.LSTM(3, 4), fullgraph=True)(torch.randn(5, 2, 3))
    with pytest.raises(torch._dynamo.exc.Unsupported, match="recurrent kernels cannot be traced"):
        compiled(rnnkit.LSTM(3, 4), fullgraph=True)(torch.randn(5, 2, 3))


@pytest.mark.parametrize("kind", CELLS)
def test_a_compiled_cell_gives_eager_results(kind):
    torch.manual_seed(0)
    cell = CELLS[kind](3, 4)
    x, h = torch.randn(2, 3), torch.randn(2, 4)
    state = (h, torch.randn(2, 4)) if kind == "lstm" else h
    eager = cell(x, state)
    out = compiled(cell, fullgraph=True)(x, state)
    torch.testing.assert_close(out, eager)


@pytest.mark.parametrize("kind", [rnnkit.LSTM, rnnkit.GRU])
def test_zoneout_in_training_compiles_once_and_draws_afresh_each_call(kind):
    """Zoneout's keys are drawn as a tensor inside the graph, not baked in as constants (which
    recompiled at every call)."""
    torch._dynamo.reset()
    counter = CompileCounter()
    layer = torch.compile(kind(3, 4, zoneout=0.5).train(), backend=counter)
    x = torch.randn(6, 2, 3)
    outputs = [layer(x)[0] for _ in range(3)]
    assert counter.frame_count == 1
    assert not torch.equal(outputs[0], outputs[1])
