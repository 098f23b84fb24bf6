"""How the run report writes its figures."""

from __future__ import annotations

from datetime import UTC, date, datetime

from allocation.reporting import formats


def test_a_missing_figure_is_an_en_dash_whatever_its_kind() -> None:
    assert {
        formats.thousands(None),
        formats.percent(None),
        formats.day(None),
        formats.timestamp(None),
        formats.duration(None),
    } == {"\u2013"}


def test_counts_have_thousands_separators_and_rates_one_decimal() -> None:
    assert formats.thousands(1234567) == "1,234,567"
    assert formats.percent(2 / 3) == "66.7%"


def test_a_time_shows_its_zone_and_a_naive_one_none() -> None:
    assert formats.timestamp(datetime(2026, 11, 27, 2, 0, 5, tzinfo=UTC)) == (
        "2026-11-27 02:00:05 UTC"
    )
    assert formats.timestamp(datetime(2026, 11, 27, 2, 0, 5)) == "2026-11-27 02:00:05"
    assert formats.day(date(2026, 11, 27)) == "2026-11-27"


def test_durations_under_a_minute_are_seconds_and_longer_ones_a_clock() -> None:
    assert formats.duration(9.44) == "9.4 s"
    assert formats.duration(59.9) == "59.9 s"
    assert formats.duration(61.4) == "0:01:01"
    assert formats.duration(3725) == "1:02:05"


def test_a_long_text_is_clipped_to_its_length_with_an_ellipsis() -> None:
    assert formats.clipped("BRASS-LAMP", 10) == "BRASS-LAMP"
    assert formats.clipped("BRASS-LAMP-XL", 10) == "BRASS-LAM…"
