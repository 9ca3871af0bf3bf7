"""Reading time series from CSV: columns, long format, missing values, and the errors that name
the file and line of bad input."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import raised, write
from rnnkit.data.builtin_series import builtin_series
from rnnkit.data.series import SeriesColumns, parse_series, read_series

DAILY = "date,close,volume\n2024-01-01,10,5\n2024-01-02,11,6\n2024-01-03,12.5,7\n"


def test_reads_time_target_and_covariates():
    (series,) = parse_series(DAILY, "d.csv", SeriesColumns(target="close", covariates=("volume",)))
    assert series.time.dtype == np.dtype("datetime64[s]")
    assert series.time[1] == np.datetime64("2024-01-02T00:00:00")
    np.testing.assert_array_equal(series.values, [10, 11, 12.5])
    np.testing.assert_array_equal(series.covariates, [[5], [6], [7]])
    np.testing.assert_array_equal(series.lines, [2, 3, 4])


def test_the_only_value_column_is_the_default_target():
    (series,) = parse_series("t,v\n2024-01-01,1\n2024-01-02,2\n", "x.csv", SeriesColumns())
    np.testing.assert_array_equal(series.values, [1, 2])
    message = raised(lambda: parse_series(DAILY, "d.csv", SeriesColumns()))
    assert message.startswith("d.csv:1: has 2 value columns (close, volume)")
    assert "data.target" in message


def test_long_format_splits_series_by_id_in_order_of_appearance():
    text = "shop,day,sales\nb,2024-01-01,900\na,2024-01-01,1\nb,2024-01-02,950\na,2024-01-02,2\n"
    columns = SeriesColumns(time="day", target="sales", id="shop")
    first, second = parse_series(text, "s.csv", columns)
    assert (first.id, second.id) == ("b", "a")
    np.testing.assert_array_equal(first.values, [900, 950])
    np.testing.assert_array_equal(second.lines, [3, 5])


def test_the_time_column_defaults_to_the_first_that_is_not_the_id():
    text = "shop,day,sales\na,2024-01-01,1\na,2024-01-02,2\n"
    (series,) = parse_series(text, "s.csv", SeriesColumns(id="shop"))
    assert (series.time_name, series.target_name) == ("day", "sales")
    assert series.time[1] == np.datetime64("2024-01-02")


def test_offsets_become_utc_and_formats_follow_time_format():
    text = "t,v\n2024-01-01T01:00:00+01:00,1\n2024-01-01T01:00:00Z,2\n"
    (series,) = parse_series(text, "z.csv", SeriesColumns())
    assert list(series.time) == [
        np.datetime64("2024-01-01T00:00"),
        np.datetime64("2024-01-01T01:00"),
    ]
    text = "t,v\n03/01/2024,1\n04/01/2024,2\n"
    (series,) = parse_series(text, "f.csv", SeriesColumns(time_format="%d/%m/%Y"))
    assert series.time[1] == np.datetime64("2024-01-04")


BAD = [  # (CSV text, columns, the message's start)
    (DAILY, SeriesColumns(target="price"), "d.csv:1: no column 'price' (data.target)"),
    (DAILY, SeriesColumns(target="close", id="shop"), "d.csv:1: no column 'shop'"),
    ("date,v\n2024-01-02,1\n2024-01-01,2\n", SeriesColumns(),
     "d.csv:3: timestamp 2024-01-01T00:00:00 comes before the one on line 2"),
    ("date,v\n2024-01-01,1\n2024-01-01,2\n", SeriesColumns(),
     "d.csv:3: timestamp 2024-01-01T00:00:00 repeats"),
    ("date,v\n2024-01-01,1\n2024-01-02,\n", SeriesColumns(), "d.csv:3: v: missing value"),
    ("date,v\n2024-01-01,1\n2024-01-02,abc\n", SeriesColumns(),
     "d.csv:3: v: 'abc' is not a number"),
    ("date,v\n2024-01-01,1\nyesterday,2\n", SeriesColumns(),
     "d.csv:3: timestamp 'yesterday' is not an ISO 8601 date"),
    ("date,v\n2024-01-01,1,7\n", SeriesColumns(), "d.csv:2: has 3 fields where the header has 2"),
    ("date,v\n2024-01-01,inf\n", SeriesColumns(), "d.csv:2: v: 'inf' is not a finite number"),
    ("", SeriesColumns(), "d.csv: is empty"),
    ("date,v\n", SeriesColumns(), "d.csv: has a header but no rows"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "columns", "expected"), BAD)
def test_bad_csv_names_the_line(text, columns, expected):
    assert raised(lambda: parse_series(text, "d.csv", columns)).startswith(expected)


def test_unsorted_rows_are_checked_within_each_series():
    text = "id,t,v\na,2024-01-02,1\nb,2024-01-01,2\na,2024-01-01,3\n"
    message = raised(lambda: parse_series(text, "l.csv", SeriesColumns(time="t", id="id")))
    assert message.startswith(
        "l.csv:4: timestamp 2024-01-01T00:00:00 comes before the one on line 2 of series 'a'"
    )


@pytest.mark.parametrize("mark", ["", "NA", "nan", ".", "null"])
def test_missing_values_ffill_and_interpolate(mark):
    text = f"date,v\n2024-01-01,1\n2024-01-02,{mark}\n2024-01-03,{mark}\n2024-01-04,4\n"
    (ffilled,) = parse_series(text, "m.csv", SeriesColumns(missing="ffill"))
    np.testing.assert_array_equal(ffilled.values, [1, 1, 1, 4])
    (interpolated,) = parse_series(text, "m.csv", SeriesColumns(missing="interpolate"))
    np.testing.assert_allclose(interpolated.values, [1, 2, 3, 4])


def test_a_leading_gap_cannot_be_carried_forward_but_can_be_interpolated():
    text = "date,v\n2024-01-01,\n2024-01-02,2\n"
    assert raised(lambda: parse_series(text, "g.csv", SeriesColumns(missing="ffill"))).startswith(
        "g.csv:2: v: missing value before the first known one"
    )
    (series,) = parse_series(text, "g.csv", SeriesColumns(missing="interpolate"))
    np.testing.assert_array_equal(series.values, [2, 2])


def test_read_series_reads_a_file_and_names_a_missing_one(tmp_path):
    path = write(tmp_path, "d.csv", DAILY)
    (series,) = read_series(path, SeriesColumns(target="close"))
    assert series.source == str(path)
    assert raised(lambda: read_series(tmp_path / "nope.csv", SeriesColumns())).endswith(
        "no such file"
    )


def test_builtin_series_are_deterministic_and_name_unknown_ones():
    (load,) = builtin_series("builtin:load")
    (again,) = builtin_series("builtin:load")
    np.testing.assert_array_equal(load.values, again.values)
    assert len(load) == 2400 and np.all(np.diff(load.time) == np.timedelta64(3600, "s"))
    shops = builtin_series("builtin:shops", ("price",))
    assert [s.id for s in shops] == ["corner", "market", "mall"]
    assert shops[0].covariates.shape == (730, 1)
    means = [s.values.mean() for s in shops]
    assert means[2] / means[0] > 100  # very different scales
    assert "builtin:load, builtin:shops" in raised(lambda: builtin_series("builtin:nope"))
    assert "no covariate 'volume'" in raised(lambda: builtin_series("builtin:shops", ("volume",)))
