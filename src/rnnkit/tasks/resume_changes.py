"""What ``rnnkit train --resume`` may change in a run's config, and what it may not.

A resumed run continues the saved weights, optimizer state and data split of ``RUN/last``; the
config given on top (``--config``, ``--set``) may change how training goes on, not what is
trained. `resume_notes` compares the two configs, key by key:

* **refused** (a `UserError` naming every such key with both values): ``task``; every
  ``model.*`` key (the saved weights have the saved architecture); ``train.seed`` (it draws the
  train / validation split and the batch order); ``train.optimizer`` (the saved optimizer
  state belongs to the saved one); ``train.select_by`` (the best score so far was measured
  by the saved metric); and every ``data.*`` key except those in `CHANGEABLE_DATA_KEYS`: the
  others shape what the model reads and predicts (tokenizer and vocabulary, label coding,
  audio and image features, series scaling and windows) or the train / validation split.
  A data key a task adds later is refused until it is listed there.
* **allowed**, and announced as ``resuming with train.max_steps = 200 (was 100)``: every other
  key — the rest of ``train.*`` (steps, epochs, time budget, learning rate and schedule,
  clipping, patience, evaluation cadence, batch size, device, precision), ``decode.*``, and
  the listed ``data.*`` keys.

Keys that hold file paths given with ``--data`` / ``--valid`` / ``--test`` are not config and
are not compared.

A *use* of a trained run (``evaluate``, ``forecast``, ``transcribe`` with ``--set``) has its
own rule, `refuse_saved_model_changes`: the saved model and tokenizers are used as they are,
so no ``model.*`` key and no data key that built the tokenizers (`TOKENIZER_KEYS`) may change;
every other key may, the ``data.*`` keys included (they describe the new data).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnkit.errors import UserError
from rnnkit.train.config_messages import show_value

CHANGEABLE_DATA_KEYS = frozenset(
    {
        # where the data is in the files, like --data itself (an unseen label is an error)
        "images",
        "src",
        "tgt",
        "text_field",
        "label_field",
        "token_column",
        "tag_column",
        "label_pattern",
        "time_column",
        "time_format",
        # which examples are kept, how they are batched and augmented in training
        "skip_missing",
        "missing",
        "max_length",
        "bucket",
        "stride",
        "augment",
        "spec_augment",
    }
)
"""The ``data.*`` keys (by their last part) a resumed run may change; see the module docstring."""

TOKENIZER_KEYS = frozenset({"tokenizer", "vocab_size", "min_freq", "lowercase", "normalize_digits"})
"""The ``data.*`` keys (by their last part) that built a run's saved tokenizers and vocabularies."""

FIXED_KEYS = frozenset({"task", "train.seed", "train.optimizer", "train.select_by"})
"""Keys outside ``model.*`` and ``data.*`` that a resumed run may not change."""


@dataclass(frozen=True)
class Change:
    """One config key whose value differs between the saved and the given config."""

    key: str  # dotted, e.g. "train.max_steps"
    saved: Any
    given: Any

    @property
    def fixed(self) -> bool:
        """Whether a resumed run may not make this change (see the module docstring)."""
        section, _, name = self.key.partition(".")
        if section == "model" or self.key in FIXED_KEYS:
            return True
        return section == "data" and name not in CHANGEABLE_DATA_KEYS

    @property
    def saved_with_the_model(self) -> bool:
        """Whether the saved model and its saved tokenizers fix this key for every use of the
        run: a ``model.*`` key, or a ``data.*`` key in `TOKENIZER_KEYS`."""
        section, _, name = self.key.partition(".")
        return section == "model" or (section == "data" and name in TOKENIZER_KEYS)

    def describe(self) -> str:
        """``key (saved VALUE, given VALUE)``."""
        return f"{self.key} (saved {show_value(self.saved)}, given {show_value(self.given)})"


def config_changes(saved: Mapping[str, Any], given: Mapping[str, Any]) -> list[Change]:
    """Every leaf key whose value differs between two nested config mappings, in the order of
    ``given``; a key that only one side has differs from the other's ``None``."""
    return list(_changes(saved, given, ""))


def _changes(saved: Mapping[str, Any], given: Mapping[str, Any], prefix: str) -> Iterator[Change]:
    for key in [*given, *(k for k in saved if k not in given)]:
        old, new = saved.get(key), given.get(key)
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            yield from _changes(old, new, f"{prefix}{key}.")
        elif old != new:
            yield Change(f"{prefix}{key}", old, new)


def resume_notes(
    saved: Mapping[str, Any], given: Mapping[str, Any], run_dir: str | Path
) -> list[str]:
    """The lines announcing what ``given`` changes in the ``saved`` config of the run in
    ``run_dir`` (none when nothing changes); a `UserError` naming every change a resumed run
    may not make, with both values, if there is one."""
    changes = config_changes(saved, given)
    refused = [change for change in changes if change.fixed]
    if refused:
        listed = ", ".join(change.describe() for change in refused)
        raise UserError(
            f"cannot change {listed} on --resume; start a new run with another --out",
            path=run_dir,
        )
    return [
        f"resuming with {c.key} = {show_value(c.given)} (was {show_value(c.saved)})"
        for c in changes
    ]


def refuse_saved_model_changes(
    saved: Mapping[str, Any], given: Mapping[str, Any], run_dir: str | Path
) -> None:
    """A `UserError` naming every change ``given`` makes to the ``saved`` config of the trained
    run in ``run_dir`` that its saved model and tokenizers fix (see the module docstring)."""
    refused = [change for change in config_changes(saved, given) if change.saved_with_the_model]
    if refused:
        listed = ", ".join(change.describe() for change in refused)
        raise UserError(
            f"cannot change {listed}: the run's model and tokenizers were saved with them; "
            "train a new run to change them",
            path=run_dir,
        )
