"""What a task can do beyond training, as small protocols the CLI checks before it calls.

``rnnkit generate RUN`` needs a task that `Generates` (with ``--condition``:
`GeneratesConditioned`), ``rnnkit predict RUN`` one that
`Predicts`, ``rnnkit translate RUN`` one that `Translates`, ``rnnkit forecast RUN`` one that
`Forecasts`, ``rnnkit transcribe RUN`` one that `Transcribes`, ``rnnkit caption RUN`` one that
`Captions`, ``rnnkit draw RUN`` one that `Draws`; a task declares a capability
simply by having the methods (structural typing), and ``isinstance(task, Generates)`` tells.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from torch import nn


@runtime_checkable
class Generates(Protocol):
    """A task whose model writes text (``rnnkit generate``).

    ``options`` are the sampling settings: ``num`` samples, ``temperature``, ``top_k``,
    ``top_p``, ``greedy``, ``seed`` and ``stop_at_eos``, as
    `rnnkit.tasks.lm.LanguageModelling.generate` takes them.
    """

    def generate(self, model: nn.Module, prompt: str, length: int, **options: Any) -> list[str]:
        """Continuations of ``prompt``, ``length`` tokens each."""
        ...


@runtime_checkable
class GeneratesConditioned(Generates, Protocol):
    """A task whose model writes texts of a category (``rnnkit generate --condition``).

    Beyond `Generates`'s options, ``generate`` takes ``condition`` (``"female"`` or
    ``["gender=female", ...]``), ``unique`` and ``not_in_training``, as
    `rnnkit.tasks.generate.ConditionalGeneration.generate` does.
    """

    def categories(self) -> dict[str, list[str]]:
        """Each condition field and its values."""
        ...

    def judge(
        self, model: nn.Module, judge: Any, judge_model: nn.Module, samples: int = 100
    ) -> dict[str, Any]:
        """The share of samples of each category that the classifier run ``judge`` (its task
        and ``judge_model``) assigns to it, and the shares of unique and novel samples."""
        ...


@runtime_checkable
class Predicts(Protocol):
    """A task whose model labels inputs (``rnnkit predict``): texts, sentences, ..."""

    def predict(
        self, model: nn.Module, text: str, name: str, input_format: str = "auto"
    ) -> list[dict[str, Any]]:
        """One JSON-ready record per input in ``text``, read from ``name`` (a file, or
        ``stdin``: messages name it) in ``input_format`` (``auto``: told from ``name`` and the
        text)."""
        ...

    def format_prediction(self, record: dict[str, Any]) -> str:
        """A record as the text ``rnnkit predict`` prints (one or more lines)."""
        ...


@runtime_checkable
class Forecasts(Protocol):
    """A task whose model continues time series (``rnnkit forecast``)."""

    def forecast(
        self, model: nn.Module, source: str, text: str | None = None
    ) -> list[dict[str, Any]]:
        """One JSON-ready record per series of ``source`` (or of ``text`` read from it): the
        future ``time`` stamps, the ``forecast``, its ``quantiles`` and the ``history`` read,
        as `rnnkit.tasks.forecast.Forecasting.forecast` gives them."""
        ...


@runtime_checkable
class Transcribes(Protocol):
    """A task whose model turns recordings into text (``rnnkit transcribe``)."""

    def transcribe(
        self,
        model: nn.Module,
        utterances: list[Any],
        beam_size: int | None = None,
        posteriors: bool = False,
    ) -> list[dict[str, Any]]:
        """One JSON-ready record per `rnnkit.data.audio.Utterance`: its ``audio`` file and
        ``text``, with ``posteriors`` the per-frame class probabilities."""
        ...

    def class_names(self) -> list[str]:
        """The names of the output classes, for plots."""
        ...

    @property
    def sample_rate(self) -> int:
        """The sample rate recordings are read at."""
        ...


@runtime_checkable
class Translates(Protocol):
    """A task whose model rewrites each input sentence as another (``rnnkit translate``).

    ``settings`` are the search settings: ``beam_size``, ``n_best``, ``length_penalty``,
    ``replace_unk`` and ``attention``, as `rnnkit.tasks.translate.Translation.translate`
    takes them.
    """

    def translate(
        self, model: nn.Module, text: str, name: str, **settings: Any
    ) -> list[list[dict[str, Any]]]:
        """The ``n_best`` translations (JSON-ready records, best first) of each line of
        ``text``, read from ``name``."""
        ...


@runtime_checkable
class Captions(Protocol):
    """A task whose model describes images in a sentence (``rnnkit caption``)."""

    def caption(
        self,
        model: nn.Module,
        images: list[str],
        beam_size: int | None = None,
        attention: bool = False,
    ) -> list[dict[str, Any]]:
        """One JSON-ready record per image file: its ``image`` and ``caption`` (beam search of
        ``beam_size``, default the run's ``decode.beam_size``); with ``attention``, also the
        attention map of every word."""
        ...


@runtime_checkable
class Draws(Protocol):
    """A task whose model draws sketches (``rnnkit draw``)."""

    def draw(
        self,
        model: nn.Module,
        num: int,
        temperature: float = 1.0,
        start: Any = None,
        seed: int | None = None,
    ) -> list[Any]:
        """``num`` sketches (stroke-3 arrays ``(T, 3)``: dx, dy, pen lifted after the point),
        new or completing the partial sketch ``start``."""
        ...
