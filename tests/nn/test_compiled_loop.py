"""The compiled LSTM and GRU loops (`rnnkit.nn.compiled_loop`) against the Python loop they
replace: outputs, final states and gradients of every option, padding included; their
hand-derived backward passes against finite differences; the fallback when switched off."""

import pytest
import torch

import rnnkit
from rnnkit.nn import compiled_loop
from rnnkit.nn.cells import GRUCell, LSTMCell
from rnnkit.nn.zoneout_draws import LEVELS, ZoneoutDraws

pytestmark = pytest.mark.usefixtures("one_thread")

OPTIONS = {
    "plain-loop": dict(backend="loop"),
    "layer-norm": dict(layer_norm=True),
    "peephole": dict(peephole=True),
    "layer-norm-peephole-bidirectional-2": dict(
        layer_norm=True, peephole=True, bidirectional=True, num_layers=2
    ),
    "zoneout": dict(zoneout=0.3),
}
GRU_OPTIONS = {
    "plain-loop": dict(backend="loop"),
    "layer-norm": dict(layer_norm=True),
    "layer-norm-no-bias": dict(layer_norm=True, bias=False),
    "layer-norm-bidirectional-2": dict(layer_norm=True, bidirectional=True, num_layers=2),
    "zoneout": dict(zoneout=0.3),
}
# the layer, and the autograd function of its compiled loop
COMPILED = {rnnkit.LSTM: compiled_loop._LSTMLoop, rnnkit.GRU: compiled_loop._GRULoop}


def compare(layer, x, lengths, monkeypatch, tolerance):
    """Output, final state and every gradient of ``layer``, compiled and in Python, differ by
    at most ``tolerance`` times the largest value of each."""
    parameters = list(layer.parameters())

    def run():
        output, state = layer(x, lengths=lengths)
        parts = state if isinstance(state, tuple) else (state,)
        loss = output.sum() + sum((part * (k + 2)).pow(k + 1).sum() for k, part in enumerate(parts))
        return [output, *parts, *torch.autograd.grad(loss, parameters)]

    calls = []
    function = COMPILED[type(layer)]
    monkeypatch.setattr(function, "apply", _counted(function, calls))
    compiled = run()
    assert calls, "the compiled loop did not run"
    monkeypatch.setattr(rnnkit.nn.layers, "runs_compiled", lambda *args: False)
    reference = run()
    for got, expected in zip(compiled, reference, strict=True):  # relative to the largest
        assert (got - expected).abs().max() <= tolerance * expected.abs().max()


def _counted(function, calls):
    original = function.apply

    def apply(*args):
        calls.append(1)
        return original(*args)

    return apply


@pytest.mark.parametrize("name", OPTIONS)
@pytest.mark.parametrize("padded", [False, True], ids=["full", "lengths"])
def test_the_compiled_loop_gives_the_python_loops_outputs_and_gradients(name, padded, monkeypatch):
    torch.manual_seed(0)
    layer = rnnkit.LSTM(5, 16, dtype=torch.float64, **OPTIONS[name]).eval()
    x = torch.randn(9, 4, 5, dtype=torch.float64)
    lengths = torch.tensor([9, 3, 6, 1]) if padded else None
    compare(layer, x, lengths, monkeypatch, tolerance=1e-10)


@pytest.mark.parametrize("name", GRU_OPTIONS)
@pytest.mark.parametrize("padded", [False, True], ids=["full", "lengths"])
def test_the_compiled_gru_loop_gives_the_python_loops_outputs_and_gradients(
    name, padded, monkeypatch
):
    torch.manual_seed(0)
    layer = rnnkit.GRU(5, 16, dtype=torch.float64, **GRU_OPTIONS[name]).eval()
    x = torch.randn(9, 4, 5, dtype=torch.float64)
    lengths = torch.tensor([9, 3, 6, 1]) if padded else None
    compare(layer, x, lengths, monkeypatch, tolerance=1e-10)


@pytest.mark.parametrize("kind", [rnnkit.LSTM, rnnkit.GRU])
def test_with_two_threads_each_sums_its_rows_and_the_total_is_the_same(kind, monkeypatch):
    """The rows split over two threads, each with its own partial sums of the per-unit
    weights' gradients (layer-norm gains, peepholes, biases)."""
    torch.manual_seed(0)
    options = dict(layer_norm=True, peephole=True) if kind is rnnkit.LSTM else dict(layer_norm=True)
    layer = kind(5, 16, dtype=torch.float64, **options).eval()
    x = torch.randn(9, 6, 5, dtype=torch.float64)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        compare(layer, x, torch.tensor([9, 3, 6, 1, 9, 2]), monkeypatch, tolerance=1e-10)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize(
    "kind, hidden, threads",
    [
        (rnnkit.LSTM, 256, 2),  # 1 MiB: rows split over the threads, 3 and 2 of them
        (rnnkit.LSTM, 260, 1),  # all rows in each product
        (rnnkit.GRU, 300, 2),
    ],
)
def test_a_large_recurrent_weight_is_packed_once_and_gives_the_same(
    kind, hidden, threads, monkeypatch
):
    """A float32 W_hh of 1 MiB or more is packed for MKL's product once per loop, forward and
    backward (where torch has MKL); a thread's product of another number of rows than the
    packing's takes at::mm. Both agree with the Python loop to float32 rounding."""
    torch.manual_seed(0)
    layer = kind(8, hidden, layer_norm=True).eval()
    x = torch.randn(6, 5, 8)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.profiler.profile() as profile:
            compare(layer, x, torch.tensor([6, 2, 5, 6, 3]), monkeypatch, tolerance=5e-5)
    finally:
        torch.set_num_threads(previous)
    ran = {event.name for event in profile.events()}
    if torch.backends.mkl.is_available():
        assert {"mkl::_mkl_reorder_linear_weight", "mkl::_mkl_linear"} <= ran


@pytest.mark.parametrize(
    "kind, name",
    [
        (rnnkit.LSTM, "layer-norm"),
        (rnnkit.LSTM, "layer-norm-peephole-bidirectional-2"),
        (rnnkit.GRU, "layer-norm-bidirectional-2"),
    ],
)
def test_in_float32_the_compiled_loop_agrees_to_rounding(kind, name, monkeypatch):
    """float32 sums in another order: within 5e-5 of the largest value (float64 above: 1e-10)."""
    torch.manual_seed(0)
    options = OPTIONS if kind is rnnkit.LSTM else GRU_OPTIONS
    layer = kind(32, 64, **options[name]).eval()
    x = torch.randn(20, 8, 32)
    compare(layer, x, torch.randint(1, 21, (8,)), monkeypatch, tolerance=5e-5)


@pytest.mark.parametrize("kind", [rnnkit.LSTM, rnnkit.GRU])
@pytest.mark.parametrize(
    "option", [dict(recurrent_dropout=0.4), dict(zoneout=0.3), dict(zoneout=0.3, layer_norm=True)]
)
def test_in_training_the_compiled_loop_draws_the_python_loops_masks(kind, option, monkeypatch):
    """The same seed gives the same training step with or without a compiler: recurrent
    dropout's mask and zoneout's draws come from torch's generator in the same order."""
    layer = kind(5, 16, num_layers=2, dtype=torch.float64, **option).train()
    x = torch.randn(7, 3, 5, dtype=torch.float64)
    torch.manual_seed(3)
    compiled = layer(x)[0]
    monkeypatch.setattr(rnnkit.nn.layers, "runs_compiled", lambda *args: False)
    torch.manual_seed(3)
    torch.testing.assert_close(compiled, layer(x)[0], atol=1e-12, rtol=1e-12)
    assert not torch.allclose(compiled, layer.eval()(x)[0])


@pytest.mark.parametrize("kind", [rnnkit.LSTM, rnnkit.GRU])
def test_under_inference_mode_the_compiled_loop_runs_as_under_no_grad(kind):
    """The rows' threads run the products in the caller's inference mode (torch's
    `at::parallel_for` does not carry it over to them)."""
    layer = kind(5, 16, layer_norm=True, zoneout=0.2).eval()
    x = torch.randn(7, 8, 5)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.no_grad():
            expected = layer(x)[0]
        with torch.inference_mode():
            got = layer(x)[0]
    finally:
        torch.set_num_threads(threads)
    torch.testing.assert_close(got, expected, atol=0, rtol=0)


@pytest.mark.parametrize(
    "kind, cell, loop, parts",
    [
        (rnnkit.LSTM, LSTMCell, compiled_loop.compiled_lstm_loop, 2),
        (rnnkit.GRU, GRUCell, compiled_loop.compiled_gru_loop, 1),
    ],
)
def test_zoneout_in_training_keeps_each_unit_or_updates_it(kind, cell, loop, parts):
    """With the new state from the cell's own step, every state unit after a training step is
    either its previous value or the new one, and about a share p is kept."""
    torch.manual_seed(0)
    layer = kind(4, 64, zoneout=0.4, dtype=torch.float64).train()
    w = layer.cell_weights(0)
    x = torch.randn(1, 32, 4, dtype=torch.float64)
    x_proj = cell.project_input(w, x)
    start = tuple(torch.randn(parts, 32, 64, dtype=torch.float64).unbind(0))
    _, state = loop(w, x, start, zoneout_p=0.4, training=True)
    for got, old, new in zip(state, start, cell.step(w, x_proj[0], start), strict=True):
        kept = torch.isclose(got, old, atol=1e-12)
        assert (kept | torch.isclose(got, new, atol=1e-12)).all()
        assert 0.3 < kept.double().mean() < 0.5


DOUBLE = dict(dtype=torch.float64)


def _leaf(*shape, scale=1.0):
    return (torch.randn(*shape, **DOUBLE) * scale).requires_grad_()


def _zoneout(drawn: bool, parts: int, hidden: int) -> torch.Tensor:
    """The loop's zoneout argument: the keys of training's draws, or evaluation's row of p."""
    if drawn:
        return ZoneoutDraws(torch.tensor([12345, 678]), int(0.4 * LEVELS), ()).as_tensor()
    return torch.full((parts * hidden,), 0.3, **DOUBLE)


@pytest.mark.parametrize("drawn", [True, False], ids=["zoneout-drawn", "zoneout-expectation"])
def test_the_hand_derived_backward_pass_matches_finite_differences(drawn):
    """gradcheck of every option at once, with a fixed recurrent-dropout mask, zoneout (drawn
    in training, its expectation in evaluation) and padding, in float64."""
    torch.manual_seed(0)
    steps, rows, hidden = 4, 3, 5
    inputs = (
        _leaf(steps, rows, 4 * hidden),  # x_proj
        _leaf(rows, hidden),  # h0
        _leaf(rows, hidden),  # c0
        _leaf(4 * hidden, hidden, scale=0.5),  # weight_hh
        _leaf(3 * hidden),  # peepholes
        _leaf(4 * hidden),  # layer-norm gain of h W_hh^T
        _leaf(hidden),  # layer-norm gain of c'
        _leaf(hidden),  # and its bias
        _leaf(4 * hidden),  # layer-norm gain of the input product (x_proj the bare product)
        _leaf(4 * hidden),  # and the input bias
    )
    keep = torch.bernoulli(torch.full((rows, hidden), 0.7, **DOUBLE)) / 0.7
    zoneout = _zoneout(drawn, 2, hidden)
    mask = (torch.arange(steps)[:, None] < torch.tensor([4, 2, 3])).to(torch.uint8)

    def loop(*tensors):
        return compiled_loop._LSTMLoop.apply(True, *tensors, keep, zoneout, mask)

    assert torch.autograd.gradcheck(loop, inputs)


@pytest.mark.parametrize("drawn", [True, False], ids=["zoneout-drawn", "zoneout-expectation"])
def test_the_hand_derived_gru_backward_pass_matches_finite_differences(drawn):
    """As above for the GRU: layer norm, bias, recurrent dropout, zoneout and padding."""
    torch.manual_seed(0)
    steps, rows, hidden = 4, 3, 5
    inputs = (
        _leaf(steps, rows, 3 * hidden),  # x_proj
        _leaf(rows, hidden),  # h0
        _leaf(3 * hidden, hidden, scale=0.5),  # weight_hh
        _leaf(3 * hidden),  # bias_hh
        _leaf(3 * hidden),  # layer-norm gain of h W_hh^T
        _leaf(3 * hidden),  # layer-norm gain of the input product (x_proj the bare product)
        _leaf(3 * hidden),  # and the input bias
    )
    keep = torch.bernoulli(torch.full((rows, hidden), 0.7, **DOUBLE)) / 0.7
    zoneout = _zoneout(drawn, 1, hidden)
    mask = (torch.arange(steps)[:, None] < torch.tensor([4, 2, 3])).to(torch.uint8)

    def loop(*tensors):
        return compiled_loop._GRULoop.apply(True, *tensors, keep, zoneout, mask)

    assert torch.autograd.gradcheck(loop, inputs)


@pytest.mark.parametrize("kind", [rnnkit.LSTM, rnnkit.GRU])
def test_switched_off_the_layers_run_the_python_loop(kind, monkeypatch):
    monkeypatch.setenv(compiled_loop.SWITCH, "0")
    compiled_loop.extension.cache_clear()
    try:
        assert compiled_loop.extension() is None
        layer = kind(3, 4, layer_norm=True)
        assert not compiled_loop.runs_compiled(layer.cell_weights(0), torch.randn(2, 1, 16))
        monkeypatch.setattr(COMPILED[kind], "apply", None)  # would fail if called
        output, _ = layer(torch.randn(5, 2, 3))
        output.sum().backward()
    finally:
        compiled_loop.extension.cache_clear()


def test_a_compiler_without_openmp_still_builds_the_loops_single_threaded(monkeypatch):
    tried = []

    def build(openmp):
        tried.append(openmp)
        if openmp:
            raise RuntimeError("unsupported option '-fopenmp'")
        return "built"

    monkeypatch.setattr(compiled_loop, "_build", build)
    compiled_loop.extension.cache_clear()
    try:
        assert compiled_loop.extension() == "built"
        assert tried == [["-fopenmp"], []]
    finally:
        compiled_loop.extension.cache_clear()


@pytest.mark.parametrize("kind", [rnnkit.LSTM, rnnkit.GRU])
def test_a_second_derivative_is_refused_not_silently_wrong(kind, monkeypatch):
    layer = kind(3, 4, layer_norm=True)
    x = torch.randn(5, 2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match=f"second derivatives.*{compiled_loop.SWITCH}=0"):
        torch.autograd.grad(layer(x)[0].sum(), x, create_graph=True)
    monkeypatch.setenv(compiled_loop.SWITCH, "0")  # the Python loop has them
    (grad,) = torch.autograd.grad(layer(x)[0].sum(), x, create_graph=True)
    assert torch.autograd.grad(grad.pow(2).sum(), layer.weight_hh_l0)[0].abs().sum() > 0
