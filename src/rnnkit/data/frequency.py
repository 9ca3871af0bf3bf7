"""The time axis of forecasting data: which step a series' timestamps follow, and what follows.

A forecasting series is indexed by sorted, unique ``datetime64[s]`` timestamps.
`infer_frequency` finds the `Frequency` they follow: a fixed step (hourly, daily, every 15
minutes, ...), business days (Monday to Friday), or calendar months (monthly, quarterly, yearly;
on a fixed day of the month or at month ends). A frequency then gives the timestamps of a
forecast horizon (`Frequency.following`), the gaps in a series (`Frequency.missing_after`, put
in one log line by `describe_gaps`), the seasonal period for seasonal-naive forecasts and MASE
(`Frequency.season`), and the calendar features a model knows in advance
(`Frequency.calendar_features`, encoded as sines and cosines by `calendar_encoding`).

All of it is numpy datetime arithmetic: `numpy.busday_offset` and friends for business days
(weekmask Monday to Friday, no holiday calendar), ``datetime64[M]`` for calendar months.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy
from numpy.typing import ArrayLike, NDArray

from rnnkit.errors import UserError

Timestamps = NDArray[numpy.datetime64]
_SECOND = numpy.timedelta64(1, "s")
_ONE_DAY = numpy.timedelta64(1, "D")
_DAY = 86_400
_WEEK = 7 * _DAY
# The units fixed steps are named in, largest first: (seconds, name of one step, unit).
_UNITS = (
    (_WEEK, "weekly", "week"),
    (_DAY, "daily", "day"),
    (3600, "hourly", "hour"),
    (60, "minutely", "minute"),
    (1, "secondly", "second"),
)
# The calendar kinds: months per step, and the days one step spans (the lengths of the months).
_MONTHS_PER_STEP = {"monthly": 1, "quarterly": 3, "yearly": 12}
_DAYS_PER_STEP = {"monthly": (28, 31), "quarterly": (89, 92), "yearly": (365, 366)}
# The seasonal period of the kinds without a fixed step.
_SEASONS = {"business daily": 5, "monthly": 12, "quarterly": 4, "yearly": 1}
# The calendar features `calendar_encoding` knows, with the period of each.
_CALENDAR_PERIODS = {"hour": 24, "weekday": 7, "month": 12}


@dataclass(frozen=True)
class Frequency:
    """The step between consecutive timestamps of a series.

    ``kind`` is one of

    - ``"fixed"``: a constant ``step`` of whole seconds, named ``"weekly"``, ``"daily"``,
      ``"hourly"``, ``"minutely"`` or ``"secondly"`` for one unit and ``"every 15 minutes"``,
      ``"every 2 days"``, ... otherwise (see `Frequency.fixed`);
    - ``"business daily"``: Monday to Friday, the time of day kept;
    - ``"monthly"``, ``"quarterly"``, ``"yearly"``: 1, 3 or 12 calendar months, the day of the
      month and the time of day kept (a day past the end of a shorter month becomes its last
      day). A name ending in ``"(month end)"``, as in ``"monthly (month end)"``, keeps the last
      day of the month instead.

    ``step`` is the fixed step, ``None`` for the other kinds.

    >>> Frequency.fixed(numpy.timedelta64(15, "m")).name
    'every 15 minutes'
    """

    name: str
    step: numpy.timedelta64 | None
    kind: str

    @classmethod
    def fixed(cls, step: numpy.timedelta64) -> Frequency:
        """The frequency of a constant ``step`` (positive, whole seconds), named after it."""
        seconds = int(step // _SECOND)
        if seconds < 1 or seconds * _SECOND != step:
            raise ValueError(f"a fixed step must be a positive whole number of seconds, got {step}")
        size, one, unit = next(entry for entry in _UNITS if seconds % entry[0] == 0)
        name = one if seconds == size else f"every {seconds // size} {unit}s"
        return cls(name, numpy.timedelta64(seconds, "s"), "fixed")

    @property
    def month_end(self) -> bool:
        """Whether a calendar kind keeps the last day of the month."""
        return self.name.endswith("(month end)")

    @property
    def season(self) -> int:
        """The usual seasonal period in steps, for seasonal-naive forecasts and MASE.

        A day for sub-daily steps that divide it (24 hourly, 96 every 15 minutes), a week for
        daily (7) and business daily (5), a year for weekly (52), monthly (12), quarterly (4)
        and yearly (1); other fixed steps 1.
        """
        if self.step is None:
            return _SEASONS[self.kind]
        seconds = int(self.step // _SECOND)
        if seconds == _DAY:
            return 7
        if seconds == _WEEK:
            return 52
        per_day, rest = divmod(_DAY, seconds)
        return per_day if rest == 0 and per_day > 1 else 1

    @property
    def calendar_features(self) -> tuple[str, ...]:
        """The calendar features (names for `calendar_encoding`) worth knowing at this step.

        The hour within the day only for steps that are not whole days, the weekday only for
        steps that are not whole weeks or months, the month for steps of a day or more short of
        a year.
        """
        if self.step is None:
            return {"business daily": ("weekday", "month"), "yearly": ()}.get(self.kind, ("month",))
        seconds = int(self.step // _SECOND)
        if seconds < _DAY:
            return ("hour", "weekday")
        if seconds % _DAY:
            return ("hour", "weekday", "month")
        return ("month",) if seconds % _WEEK == 0 else ("weekday", "month")

    def following(self, last: numpy.datetime64 | str, count: int) -> Timestamps:
        """The ``count`` timestamps after ``last`` in this frequency, shape ``(count,)``.

        Business days skip weekends (after a Saturday or Sunday comes the Monday); calendar
        kinds keep the day of the month of ``last`` (or the month end; after January 30 come
        February 29 or 28, then March 30), and all kinds keep its time of day. The result has
        dtype ``datetime64[s]``.
        """
        start = _as_timestamps(last)
        ahead = numpy.arange(1, count + 1)
        if self.step is not None:
            return start + ahead * self.step
        if self.kind == "business daily":
            day = start.astype("datetime64[D]")
            days = numpy.busday_offset(day, ahead, roll="backward")
            return days.astype("datetime64[s]") + (start - day)
        return _add_months(start, ahead * _MONTHS_PER_STEP[self.kind], self.month_end)

    def missing_after(self, timestamps: ArrayLike) -> list[tuple[int, int]]:
        """The gaps in ``timestamps`` (shape ``(T,)``, sorted) against this frequency.

        One ``(i, missing)`` for each ``i`` whose next timestamp ``timestamps[i + 1]`` is not
        the one expected after ``timestamps[i]``, in order of ``i``: ``missing`` is the number
        of expected timestamps strictly between the two, or ``-1`` where ``timestamps[i + 1]``
        is off the grid, not a whole positive number of steps after ``timestamps[i]`` (or either
        timestamp is not a business day, for business daily).
        """
        times = _as_timestamps(timestamps)
        steps, on_grid = self._steps_between(times[:-1], times[1:])
        on_grid &= steps >= 1
        report = numpy.flatnonzero(~on_grid | (steps > 1))
        return [(int(i), int(steps[i]) - 1 if on_grid[i] else -1) for i in report]

    def _steps_between(
        self, start: Timestamps, end: Timestamps
    ) -> tuple[NDArray[numpy.int64], NDArray[numpy.bool_]]:
        """The whole steps from each ``start`` to its ``end`` (rounded down), and whether
        ``end`` is exactly that many steps after ``start``; all of shape ``(N,)``."""
        if self.step is not None:
            return (end - start) // self.step, (end - start) % self.step == 0
        if self.kind == "business daily":
            start_day, end_day = start.astype("datetime64[D]"), end.astype("datetime64[D]")
            same_time = start - start_day == end - end_day
            on_grid = numpy.is_busday(start_day) & numpy.is_busday(end_day) & same_time
            return numpy.busday_count(start_day, end_day).astype(numpy.int64), on_grid
        per_step = _MONTHS_PER_STEP[self.kind]
        months = (end.astype("datetime64[M]") - start.astype("datetime64[M]")).astype(numpy.int64)
        exact = end == _add_months(start, months, self.month_end)
        return months // per_step, exact & (months % per_step == 0)


def infer_frequency(timestamps: ArrayLike) -> Frequency:
    """The frequency of sorted, unique ``timestamps`` (shape ``(T,)``, ``T >= 2``).

    The most common difference between consecutive timestamps decides (the shortest among
    equally common ones). One day is business daily if no timestamp falls on a weekend and the
    series spans one. 28-31, 89-92 or 365-366 days are monthly, quarterly or yearly if most
    consecutive timestamps are exactly that many calendar months apart, at month ends if every
    timestamp is the last day of its month and some day is past the 28th. Anything else is a
    fixed step of the most common difference.
    """
    times = _as_timestamps(timestamps)
    if len(times) < 2:
        raise UserError(
            f"at least two timestamps are needed to infer the frequency, got {len(times)}"
        )
    differences, counts = numpy.unique(numpy.diff(times), return_counts=True)
    common = differences[numpy.argmax(counts)]
    if common == _ONE_DAY and _business_days_only(times):
        return Frequency("business daily", None, "business daily")
    for kind, (low, high) in _DAYS_PER_STEP.items():
        if low <= common / _ONE_DAY <= high:
            calendar = _calendar_frequency(times, kind)
            if calendar is not None:
                return calendar
    return Frequency.fixed(common)


def _business_days_only(times: Timestamps) -> bool:
    """Whether no timestamp falls on a weekend while the series spans at least one."""
    days = times.astype("datetime64[D]")
    span = int((days[-1] - days[0]) // _ONE_DAY)
    return bool(numpy.is_busday(days).all()) and int(numpy.busday_count(days[0], days[-1])) < span


def _calendar_frequency(times: Timestamps, kind: str) -> Frequency | None:
    """``kind`` (monthly, quarterly, yearly) if most consecutive ``times`` are one step apart."""
    days = times.astype("datetime64[D]")
    first_days = times.astype("datetime64[M]").astype("datetime64[D]")
    last_days = (times.astype("datetime64[M]") + 1).astype("datetime64[D]") - 1
    month_end = bool((days == last_days).all() and (days - first_days >= 28).any())
    exact = times[1:] == _add_months(times[:-1], _MONTHS_PER_STEP[kind], month_end)
    if 2 * int(exact.sum()) <= len(exact):
        return None
    return Frequency(f"{kind} (month end)" if month_end else kind, None, kind)


def _add_months(times: Timestamps, months: ArrayLike, month_end: bool) -> Timestamps:
    """``times`` moved by ``months`` calendar months (broadcast together), time of day kept.

    To the last day of the target month if ``month_end``, else to the same day of the month,
    or the month's last day where the month is shorter.
    """
    days = times.astype("datetime64[D]")
    month = times.astype("datetime64[M]")
    target = month + numpy.asarray(months)
    last_day = (target + 1).astype("datetime64[D]") - 1
    if not month_end:
        same_day = target.astype("datetime64[D]") + (days - month.astype("datetime64[D]"))
        last_day = numpy.minimum(same_day, last_day)
    return last_day.astype("datetime64[s]") + (times - days)


def calendar_encoding(timestamps: ArrayLike, features: Sequence[str]) -> NDArray[numpy.float32]:
    """Calendar features of ``timestamps`` (shape ``(T,)``), shape ``(T, 2 * len(features))``.

    Each feature gives two columns, the sine and the cosine of ``2π·value/period``: ``"hour"``
    the time of day in hours (fractional, 06:30 is 6.5) over 24, ``"weekday"`` Monday = 0 to
    Sunday = 6 over 7, ``"month"`` January = 0 to December = 11 over 12.
    """
    unknown = [feature for feature in features if feature not in _CALENDAR_PERIODS]
    if unknown:
        choices = ", ".join(_CALENDAR_PERIODS)
        raise UserError(f"unknown calendar feature {unknown[0]!r}; choose from {choices}")
    times = _as_timestamps(timestamps)
    days = times.astype("datetime64[D]")
    values = {
        "hour": (times - days) / numpy.timedelta64(1, "h"),
        "weekday": (days.astype(numpy.int64) + 3) % 7,  # 1970-01-01 was a Thursday
        "month": times.astype("datetime64[M]").astype(numpy.int64) % 12,
    }
    encoding = numpy.empty((len(times), 2 * len(features)), dtype=numpy.float32)
    for column, feature in enumerate(features):
        angle = 2 * numpy.pi * values[feature] / _CALENDAR_PERIODS[feature]
        encoding[:, 2 * column] = numpy.sin(angle)
        encoding[:, 2 * column + 1] = numpy.cos(angle)
    return encoding


def describe_gaps(
    gaps: Sequence[tuple[int, int]], timestamps: ArrayLike, frequency: Frequency | None = None
) -> str:
    """One log line about ``gaps`` from `Frequency.missing_after` of ``timestamps``.

    ``frequency`` names the steps; without it, it is inferred from ``timestamps``.

    >>> hourly = Frequency.fixed(numpy.timedelta64(1, "h"))
    >>> times = numpy.array(["2016-07-03T05:00", "2016-07-03T08:00"], dtype="datetime64[s]")
    >>> describe_gaps(hourly.missing_after(times), times, hourly)
    '1 gap against hourly steps (2 timestamps missing), the first after 2016-07-03 05:00:00'
    """
    if not gaps:
        return "no gaps"
    times = _as_timestamps(timestamps)
    name = (frequency or infer_frequency(times)).name
    steps = (
        f"steps of {name.removeprefix('every ')}" if name.startswith("every ") else f"{name} steps"
    )
    missing = _count(sum(n for _, n in gaps if n > 0), "timestamp") + " missing"
    off_grid = sum(1 for _, n in gaps if n < 0)
    if off_grid:
        missing += f", {off_grid} off the grid"
    first = str(times[min(i for i, _ in gaps)]).replace("T", " ")
    return f"{_count(len(gaps), 'gap')} against {steps} ({missing}), the first after {first}"


def _count(number: int, noun: str) -> str:
    """``"1 gap"``, ``"3 gaps"``."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _as_timestamps(timestamps: ArrayLike) -> Timestamps:
    """``timestamps`` as an array of dtype ``datetime64[s]``."""
    return numpy.asarray(timestamps, dtype="datetime64[s]")
