"""The run report's chart geometry, on small examples worked out by hand."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from allocation.reporting import charts
from allocation.reporting.charts import RunRates, Stack


@pytest.mark.parametrize(
    ("value", "axis_max"),
    [(0, 1), (-3, 1), (1, 1), (7, 10), (10, 10), (11, 20), (21, 25), (26, 50), (120, 200)],
)
def test_an_axis_ends_at_the_next_1_2_2_5_or_5_times_a_power_of_ten(
    value: float, axis_max: float
) -> None:
    assert charts.nice_max(value) == axis_max


def test_an_axis_below_one_ends_at_a_round_fraction() -> None:
    assert charts.nice_max(0.3) == pytest.approx(0.5)


def test_legend_keys_sit_side_by_side_each_as_wide_as_its_label() -> None:
    first, second = charts.legend([("lines in full", "#111"), ("units", "#222")], 48, 14)
    assert (first.x, first.label, first.colour) == (48, "lines in full", "#111")
    # 48 + 30 + 7.2 x 13 characters
    assert second.x == pytest.approx(171.6)
    assert second.y == 14


def test_bars_are_as_long_as_their_share_of_a_round_maximum() -> None:
    chart = charts.bar_chart(
        [("CHAIR", 7), ("LAMP", 1)], colour="#c00", chart_id="c", data_name="sku", unit="units"
    )
    # 500 wide, 150 for labels and 56 for values: 294 for a bar of 10 (the axis maximum for 7).
    chair, lamp = chart.bars
    assert (chair.label, chair.value) == ("CHAIR", 7)
    assert chair.length == pytest.approx(205.8)
    assert lamp.length == pytest.approx(29.4)
    # One row of 28 each, 4 above the first; the bar 4 inside its row, the text at mid-row + 4.
    assert (chair.top, lamp.top) == (8, 36)
    assert (chair.text_y, lamp.text_y) == (22, 50)
    assert (chart.height, chart.bar_height) == (2 * 28 + 8, 20)


def test_a_bar_label_longer_than_its_column_is_clipped_with_an_ellipsis() -> None:
    label = "VELVET-ARMCHAIR-EXTRA-WIDE"  # 26 characters; 150 units hold 20 (150 / 7.4)
    (bar,) = charts.bar_chart(
        [(label, 3)], colour="#c00", chart_id="c", data_name="sku", unit="units"
    ).bars
    assert bar.shown_label == "VELVET-ARMCHAIR-EXT…"
    assert bar.label == label


def test_stacked_columns_share_one_scale_with_promised_units_at_the_bottom() -> None:
    chart = charts.stacked_chart(
        [Stack("in-stock", "In stock", 17, 1), Stack("2026-11-30", "30 Nov", 20, 0)]
    )
    # 520 x 280, plot from x 48 to 512 and y 34 to 232 (198 high); the maximum 20 is the axis's.
    assert (chart.width, chart.height, chart.base) == (520, 280, 232)
    assert [(line.y, line.label) for line in chart.grid] == [
        (232, "0"),
        (182.5, "5"),
        (133, "10"),
        (83.5, "15"),
        (34, "20"),
    ]
    in_stock, week = chart.columns
    # Two slots of 232; columns 56 wide, centred in their slot.
    assert (in_stock.x, in_stock.width, week.x) == (136, 56, 368)
    assert in_stock.promised_height == pytest.approx(198 * 17 / 20)
    assert in_stock.free_height == pytest.approx(198 * 1 / 20)
    assert (week.promised_height, week.free_height) == (198, 0)
    assert in_stock.centre == 164
    assert not chart.slanted_labels


def test_more_than_six_columns_slant_their_labels_in_a_taller_chart() -> None:
    chart = charts.stacked_chart([Stack(str(i), str(i), 1, 1) for i in range(7)])
    assert chart.slanted_labels
    assert (chart.height, chart.base) == (300, 232)


def test_stock_in_hand_and_twelve_weeks_get_a_column_each_and_later_weeks_share_one() -> None:
    monday = date(2026, 11, 30)
    weeks: list[tuple[date | None, int, int]] = [(None, 17, 1)]
    weeks += [(monday + timedelta(weeks=i), i, 1) for i in range(14)]
    stacks = charts.stock_stacks(weeks)
    assert len(stacks) == 14
    assert stacks[0] == Stack("in-stock", "In stock", 17, 1)
    assert stacks[1] == Stack("2026-11-30", "30 Nov", 0, 1)
    assert stacks[12] == Stack("2027-02-15", "15 Feb", 11, 1)
    # Weeks 12 and 13 (counting from 0) are summed.
    assert stacks[13] == Stack("later", "Later", 12 + 13, 2)


def test_twelve_weeks_and_no_stock_in_hand_need_no_later_column() -> None:
    weeks: list[tuple[date | None, int, int]] = [
        (date(2026, 11, 30) + timedelta(weeks=i), 1, 0) for i in range(12)
    ]
    assert [s.key for s in charts.stock_stacks(weeks)][-1] == "2027-02-15"


def test_no_run_means_no_fill_rate_chart() -> None:
    assert charts.fill_rate_chart([]) is None


def test_fill_rates_run_from_the_first_run_at_the_left_to_the_newest_at_the_right() -> None:
    chart = charts.fill_rate_chart(
        [
            RunRates("r1", date(2026, 11, 26), 0.5, 0.75),
            RunRates("r2", date(2026, 11, 27), 2 / 3, None),
        ]
    )
    assert chart is not None
    lines, units = chart.series
    # Plot from x 48 to 968 and from y 220 (0 %) up to 34 (100 %), 186 high.
    assert [(p.run_id, p.x, p.y, p.newest) for p in lines.points] == [
        ("r1", 48, 127, False),
        ("r2", 968, pytest.approx(96), True),
    ]
    assert [p.radius for p in lines.points] == [3.5, 5]
    # A run with no rate (nothing lacked units) has no point.
    assert [(p.run_id, p.y) for p in units.points] == [("r1", 80.5)]
    assert [(line.y, line.label) for line in chart.grid] == [
        (220, "0%"),
        (173.5, "25%"),
        (127, "50%"),
        (80.5, "75%"),
        (34, "100%"),
    ]
    assert [(d.x, d.label) for d in chart.dates] == [(48, "26 Nov"), (968, "27 Nov")]


def test_a_single_run_sits_in_the_middle() -> None:
    chart = charts.fill_rate_chart([RunRates("r1", date(2026, 11, 26), 1.0, 1.0)])
    assert chart is not None
    assert [(p.x, p.y) for p in chart.series[0].points] == [(508, 34)]


def test_at_most_about_ten_dates_are_labelled_always_including_the_newest() -> None:
    runs = [RunRates(f"r{i}", date(2026, 11, 1) + timedelta(days=i), 1.0, 1.0) for i in range(12)]
    chart = charts.fill_rate_chart(runs)
    assert chart is not None
    # 12 runs: every second date, counted back from the newest (2 Nov, 4 Nov, ... 12 Nov).
    assert [d.label for d in chart.dates] == [
        "02 Nov",
        "04 Nov",
        "06 Nov",
        "08 Nov",
        "10 Nov",
        "12 Nov",
    ]
