"""The small contracts of torch.nn's recurrent layers and cells, checked against torch itself.

Every test builds the torch module and the rnnkit one side by side, calls both and compares
what happens: exception classes, warnings, dtypes, attributes, reprs. Nothing here hard-codes
what torch does; where rnnkit raises a clearer error, it raises one of a class that is torch's
class too.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

import rnnkit
from rnnkit.nn.errors import ShapeError

LAYERS = ("LSTM", "GRU", "RNN")
CELLS = ("LSTMCell", "GRUCell", "RNNCell")


def outcome(call: Callable[[], Any]) -> BaseException | None:
    """The exception ``call`` raises, or None."""
    try:
        call()
    except Exception as error:  # the exception is what is compared
        return error
    return None


def assert_same_outcome(theirs: Callable[[], Any], ours: Callable[[], Any]) -> None:
    """Both calls succeed, or ours raises an instance of the class torch raises."""
    expected, got = outcome(theirs), outcome(ours)
    if expected is None:
        assert got is None, f"torch accepts this; rnnkit raised {got!r}"
        return
    assert got is not None, f"torch raises {expected!r}; rnnkit accepted it"
    assert isinstance(got, type(expected)), f"torch raises {expected!r}; rnnkit {got!r}"


def pair(name: str, *args: Any, **kwargs: Any) -> tuple[nn.Module, nn.Module]:
    """torch's module ``name`` and rnnkit's, with rnnkit's holding torch's parameters."""
    torch.manual_seed(0)
    theirs = getattr(nn, name)(*args, **kwargs)
    ours = getattr(rnnkit, name)(*args, **kwargs)
    ours.load_state_dict(theirs.state_dict())
    return theirs, ours


# --- 1. an empty sequence ------------------------------------------------------------------
@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize(
    "options", [{}, {"backend": "loop"}, {"layer_norm": True}, {"bidirectional": True}]
)
@pytest.mark.parametrize("shape", [(0, 2, 3), (0, 3)])
def test_an_empty_sequence_raises_what_torch_raises(name, options, shape):
    theirs = getattr(nn, name)(3, 4, bidirectional=options.get("bidirectional", False))
    ours = getattr(rnnkit, name)(3, 4, **options)
    x = torch.randn(shape)
    assert_same_outcome(lambda: theirs(x), lambda: ours(x))
    with pytest.raises(RuntimeError, match="sequence length"):
        ours(x)


@pytest.mark.parametrize("name", ["MinGRU", "MinLSTM", "JordanRNN"])
def test_an_empty_sequence_is_refused_by_the_layers_torch_lacks(name):
    with pytest.raises(RuntimeError, match="sequence length"):
        getattr(rnnkit, name)(3, 4)(torch.randn(0, 2, 3))


# --- 2. dropout ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("dropout", [0, 0.5, 1, 1.0, 1.5, -0.1, True, False, "0.5", None])
def test_dropout_is_validated_as_torch_does(name, dropout):
    assert_same_outcome(
        lambda: getattr(nn, name)(3, 4, num_layers=2, dropout=dropout),
        lambda: getattr(rnnkit, name)(3, 4, num_layers=2, dropout=dropout),
    )


def warnings_of(call: Callable[[], Any]) -> list[tuple[type[Warning], str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return [(w.category, str(w.message)) for w in caught]


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("dropout", [0.0, 0.3, 1.0])
def test_dropout_with_one_layer_warns_as_torch_does(name, dropout):
    assert warnings_of(lambda: getattr(rnnkit, name)(3, 4, dropout=dropout)) == warnings_of(
        lambda: getattr(nn, name)(3, 4, dropout=dropout)
    )


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("backend", ["auto", "loop"])
def test_dropout_one_zeroes_the_inner_layers_as_torch_does(name, backend):
    theirs, ours = pair(name, 3, 4, num_layers=3, dropout=1.0)
    ours.backend = backend
    x = torch.randn(5, 2, 3)
    torch.testing.assert_close(ours.train()(x), theirs.train()(x))


# --- 3. autocast ---------------------------------------------------------------------------
def dtypes(result: Any) -> Any:
    if isinstance(result, torch.Tensor):
        return result.dtype
    return tuple(dtypes(part) for part in result)


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize(
    "options",
    [
        {"backend": "loop"},
        {"layer_norm": True},
        {"backend": "loop", "num_layers": 2, "bidirectional": True},
        {"backend": "loop", "bias": False},
    ],
)
@pytest.mark.parametrize("with_state", [False, True])
def test_autocast_gives_the_dtypes_torch_gives(name, options, with_state):
    plain = {k: v for k, v in options.items() if k not in ("backend", "layer_norm")}
    theirs = getattr(nn, name)(3, 4, **plain)
    ours = getattr(rnnkit, name)(3, 4, **options)
    x = torch.randn(3, 2, 3)
    hx = ours.initial_state(2) if with_state else None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected, got = dtypes(theirs(x, hx)), dtypes(ours(x, hx))
    assert got == expected


def test_autocast_with_a_projection_gives_the_dtypes_torch_gives():
    theirs, ours = pair("LSTM", 3, 4, proj_size=2)
    ours.backend = "loop"
    x = torch.randn(5, 2, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert dtypes(ours(x)) == dtypes(theirs(x))


# --- 4. forget_bias without a bias ---------------------------------------------------------
@pytest.mark.parametrize(
    "make",
    [
        lambda: rnnkit.LSTM(3, 4, bias=False, forget_bias=1.0),
        lambda: rnnkit.MinLSTM(3, 4, bias=False, forget_bias=1.0),
        lambda: rnnkit.LSTMCell(3, 4, bias=False, forget_bias=1.0),
        lambda: rnnkit.MinLSTMCell(3, 4, bias=False, forget_bias=1.0),
    ],
)
def test_forget_bias_needs_a_bias(make):
    with pytest.raises(ValueError, match="forget_bias needs bias=True"):
        make()


# --- 5. torch's bookkeeping attributes -----------------------------------------------------
CONFIGS = [
    ("LSTM", {}),
    ("LSTM", {"num_layers": 2, "bidirectional": True, "proj_size": 2}),
    ("LSTM", {"bias": False, "num_layers": 2}),
    ("GRU", {"num_layers": 2, "bidirectional": True}),
    ("RNN", {"nonlinearity": "relu", "bias": False}),
    ("RNN", {}),
]


@pytest.mark.parametrize("name, options", CONFIGS)
def test_bookkeeping_attributes_mean_what_torch_means(name, options):
    theirs, ours = pair(name, 3, 4, **options)
    for attribute in ("mode", "proj_size", "_flat_weights_names", "_all_weights"):
        assert getattr(ours, attribute) == getattr(theirs, attribute), attribute
    assert [n for n, _ in ours.named_parameters()] == ours._flat_weights_names
    assert all(
        w is getattr(ours, n)
        for w, n in zip(ours._flat_weights, ours._flat_weights_names, strict=True)
    )


@pytest.mark.parametrize("name, options", CONFIGS)
def test_flat_weights_follow_the_parameters_as_torch_does(name, options):
    theirs, ours = pair(name, 3, 4, **options)
    for module in (theirs, ours):
        module.to(torch.float64)
        module.load_state_dict({k: torch.ones_like(v) for k, v in module.state_dict().items()})
    for mine, torchs in zip(ours._flat_weights, theirs._flat_weights, strict=True):
        assert mine.dtype == torchs.dtype == torch.float64
        torch.testing.assert_close(mine, torchs)
    assert all(
        w is getattr(ours, n)
        for w, n in zip(ours._flat_weights, ours._flat_weights_names, strict=True)
    )


# --- 6. cell reprs -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, options",
    [
        ("LSTMCell", {}),
        ("LSTMCell", {"bias": False}),
        ("GRUCell", {}),
        ("GRUCell", {"bias": False}),
        ("RNNCell", {}),
        ("RNNCell", {"nonlinearity": "relu", "bias": False}),
        ("RNNCell", {"nonlinearity": "tanh"}),
    ],
)
def test_cells_print_as_torch_cells(name, options):
    assert repr(getattr(rnnkit, name)(3, 4, **options)) == repr(getattr(nn, name)(3, 4, **options))


@pytest.mark.parametrize(
    "cell, extras",
    [
        (rnnkit.LSTMCell(3, 4, layer_norm=True, peephole=True), "layer_norm=True, peephole=True"),
        (rnnkit.LSTMCell(3, 4, proj_size=2, forget_bias=1.0), "proj_size=2, forget_bias=1.0"),
        (rnnkit.GRUCell(3, 4, layer_norm=True), "layer_norm=True"),
        (rnnkit.JordanCell(3, 4, output_size=5), "output_size=5"),
        (rnnkit.MinLSTMCell(3, 4, forget_bias=2.0), "forget_bias=2.0"),
    ],
)
def test_cells_print_their_extra_options_after_torchs(cell, extras):
    assert repr(cell) == f"{type(cell).__name__}(3, 4, {extras})"


# --- 7. error classes ----------------------------------------------------------------------
X = torch.randn(5, 2, 3)
H, WIDE, OTHER_BATCH = torch.zeros(1, 2, 4), torch.zeros(1, 2, 5), torch.zeros(1, 3, 4)
BAD_STATES = [
    ("LSTM", (OTHER_BATCH, H)),
    ("LSTM", (H, torch.zeros(2, 2, 4))),
    ("LSTM", (H, WIDE)),
    ("GRU", OTHER_BATCH),
    ("GRU", WIDE),
    ("RNN", OTHER_BATCH),
]


@pytest.mark.parametrize("name, hx", BAD_STATES)
def test_a_wrong_state_shape_raises_what_torch_raises(name, hx):
    theirs, ours = pair(name, 3, 4)
    assert_same_outcome(lambda: theirs(X, hx), lambda: ours(X, hx))
    with pytest.raises(ValueError):  # rnnkit's own class, as before
        ours(X, hx)


@pytest.mark.parametrize("name", LAYERS)
def test_a_wrong_feature_count_raises_what_torch_raises(name):
    theirs, ours = pair(name, 3, 4)
    x = torch.randn(5, 2, 6)
    assert_same_outcome(lambda: theirs(x), lambda: ours(x))


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize(
    "make_input, make_state",
    [
        (lambda: torch.randn(2, 3), lambda: torch.zeros(3, 4)),  # batch mismatch
        (lambda: torch.randn(2, 3), lambda: torch.zeros(2, 5)),  # state width
        (lambda: torch.randn(2, 6), lambda: None),  # input width
        (lambda: torch.randn(2, 3, 1), lambda: None),  # rank
    ],
)
def test_a_cell_given_wrong_shapes_raises_what_torch_raises(name, make_input, make_state):
    theirs, ours = pair(name, 3, 4)
    x, h = make_input(), make_state()
    hx = None if h is None else ((h, h) if name == "LSTMCell" else h)
    assert_same_outcome(lambda: theirs(x, hx), lambda: ours(x, hx))


def test_shape_error_is_both_value_error_and_runtime_error():
    assert issubclass(ShapeError, ValueError) and issubclass(ShapeError, RuntimeError)
    assert rnnkit.nn.ShapeError is ShapeError


# --- 8. argument validation ----------------------------------------------------------------
BAD_ARGUMENTS = [
    {"batch_first": "False"},
    {"batch_first": 1},
    {"bias": 0},
    {"bias": "True"},
    {"input_size": 3.0},
    {"input_size": "3"},
    {"hidden_size": "4"},
    {"hidden_size": 4.0},
    {"input_size": 0},
    {"hidden_size": -1},
    {"num_layers": 0},
    {"num_layers": 1.5},
    {"num_layers": "2"},
]


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("change", BAD_ARGUMENTS)
def test_bad_arguments_raise_what_torch_raises(name, change):
    arguments = {"input_size": 3, "hidden_size": 4} | change
    assert_same_outcome(
        lambda: getattr(nn, name)(**arguments), lambda: getattr(rnnkit, name)(**arguments)
    )


@pytest.mark.parametrize("name", ["GRU", "RNN"])
@pytest.mark.parametrize("proj_size", [1, 2])
def test_a_projection_is_refused_outside_lstm_as_torch_does(name, proj_size):
    assert_same_outcome(
        lambda: getattr(nn, name)(3, 4, proj_size=proj_size),
        lambda: getattr(rnnkit, name)(3, 4, proj_size=proj_size),
    )
    with pytest.raises(ValueError, match="only supported for LSTM"):
        getattr(rnnkit, name)(3, 4, proj_size=proj_size)


@pytest.mark.parametrize("proj_size", [-1, 4, 5])
def test_a_bad_projection_size_raises_what_torch_raises(proj_size):
    assert_same_outcome(
        lambda: nn.LSTM(3, 4, proj_size=proj_size), lambda: rnnkit.LSTM(3, 4, proj_size=proj_size)
    )


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("options", [{}, {"backend": "loop"}, {"layer_norm": True}])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.int64])
def test_an_input_dtype_unlike_the_weights_raises_what_torch_raises(name, options, dtype):
    theirs = getattr(nn, name)(3, 4)
    ours = getattr(rnnkit, name)(3, 4, **options)
    x = torch.randn(5, 2, 3).to(dtype)
    assert_same_outcome(lambda: theirs(x), lambda: ours(x))
    with pytest.raises(RuntimeError, match="dtype"):
        ours(x)


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.int64])
def test_a_cell_input_dtype_unlike_the_weights_raises_what_torch_raises(name, dtype):
    theirs, ours = pair(name, 3, 4)
    x = torch.randn(2, 3).to(dtype)
    assert_same_outcome(lambda: theirs(x), lambda: ours(x))
