"""The exception classes of `rnnkit.nn`, each a subclass of every class torch raises for it.

rnnkit's messages name what was expected; its classes let code written for torch.nn keep
working: ``except RuntimeError`` catches what torch raises as RuntimeError, and
``except ValueError`` what rnnkit raised before.
"""

from __future__ import annotations


class ShapeError(ValueError, RuntimeError):
    """An input or state whose shape (or dtype) does not fit the module.

    torch raises RuntimeError for most of these (a wrong ``hx`` shape, a batch mismatch in a
    cell, a wrong feature count, an empty sequence) and ValueError for some (the rank of the
    input, a dtype unlike the weights'); this class is both.
    """


class ArgumentTypeError(TypeError, ValueError):
    """A constructor argument of the wrong type (e.g. ``hidden_size="4"``, ``bias=0``).

    torch raises TypeError; rnnkit raised ValueError before, so this class is both.
    """
