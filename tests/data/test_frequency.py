"""The time axis of forecasting data: expected frequencies, horizons and gaps come from
hand-written calendars and Python's `datetime` and `calendar` modules, not from numpy's
datetime arithmetic that the module uses."""

from __future__ import annotations

import calendar
import math
from datetime import datetime, timedelta

import numpy
import pytest

from rnnkit.data.frequency import Frequency, calendar_encoding, describe_gaps, infer_frequency
from rnnkit.errors import UserError


def stamps(*moments: datetime) -> numpy.ndarray:
    """The timestamps of ``moments`` as the module receives them, dtype ``datetime64[s]``."""
    return numpy.array(moments, dtype="datetime64[s]")


def every(start: datetime, step: timedelta, count: int) -> list[datetime]:
    return [start + i * step for i in range(count)]


def month_end(year: int, month: int) -> datetime:
    return datetime(year, month, calendar.monthrange(year, month)[1])


def months_from(year: int, month: int, count: int, step: int = 1) -> list[tuple[int, int]]:
    """``count`` (year, month) pairs ``step`` months apart, counted by hand."""
    index = year * 12 + month - 1
    return [divmod(index + i * step, 12) for i in range(count)]


def after(frequency: Frequency, last: datetime, count: int) -> numpy.ndarray:
    return frequency.following(numpy.datetime64(last, "s"), count)


def test_hourly():
    times = every(datetime(2016, 7, 3), timedelta(hours=1), 48)
    frequency = infer_frequency(stamps(*times))
    assert frequency == Frequency("hourly", numpy.timedelta64(3600, "s"), "fixed")
    expected = stamps(datetime(2016, 7, 5, 0), datetime(2016, 7, 5, 1), datetime(2016, 7, 5, 2))
    assert numpy.array_equal(after(frequency, times[-1], 3), expected)


def test_every_15_minutes_across_midnight():
    times = every(datetime(2023, 12, 31, 22), timedelta(minutes=15), 9)
    frequency = infer_frequency(stamps(*times))
    assert (frequency.name, frequency.kind) == ("every 15 minutes", "fixed")
    assert frequency.step == numpy.timedelta64(15, "m")
    assert times[-1] == datetime(2024, 1, 1, 0, 0)
    expected = stamps(datetime(2024, 1, 1, 0, 15), datetime(2024, 1, 1, 0, 30))
    assert numpy.array_equal(after(frequency, times[-1], 2), expected)


def test_daily_through_a_leap_day_and_weekends():
    times = every(datetime(2024, 2, 24), timedelta(days=1), 10)
    frequency = infer_frequency(stamps(*times))
    assert frequency == Frequency("daily", numpy.timedelta64(86_400, "s"), "fixed")
    assert times[-1] == datetime(2024, 3, 4)
    expected = stamps(datetime(2024, 3, 5), datetime(2024, 3, 6), datetime(2024, 3, 7))
    assert numpy.array_equal(after(frequency, times[-1], 3), expected)


def test_business_daily_skips_the_weekend():
    days = every(datetime(2024, 2, 19, 9, 30), timedelta(days=1), 12)  # Monday 19 to Friday 1
    weekdays = [day for day in days if day.weekday() < 5]
    assert len(weekdays) == 10 and weekdays[-1] == datetime(2024, 3, 1, 9, 30)
    frequency = infer_frequency(stamps(*weekdays))
    assert frequency == Frequency("business daily", None, "business daily")
    expected = stamps(datetime(2024, 3, 4, 9, 30), datetime(2024, 3, 5, 9, 30))
    assert numpy.array_equal(after(frequency, datetime(2024, 3, 1, 9, 30), 2), expected)
    # a whole week ahead of a Wednesday: Thu, Fri, Mon, Tue, Wed
    ahead = after(frequency, datetime(2024, 3, 6), 5)
    assert ahead.tolist() == [datetime(2024, 3, day) for day in (7, 8, 11, 12, 13)]


def test_weekdays_without_a_weekend_between_are_daily():
    times = every(datetime(2024, 3, 4), timedelta(days=1), 5)  # Monday to Friday
    assert infer_frequency(stamps(*times)).name == "daily"


def test_weekly():
    times = every(datetime(2024, 1, 1), timedelta(weeks=1), 10)
    frequency = infer_frequency(stamps(*times))
    assert frequency == Frequency("weekly", numpy.timedelta64(7 * 86_400, "s"), "fixed")
    expected = stamps(datetime(2024, 3, 11), datetime(2024, 3, 18))
    assert numpy.array_equal(after(frequency, times[-1], 2), expected)


def test_monthly_on_the_first():
    times = [datetime(year, month + 1, 1) for year, month in months_from(2023, 3, 14)]
    frequency = infer_frequency(stamps(*times))
    assert frequency == Frequency("monthly", None, "monthly")
    assert times[-1] == datetime(2024, 4, 1)
    expected = stamps(datetime(2024, 5, 1), datetime(2024, 6, 1), datetime(2024, 7, 1))
    assert numpy.array_equal(after(frequency, times[-1], 3), expected)


def test_month_end_through_a_leap_february():
    times = [month_end(year, month + 1) for year, month in months_from(2023, 9, 6)]
    assert datetime(2024, 1, 31) in times and times[-1] == datetime(2024, 2, 29)
    frequency = infer_frequency(stamps(*times))
    assert frequency == Frequency("monthly (month end)", None, "monthly")
    assert frequency.month_end
    leap = stamps(datetime(2024, 2, 29), datetime(2024, 3, 31))
    assert numpy.array_equal(after(frequency, datetime(2024, 1, 31), 2), leap)
    common = stamps(datetime(2023, 2, 28), datetime(2023, 3, 31), datetime(2023, 4, 30))
    assert numpy.array_equal(after(frequency, datetime(2023, 1, 31), 3), common)


def test_a_day_past_a_short_month_end_becomes_its_last_day():
    monthly = Frequency("monthly", None, "monthly")
    # each is counted from the last timestamp, so March is back on the 30th
    expected = stamps(datetime(2024, 2, 29, 12), datetime(2024, 3, 30, 12))
    assert numpy.array_equal(after(monthly, datetime(2024, 1, 30, 12), 2), expected)


def test_quarterly():
    times = [datetime(year, month + 1, 1) for year, month in months_from(2021, 1, 9, step=3)]
    assert times[:3] == [datetime(2021, 1, 1), datetime(2021, 4, 1), datetime(2021, 7, 1)]
    frequency = infer_frequency(stamps(*times))
    assert frequency == Frequency("quarterly", None, "quarterly")
    assert times[-1] == datetime(2023, 1, 1)
    expected = stamps(datetime(2023, 4, 1), datetime(2023, 7, 1), datetime(2023, 10, 1))
    assert numpy.array_equal(after(frequency, times[-1], 3), expected)


def test_yearly():
    times = [datetime(year, 1, 1) for year in range(2013, 2024)]
    frequency = infer_frequency(stamps(*times))
    assert frequency == Frequency("yearly", None, "yearly")
    expected = stamps(datetime(2024, 1, 1), datetime(2025, 1, 1))
    assert numpy.array_equal(after(frequency, times[-1], 2), expected)


def test_every_30_days_is_a_fixed_step_not_monthly():
    frequency = infer_frequency(stamps(*every(datetime(2024, 1, 1), timedelta(days=30), 8)))
    assert (frequency.name, frequency.kind) == ("every 30 days", "fixed")


@pytest.mark.parametrize(
    ("step", "name"),
    [
        (numpy.timedelta64(1, "m"), "minutely"),
        (numpy.timedelta64(90, "m"), "every 90 minutes"),
        (numpy.timedelta64(6, "h"), "every 6 hours"),
        (numpy.timedelta64(2, "D"), "every 2 days"),
        (numpy.timedelta64(14, "D"), "every 2 weeks"),
    ],
)
def test_fixed_step_names(step, name):
    assert Frequency.fixed(step).name == name


def test_a_daily_series_with_two_missing_days():
    days = every(datetime(2024, 2, 27), timedelta(days=1), 8)
    kept = days[:3] + days[5:]  # 2024-03-01 and 2024-03-02 are missing
    times = stamps(*kept)
    frequency = infer_frequency(times)
    assert frequency.name == "daily"
    assert frequency.missing_after(times) == [(2, 2)]
    assert describe_gaps(frequency.missing_after(times), times, frequency) == (
        "1 gap against daily steps (2 timestamps missing), the first after 2024-02-29 00:00:00"
    )


def test_an_hourly_series_with_a_missing_hour_and_one_off_the_grid():
    hours = every(datetime(2016, 7, 3), timedelta(hours=1), 12)
    kept = [*hours[:6], *hours[7:9], datetime(2016, 7, 3, 8, 30), *hours[9:]]
    times = stamps(*kept)
    frequency = infer_frequency(times)
    assert frequency.name == "hourly"
    gaps = frequency.missing_after(times)
    assert gaps == [(5, 1), (7, -1), (8, -1)]
    assert describe_gaps(gaps, times) == (
        "3 gaps against hourly steps (1 timestamp missing, 2 off the grid), "
        "the first after 2016-07-03 05:00:00"
    )


def test_a_repeated_or_early_timestamp_is_off_the_grid():
    hourly = Frequency.fixed(numpy.timedelta64(1, "h"))
    times = stamps(datetime(2024, 1, 1, 1), datetime(2024, 1, 1, 1), datetime(2024, 1, 1, 1, 40))
    assert hourly.missing_after(times) == [(0, -1), (1, -1)]


def test_a_complete_series_has_no_gaps():
    times = stamps(*every(datetime(2024, 3, 1), timedelta(minutes=15), 20))
    frequency = infer_frequency(times)
    assert frequency.missing_after(times) == []
    assert describe_gaps([], times) == "no gaps"


def test_gaps_in_business_days_and_month_ends():
    business = Frequency("business daily", None, "business daily")
    # Fri 1 -> Mon 4 is no gap; Mon 4 -> Thu 7 misses two; Thu 7 -> Tue 12 misses Fri and Mon
    times = stamps(*(datetime(2024, 3, day) for day in (1, 4, 7, 12)))
    assert business.missing_after(times) == [(1, 2), (2, 2)]
    month_ends = Frequency("monthly (month end)", None, "monthly")
    ends = stamps(month_end(2024, 1), month_end(2024, 2), month_end(2024, 5), datetime(2024, 6, 1))
    assert month_ends.missing_after(ends) == [(1, 2), (2, -1)]


def test_describe_gaps_names_the_steps():
    quarter_hours = Frequency.fixed(numpy.timedelta64(15, "m"))
    times = stamps(datetime(2024, 1, 1, 1), datetime(2024, 1, 1, 2), datetime(2024, 1, 1, 2, 15))
    assert describe_gaps([(0, 3)], times, quarter_hours) == (
        "1 gap against steps of 15 minutes (3 timestamps missing), "
        "the first after 2024-01-01 01:00:00"
    )


@pytest.mark.parametrize(
    ("step", "season"),
    [
        (timedelta(hours=1), 24),
        (timedelta(minutes=15), 96),
        (timedelta(minutes=30), 48),
        (timedelta(days=1), 7),
        (timedelta(weeks=1), 52),
        (timedelta(minutes=7), 1),
        (timedelta(days=2), 1),
    ],
)
def test_season_of_fixed_steps(step, season):
    assert infer_frequency(stamps(*every(datetime(2024, 1, 1), step, 5))).season == season


@pytest.mark.parametrize(
    ("kind", "season"),
    [("business daily", 5), ("monthly", 12), ("quarterly", 4), ("yearly", 1)],
)
def test_season_of_calendar_kinds(kind, season):
    assert Frequency(kind, None, kind).season == season


@pytest.mark.parametrize(
    ("frequency", "features"),
    [
        (Frequency.fixed(numpy.timedelta64(1, "h")), ("hour", "weekday")),
        (Frequency.fixed(numpy.timedelta64(15, "m")), ("hour", "weekday")),
        (Frequency.fixed(numpy.timedelta64(1, "D")), ("weekday", "month")),
        (Frequency("business daily", None, "business daily"), ("weekday", "month")),
        (Frequency.fixed(numpy.timedelta64(7, "D")), ("month",)),
        (Frequency("monthly (month end)", None, "monthly"), ("month",)),
        (Frequency("quarterly", None, "quarterly"), ("month",)),
        (Frequency("yearly", None, "yearly"), ()),
    ],
)
def test_calendar_features(frequency, features):
    assert frequency.calendar_features == features


def test_calendar_encoding_of_known_timestamps():
    monday = datetime(2024, 3, 4, 6)
    sunday = datetime(2023, 12, 31, 23, 30)
    assert (monday.weekday(), sunday.weekday()) == (0, 6)
    encoding = calendar_encoding(stamps(monday, sunday), ("hour", "weekday", "month"))
    assert encoding.shape == (2, 6) and encoding.dtype == numpy.float32
    for row, moment in zip(encoding, (monday, sunday), strict=True):
        values = (moment.hour + moment.minute / 60, moment.weekday(), moment.month - 1)
        expected = []
        for value, period in zip(values, (24, 7, 12), strict=True):
            expected += [
                math.sin(2 * math.pi * value / period),
                math.cos(2 * math.pi * value / period),
            ]
        assert row.tolist() == pytest.approx(expected, abs=1e-6)
    assert encoding[0, :4].tolist() == pytest.approx([1.0, 0.0, 0.0, 1.0], abs=1e-6)


def test_calendar_encoding_keeps_the_order_of_features():
    times = stamps(*every(datetime(2024, 5, 1), timedelta(hours=5), 7))
    both = calendar_encoding(times, ("month", "hour"))
    assert both.shape == (7, 4)
    assert numpy.array_equal(both[:, :2], calendar_encoding(times, ("month",)))
    assert numpy.array_equal(both[:, 2:], calendar_encoding(times, ("hour",)))
    assert calendar_encoding(times, ()).shape == (7, 0)


def test_unknown_calendar_feature():
    with pytest.raises(UserError, match=r"'minute'.*hour, weekday, month"):
        calendar_encoding(stamps(datetime(2024, 1, 1)), ("hour", "minute"))


@pytest.mark.parametrize("count", [0, 1])
def test_fewer_than_two_timestamps(count):
    times = stamps(*every(datetime(2024, 1, 1), timedelta(days=1), count))
    with pytest.raises(UserError, match="at least two timestamps are needed"):
        infer_frequency(times)
