"""What a task can do beyond training, as small protocols the CLI checks before it calls.

``rnnkit generate RUN`` needs a task that `Generates`; a task declares a capability simply by
having the method (structural typing), and ``isinstance(task, Generates)`` tells.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from torch import nn


@runtime_checkable
class Generates(Protocol):
    """A task whose model writes text (``rnnkit generate``).

    ``options`` are the sampling settings: ``num`` samples, ``temperature``, ``top_k``,
    ``top_p``, ``greedy`` and ``seed``, as `rnnkit.tasks.lm.LanguageModelling.generate` takes
    them.
    """

    def generate(self, model: nn.Module, prompt: str, length: int, **options: Any) -> list[str]:
        """Continuations of ``prompt``, ``length`` tokens each."""
        ...
