"""Built-in parallel data: the same on every call, every target right, checked by parsers
written here independently of the generator."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest

from rnnkit.data.builtin_parallel import BUILTIN_PARALLEL, builtin_parallel, is_builtin_parallel
from rnnkit.errors import UserError

MONTHS = "january february march april may june july august september october november december"
WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday"
SUFFIXES = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd", 31: "st"}  # others: "th"
ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
            "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12,
            "thirteenth": 13, "fourteenth": 14, "fifteenth": 15, "sixteenth": 16,
            "seventeenth": 17, "eighteenth": 18, "nineteenth": 19, "twentieth": 20,
            "thirtieth": 30}  # fmt: skip
NUMBER_WORDS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
                "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
                "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
                "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40,
                "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}  # fmt: skip
# one pattern per format; named groups: d (day digits), th (its suffix), dw (day in words),
# m (month digits), month (name or three-letter abbreviation), y / yy (year), wd (weekday)
DATE_PATTERNS = {
    "3 March 2021": r"(?P<d>\d{1,2}) (?P<month>[A-Z][a-z]+) (?P<y>\d{4})",
    "March 3rd, 2021": r"(?P<month>[A-Z][a-z]+) (?P<d>\d{1,2})(?P<th>st|nd|rd|th), (?P<y>\d{4})",
    "Wednesday, the third of March 2021":
        r"(?P<wd>[A-Z][a-z]+), the (?P<dw>[a-z-]+) of (?P<month>[A-Z][a-z]+) (?P<y>\d{4})",
    "03/03/2021": r"(?P<m>\d{2})/(?P<d>\d{2})/(?P<y>\d{4})",
    "3.3.21": r"(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<yy>\d{2})",
    "mar 3 2021": r"(?P<month>[a-z]{3}) (?P<d>\d{1,2}) (?P<y>\d{4})",
    "the 3rd of march, 2021":
        r"the (?P<d>\d{1,2})(?P<th>st|nd|rd|th) of (?P<month>[a-z]+), (?P<y>\d{4})",
    "Wed, 3 Mar 2021":
        r"(?P<wd>[A-Z][a-z]{2}), (?P<d>\d{1,2}) (?P<month>[A-Z][a-z]{2}) (?P<y>\d{4})",
}  # fmt: skip


def _day_from_words(words: str) -> int:
    tens, _, units = words.partition("-")
    return {"twenty": 20, "thirty": 30}[tens] + ORDINALS[units] if units else ORDINALS[tens]


def _month_from_name(name: str) -> int:
    months = MONTHS.split()
    full = [m for m in months if m == name.lower()]
    short = [m for m in months if m[:3] == name.lower()]
    return months.index((full or short)[0]) + 1


def _parse_date(source: str) -> tuple[str, datetime.date, str | None]:
    """The format, date and weekday name (if any) of a generated date, read by regex."""
    matches = [(k, m) for k, p in DATE_PATTERNS.items() if (m := re.fullmatch(p, source))]
    assert len(matches) == 1, source
    form, match = matches[0]
    parts = match.groupdict()
    if parts.get("yy"):
        year = 2000 + int(parts["yy"]) if int(parts["yy"]) < 50 else 1900 + int(parts["yy"])
    else:
        year = int(parts["y"])
    month = int(parts["m"]) if parts.get("m") else _month_from_name(parts["month"])
    day = _day_from_words(parts["dw"]) if parts.get("dw") else int(parts["d"])
    if parts.get("th"):
        assert parts["th"] == SUFFIXES.get(day, "th"), source
    return form, datetime.date(year, month, day), parts.get("wd")


def _words_to_int(text: str) -> int:
    total = current = 0
    for word in text.replace("-", " ").split():
        if word == "hundred":
            current *= 100
        elif word == "thousand":
            total, current = total + current * 1000, 0
        elif word != "and":
            current += NUMBER_WORDS[word]
    return total + current


@pytest.mark.parametrize("name", BUILTIN_PARALLEL)
def test_sets_are_deterministic_single_line_pairs(name):
    pairs = builtin_parallel(f"builtin:{name}")
    assert pairs == builtin_parallel(f"builtin:{name}")
    assert len(pairs) == (500 if name.endswith("-test") else 4000)
    for source, target in pairs:
        for text in (source, target):
            assert text and text == text.strip() and "\t" not in text and "\n" not in text


@pytest.mark.parametrize("name", ["dates", "dates-test"])
def test_date_sources_name_their_iso_targets(name):
    forms = set()
    for source, target in builtin_parallel(f"builtin:{name}"):
        form, date, weekday = _parse_date(source)
        forms.add(form)
        assert datetime.date.fromisoformat(target) == date, source
        assert datetime.date(1950, 1, 1) <= date <= datetime.date(2049, 12, 31)
        if weekday is not None:
            full = WEEKDAYS.split()[date.weekday()]
            assert weekday.lower() in (full, full[:3]), source
    assert forms == set(DATE_PATTERNS)


def test_date_checker_knows_a_real_calendar():
    assert _parse_date("Wednesday, the third of March 2021")[1:] == (
        datetime.date(2021, 3, 3),
        "Wednesday",
    )
    assert _parse_date("12/31/1999")[1] == datetime.date(1999, 12, 31)
    assert _parse_date("31.12.49")[1] == datetime.date(2049, 12, 31)
    assert WEEKDAYS.split()[datetime.date(1950, 1, 1).weekday()] == "sunday"


@pytest.mark.parametrize("name", ["numbers", "numbers-test"])
def test_number_sources_spell_their_digits(name):
    lengths = set()
    for source, target in builtin_parallel(f"builtin:{name}"):
        assert target == str(_words_to_int(source)), source
        assert re.fullmatch(r"0|[1-9]\d{0,5}", target)
        assert not re.search(r"(?<!hundred) and ", source), source  # "and" only after hundred
        assert not re.search(r"hundred (?!and |thousand)", source), source  # and always there
        lengths.add(len(target))
    assert lengths == {1, 2, 3, 4, 5, 6}


def test_number_checker_reads_british_english():
    assert _words_to_int("three hundred and forty-two thousand seven") == 342007
    assert _words_to_int("nine hundred and ninety-nine thousand nine hundred and ninety-nine") == (
        999999
    )
    assert _words_to_int("zero") == 0


@pytest.mark.parametrize("base", ["dates", "numbers"])
def test_test_sets_are_drawn_apart(base):
    train = builtin_parallel(f"builtin:{base}")
    test = builtin_parallel(f"builtin:{base}-test")
    assert test != train[: len(test)]
    assert len(set(test) - set(train)) > len(test) // 2


def test_names_and_unknown_names():
    assert BUILTIN_PARALLEL == ("dates", "dates-test", "numbers", "numbers-test")
    assert is_builtin_parallel("builtin:dates") and is_builtin_parallel("builtin:numbers-test")
    for other in ("dates", "builtin:sentiment", "builtin:dates-train", Path("builtin:dates"), 3):
        assert not is_builtin_parallel(other)
    choices = "builtin:dates, builtin:dates-test, builtin:numbers, builtin:numbers-test"
    with pytest.raises(UserError, match=choices):
        builtin_parallel("builtin:sentiment")
