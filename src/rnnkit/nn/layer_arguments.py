"""The checks of a layer's constructor arguments, as torch.nn's layers make them: the same
exception types for the same mistakes (`rnnkit.nn.errors`), and torch's warning for dropout
on a single layer."""

from __future__ import annotations

import numbers
import warnings

from rnnkit.nn.errors import ArgumentTypeError

BACKENDS = ("auto", "native", "loop")
DEPRECATED_BACKENDS = {"fused": "native"}  # the earlier name of the native backend


def check_size(name: str, value: object, *, minimum: int) -> None:
    """An integer size of at least ``minimum``: TypeError (as torch) for another type, else
    ValueError."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ArgumentTypeError(
            f"{name} must be an integer >= {minimum}, got {value!r} of type {type(value).__name__}"
        )
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def check_bool(name: str, value: object) -> None:
    """A flag that must be a bool: TypeError (as torch) for anything else, ``0`` and ``1``
    included."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} should be of type bool, got: {type(value).__name__}")


def check_layer_arguments(
    input_size: object, hidden_size: object, num_layers: object, bias: object, batch_first: object
) -> None:
    """torch's checks of the layer arguments: bools must be bools, sizes positive integers."""
    check_bool("bias", bias)
    check_bool("batch_first", batch_first)
    check_size("input_size", input_size, minimum=1)
    check_size("hidden_size", hidden_size, minimum=1)
    check_size("num_layers", num_layers, minimum=1)


def check_dropout(dropout: object, num_layers: int) -> None:
    """torch's check of ``dropout`` (a number in [0, 1], not a bool) and its warning when there
    is only one layer, where dropout between layers does nothing."""
    message = (
        "dropout should be a number in range [0, 1] representing the probability of an "
        f"element being zeroed, got {dropout!r}"
    )
    if not isinstance(dropout, numbers.Real) or isinstance(dropout, bool):
        raise ArgumentTypeError(message)  # torch: TypeError from float(), or ValueError
    if not 0 <= float(dropout) <= 1:
        raise ValueError(message)
    if float(dropout) > 0 and num_layers == 1:
        warnings.warn(
            "dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
            f"expects num_layers greater than 1, but got dropout={dropout} and "
            f"num_layers={num_layers}",
            stacklevel=4,
        )


def check_backend(backend: str) -> str:
    """``backend`` if known, the current name if deprecated (with a warning); else ValueError."""
    if backend in DEPRECATED_BACKENDS:
        warnings.warn(
            f"backend={backend!r} is now called {DEPRECATED_BACKENDS[backend]!r}",
            DeprecationWarning,
            stacklevel=4,
        )
        backend = DEPRECATED_BACKENDS[backend]
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    return backend
