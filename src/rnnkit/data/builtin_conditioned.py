"""A small conditioned data set every machine has, for the tour and tests of ``generate``
(``--data builtin:syllables``): invented names of two kinds, told apart by their letters.

* ``soft`` names are built from the syllables of ``l m n`` and ``a o u`` (``lumona``);
* ``sharp`` names from those of ``k t z`` and ``e i`` (``tikeze``).

A model that follows its condition writes only the letters of the asked kind, which a test
can check letter by letter. Two to four syllables a name; generated deterministically.
``builtin:syllables-test`` is drawn with another seed.
"""

from __future__ import annotations

import random

from rnnkit.data.conditioned_text import ConditionedText
from rnnkit.errors import UserError

PREFIX = "builtin:"
ALPHABETS = {"soft": ("lmn", "aou"), "sharp": ("ktz", "ei")}
SIZES = {"syllables": (600, 0), "syllables-test": (150, 1)}  # names per kind, seed


def is_builtin(source: object) -> bool:
    """Whether ``source`` names a built-in set (``builtin:NAME``)."""
    return str(source).startswith(PREFIX)


def builtin_conditioned_texts(source: str) -> list[ConditionedText]:
    """The records of ``builtin:syllables`` or ``builtin:syllables-test``."""
    name = source.removeprefix(PREFIX)
    if name not in SIZES:
        raise UserError(f"unknown built-in data {source!r}; choose builtin:syllables")
    per_kind, seed = SIZES[name]
    rng = random.Random(seed)
    records: list[ConditionedText] = []
    for kind, (consonants, vowels) in ALPHABETS.items():
        for _ in range(per_kind):
            syllables = rng.randint(2, 4)
            text = "".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(syllables))
            records.append(ConditionedText(text.capitalize(), (kind,), len(records) + 1))
    return records
