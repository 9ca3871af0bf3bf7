"""Small parallel (source -> target) data sets every machine has, generated deterministically,
for the tours and tests of sequence-to-sequence translation (``--data builtin:NAME``):

* ``dates`` / ``dates-test`` — a calendar date between 1950 and 2049 written in one of eight
  human English formats, translated to ISO 8601::

      3 March 2021                         -> 2021-03-03
      March 3rd, 2021                      -> 2021-03-03
      Wednesday, the third of March 2021   -> 2021-03-03
      03/03/2021                           -> 2021-03-03   (US order: month/day/year)
      3.3.21                               -> 2021-03-03   (European order: day.month.year)
      mar 3 2021                           -> 2021-03-03
      the 3rd of march, 2021               -> 2021-03-03
      Wed, 3 Mar 2021                      -> 2021-03-03

  Two-digit years pivot at 50: ``49`` is 2049 and ``50`` is 1950, so every source names one
  date. Month and weekday names come from fixed English tables, never the system locale.
* ``numbers`` / ``numbers-test`` — an integer from 0 to 999,999 written in British English
  words (``three hundred and forty-two thousand seven``), translated to its digits
  (``342007``). The number of digits is drawn uniformly from 1 to 6, so short numbers are as
  common as long ones.

Each set is drawn with its own fixed seed (``random.Random("dates:train")``, ...), so it is the
same on every run and machine. Pairs may repeat within a set, and a ``-test`` set, drawn with
another seed, may share some pairs with its training set (most often among the short numbers).
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable

from rnnkit.errors import UserError

PREFIX = "builtin:"
SIZES = {"train": 4000, "test": 500}

FIRST_DATE = datetime.date(1950, 1, 1)
LAST_DATE = datetime.date(2049, 12, 31)
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")  # fmt: skip
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DATE_FORMATS = (
    "{d} {month} {yyyy}",
    "{month} {dth}, {yyyy}",
    "{weekday}, the {dth_words} of {month} {yyyy}",
    "{mm}/{dd}/{yyyy}",
    "{d}.{m}.{yy}",
    "{mon_lc} {d} {yyyy}",
    "the {dth} of {month_lc}, {yyyy}",
    "{wkd}, {d} {mon} {yyyy}",
)

UNITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen")  # fmt: skip
TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
UNIT_ORDINALS = ("", "first", "second", "third", "fourth", "fifth", "sixth", "seventh",
                 "eighth", "ninth", "tenth", "eleventh", "twelfth", "thirteenth", "fourteenth",
                 "fifteenth", "sixteenth", "seventeenth", "eighteenth", "nineteenth")  # fmt: skip
TENS_ORDINALS = {2: "twentieth", 3: "thirtieth"}


def _ordinal_suffix(day: int) -> str:
    """``3`` -> ``3rd``, ``11`` -> ``11th``, ``22`` -> ``22nd``."""
    suffix = "th" if day in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _ordinal_words(day: int) -> str:
    """``3`` -> ``third``, ``20`` -> ``twentieth``, ``31`` -> ``thirty-first`` (days 1 to 31)."""
    if day < 20:
        return UNIT_ORDINALS[day]
    tens, units = divmod(day, 10)
    return f"{TENS[tens]}-{UNIT_ORDINALS[units]}" if units else TENS_ORDINALS[tens]


def _date_text(date: datetime.date, form: str) -> str:
    """``date`` written in one of `DATE_FORMATS`."""
    month, weekday = MONTHS[date.month - 1], WEEKDAYS[date.weekday()]
    return form.format(
        d=date.day,
        dd=f"{date.day:02d}",
        dth=_ordinal_suffix(date.day),
        dth_words=_ordinal_words(date.day),
        m=date.month,
        mm=f"{date.month:02d}",
        month=month,
        month_lc=month.lower(),
        mon=month[:3],
        mon_lc=month[:3].lower(),
        yyyy=date.year,
        yy=f"{date.year % 100:02d}",
        weekday=weekday,
        wkd=weekday[:3],
    )


def _date_pair(rng: random.Random) -> tuple[str, str]:
    day = rng.randint(FIRST_DATE.toordinal(), LAST_DATE.toordinal())
    date = datetime.date.fromordinal(day)
    return _date_text(date, rng.choice(DATE_FORMATS)), date.isoformat()


def _below_thousand(n: int) -> str:
    """``342`` -> ``three hundred and forty-two``, for 1 <= n < 1000."""
    hundreds, rest = divmod(n, 100)
    tens, units = divmod(rest, 10)
    if rest < 20:
        rest_words = UNITS[rest] if rest else ""
    else:
        rest_words = TENS[tens] + (f"-{UNITS[units]}" if units else "")
    if not hundreds:
        return rest_words
    return f"{UNITS[hundreds]} hundred" + (f" and {rest_words}" if rest else "")


def _number_words(n: int) -> str:
    """``342007`` -> ``three hundred and forty-two thousand seven``, for 0 <= n < 1,000,000."""
    if n == 0:
        return UNITS[0]
    thousands, rest = divmod(n, 1000)
    parts = [f"{_below_thousand(thousands)} thousand"] if thousands else []
    return " ".join(parts + ([_below_thousand(rest)] if rest else []))


def _number_pair(rng: random.Random) -> tuple[str, str]:
    digits = rng.randint(1, 6)
    n = rng.randrange(10 ** (digits - 1) if digits > 1 else 0, 10**digits)
    return _number_words(n), str(n)


GENERATORS: dict[str, Callable[[random.Random], tuple[str, str]]] = {
    "dates": _date_pair,
    "numbers": _number_pair,
}
BUILTIN_PARALLEL = tuple(f"{base}{split}" for base in GENERATORS for split in ("", "-test"))


def is_builtin_parallel(source: object) -> bool:
    """Whether ``source`` is the string ``builtin:NAME`` of one of `BUILTIN_PARALLEL`."""
    return (
        isinstance(source, str)
        and source.startswith(PREFIX)
        and source.removeprefix(PREFIX) in BUILTIN_PARALLEL
    )


def builtin_parallel(source: str) -> list[tuple[str, str]]:
    """The (source sentence, target sentence) pairs of ``builtin:dates``, ``builtin:numbers``
    or their ``-test`` sets."""
    if not is_builtin_parallel(source):
        choices = ", ".join(PREFIX + name for name in BUILTIN_PARALLEL)
        raise UserError(f"unknown built-in parallel data {source!r}; choose one of: {choices}")
    base, _, split = source.removeprefix(PREFIX).partition("-")
    split = split or "train"
    rng = random.Random(f"{base}:{split}")
    return [GENERATORS[base](rng) for _ in range(SIZES[split])]
