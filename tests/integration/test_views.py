"""The analyst views: created with the warehouse, documented, and right on two hand-computed nights.

The scenario and its figures are in `analyst_scenario`. The README's example queries run here
too, against the same two nights.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest
from analyst_scenario import NIGHT_1, NIGHT_2, two_nights
from polars.testing import assert_frame_equal

from allocation.adapters.views import VIEWS
from allocation.adapters.warehouse import DuckDBWarehouse
from allocation.service_layer.runs import RunSummary

README = Path(__file__).parents[2] / "README.md"


@pytest.fixture(scope="module")
def nights() -> Iterator[tuple[DuckDBWarehouse, list[RunSummary]]]:
    """The warehouse after both nights (the tests only read it)."""
    with two_nights() as result:
        yield result


@pytest.fixture(scope="module")
def warehouse(nights: tuple[DuckDBWarehouse, list[RunSummary]]) -> DuckDBWarehouse:
    return nights[0]


def rows(warehouse: DuckDBWarehouse, sql: str) -> list[tuple[object, ...]]:
    return warehouse.query(sql).rows()


def readme_section() -> str:
    text = README.read_text()
    return text[text.index("## Inspecting results") :]


# ---------------------------------------------------------------------------------------------
# The views exist wherever the warehouse was written, with the documented columns
# ---------------------------------------------------------------------------------------------


def test_opening_the_warehouse_to_write_leaves_the_views_for_a_read_only_reader(
    tmp_path: Path,
) -> None:
    db = tmp_path / "warehouse.duckdb"
    with DuckDBWarehouse(db):
        pass  # opened, nothing committed: the schema and views are in place all the same
    with duckdb.connect(str(db), read_only=True) as reader:
        names = {name for (name,) in reader.sql("SELECT view_name FROM duckdb_views()").fetchall()}
        for view in VIEWS:
            assert reader.sql(f"SELECT count(*) FROM {view.name}").fetchall() == [(0,)]
    assert {view.name for view in VIEWS} <= names


def test_opening_the_warehouse_replaces_a_view_someone_changed(tmp_path: Path) -> None:
    db = tmp_path / "warehouse.duckdb"
    with DuckDBWarehouse(db):
        pass
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE OR REPLACE VIEW open_lines AS SELECT 1 AS stale").complete()
    with DuckDBWarehouse(db) as warehouse:
        columns = warehouse.query("SELECT * FROM open_lines").columns
    assert columns == list(VIEWS[1].columns)


def test_each_view_has_its_documented_columns_in_order_with_their_comments(
    warehouse: DuckDBWarehouse,
) -> None:
    for view in VIEWS:
        catalog = warehouse.query(
            "SELECT column_name, comment FROM duckdb_columns() WHERE table_name = ? "
            "ORDER BY column_index",
            [view.name],
        )
        assert list(catalog.iter_rows()) == list(view.columns.items()), view.name
        (comment,) = rows(
            warehouse, f"SELECT comment FROM duckdb_views() WHERE view_name = '{view.name}'"
        )
        assert comment == (view.description,)


def test_the_readme_documents_every_view_column_as_the_code_does() -> None:
    section = readme_section()
    for view in VIEWS:
        start = section.index(f"**`{view.name}`**")
        table = section[start:].split("\n\n")[1]
        documented = re.findall(r"^\| `(\w+)` \| (.*) \|$", table, flags=re.MULTILINE)
        assert documented == list(view.columns.items()), view.name


# ---------------------------------------------------------------------------------------------
# The views after two nights, against the figures computed by hand
# ---------------------------------------------------------------------------------------------


def test_batch_availability_shows_what_each_batch_holds_has_promised_and_has_left(
    warehouse: DuckDBWarehouse,
) -> None:
    expected = pl.DataFrame(
        [
            ("b-ship-chair-1", "CHAIR", date(2026, 12, 10), False, 5, 5, 0, 5, 0),
            ("b-ship-chair-2", "CHAIR", date(2026, 12, 1), False, 20, 20, 0, 20, 0),
            ("b-ship-chair-3", "CHAIR", date(2026, 12, 20), False, 4, 4, 0, 4, 0),
            ("b-ship-sofa", "SOFA", date(2026, 12, 15), False, 4, 1, 0, 1, 3),
            ("b-stock-chair", "CHAIR", None, True, 10, 10, 10, 0, 0),
            ("b-stock-lamp", "LAMP", None, True, 3, 3, 3, 0, 0),
            ("b-stock-lamp-2", "LAMP", None, True, 5, 4, 4, 0, 1),
        ],
        schema=list(VIEWS[0].columns),
        orient="row",
    )
    actual = warehouse.query("SELECT * FROM batch_availability ORDER BY reference")
    assert_frame_equal(actual, expected, check_dtypes=False)


def test_open_lines_lists_the_lines_still_lacking_units_in_their_demand_order(
    nights: tuple[DuckDBWarehouse, list[RunSummary]],
) -> None:
    warehouse, (first, second) = nights
    actual = warehouse.query(
        "SELECT order_id, sku, qty, picked, reserved, remaining, priority, arrival, "
        "demand_rank, first_run_id, source_file FROM open_lines ORDER BY sku, demand_rank"
    )
    expected = pl.DataFrame(
        [
            ("o3", "CHAIR", 30, 0, 25, 5, 0, 3, 1, first.run_id, "order_lines/night-1.csv"),
            ("o10", "CHAIR", 2, 0, 0, 2, 0, 8, 2, second.run_id, "order_lines/night-2.csv"),
        ],
        schema=actual.columns,
        orient="row",
    )
    assert_frame_equal(actual, expected, check_dtypes=False)
    received = rows(
        warehouse,
        "SELECT o.order_id FROM open_lines o JOIN runs r ON r.run_id = o.first_run_id "
        "WHERE o.received_at = r.started_at ORDER BY o.order_id",
    )
    assert received == [("o10",), ("o3",)]


def test_demand_rank_puts_priority_first_then_order_time_with_missing_last_then_arrival() -> None:
    with DuckDBWarehouse(":memory:") as warehouse:
        lines = pl.DataFrame(
            {
                "order_id": ["late", "untimed", "early", "urgent", "untimed-later"],
                "sku": ["MUG"] * 5,
                "qty": [1] * 5,
                "priority": [0, 0, 0, 5, 0],
                "ordered_at": ["2026-11-25T12:00:00Z", None, "2026-11-25T08:00:00Z", None, None],
                "arrival": [1, 2, 3, 4, 5],
                "status": ["open"] * 5,
                "run_id": ["r1"] * 5,
                "source_file": ["f.csv"] * 5,
            }
        ).with_columns(pl.col("ordered_at").str.to_datetime(time_zone="UTC"))
        warehouse.append("order_lines", lines)
        ranked = rows(warehouse, "SELECT order_id, demand_rank FROM open_lines ORDER BY 2")
    assert ranked == [
        ("urgent", 1),
        ("early", 2),
        ("late", 3),
        ("untimed", 4),
        ("untimed-later", 5),
    ]


def test_sku_summary_sets_stock_and_inbound_against_demand_per_sku(
    warehouse: DuckDBWarehouse,
) -> None:
    expected = pl.DataFrame(
        [
            ("CHAIR", 10, 29, date(2026, 12, 1), 20, 46, 10, 29, 39, 7, 0, 4, 2),
            ("LAMP", 8, 0, None, 0, 7, 7, 0, 7, 0, 1, 3, 0),
            ("SOFA", 0, 4, date(2026, 12, 15), 4, 1, 0, 1, 1, 0, 3, 1, 0),
        ],
        schema=list(VIEWS[2].columns),
        orient="row",
    )
    actual = warehouse.query("SELECT * FROM sku_summary ORDER BY sku")
    assert_frame_equal(actual, expected, check_dtypes=False)


def test_run_history_gives_each_run_its_figures_duration_and_fill_rates(
    nights: tuple[DuckDBWarehouse, list[RunSummary]],
) -> None:
    warehouse, (first, second) = nights
    actual = warehouse.query(
        "SELECT run_id, run_date, status, files_read, files_skipped, files_rejected, rows_read, "
        "rows_rejected, demand_lines, lines_allocated_full, units_demanded, units_allocated, "
        "units_short, pick_list_lines, line_fill_rate, unit_fill_rate "
        "FROM run_history ORDER BY started_at"
    )
    expected = pl.DataFrame(
        [
            (
                first.run_id,
                NIGHT_1,
                "committed",
                2,
                0,
                0,
                13,
                3,
                6,
                3,
                49,
                38,
                11,
                4,
                3 / 6,
                38 / 49,
            ),
            (
                second.run_id,
                NIGHT_2,
                "committed",
                3,
                2,
                1,
                8,
                3,
                6,
                4,
                41,
                34,
                7,
                2,
                4 / 6,
                34 / 41,
            ),
        ],
        schema=actual.columns,
        orient="row",
    )
    assert_frame_equal(actual, expected, check_dtypes=False)
    durations = rows(
        warehouse,
        "SELECT duration_s, epoch(finished_at) - epoch(started_at) FROM run_history",
    )
    for duration, expected_duration in durations:
        assert isinstance(duration, float) and isinstance(expected_duration, float)
        assert duration == pytest.approx(expected_duration, abs=0.001)


def test_a_run_that_lacked_nothing_has_no_fill_rate_rather_than_a_division_by_zero() -> None:
    with DuckDBWarehouse(":memory:") as warehouse:
        warehouse.execute(
            "INSERT INTO runs (run_id, run_date, policy, started_at, status) "
            "VALUES ('r1', DATE '2026-11-26', 'split', now(), 'committed')"
        )
        rates = rows(warehouse, "SELECT line_fill_rate, unit_fill_rate FROM run_history")
    assert rates == [(None, None)]


# ---------------------------------------------------------------------------------------------
# The README's example queries
# ---------------------------------------------------------------------------------------------


def readme_queries() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", readme_section(), flags=re.DOTALL)


def test_the_readme_has_five_example_queries() -> None:
    assert len(readme_queries()) == 5


def test_readme_what_is_short_and_since_when(warehouse: DuckDBWarehouse) -> None:
    assert rows(warehouse, readme_queries()[0]) == [
        ("CHAIR", "o3", 5, 1, NIGHT_1, 2),
        ("CHAIR", "o10", 2, 2, NIGHT_2, 1),
    ]


def test_readme_which_inbound_batch_is_most_reserved(warehouse: DuckDBWarehouse) -> None:
    result = rows(warehouse, readme_queries()[1])
    assert result[0] == ("b-ship-chair-2", "CHAIR", date(2026, 12, 1), 20, 20, 0, 100.0)
    assert [r[0] for r in result] == [
        "b-ship-chair-2",
        "b-ship-chair-1",
        "b-ship-chair-3",
        "b-ship-sofa",
    ]


def test_readme_why_did_an_order_get_a_batch(
    nights: tuple[DuckDBWarehouse, list[RunSummary]],
) -> None:
    warehouse, (first, _) = nights
    result = warehouse.query(readme_queries()[2])
    assert result.select(
        "run_id", "event", "qty", "reason", "batch_eta", "priority", "arrival"
    ).rows() == [
        (first.run_id, "reserve", 16, "re-planned onto inbound batch", date(2026, 12, 1), 0, 3)
    ]


def test_readme_fill_rate_over_the_last_nights(
    nights: tuple[DuckDBWarehouse, list[RunSummary]],
) -> None:
    warehouse, (first, second) = nights
    result = warehouse.query(readme_queries()[3]).drop("seconds")
    assert result.rows() == [
        (NIGHT_2, second.run_id, 6, 66.7, 41, 82.9),
        (NIGHT_1, first.run_id, 6, 50.0, 49, 77.6),
    ]


def test_readme_which_files_had_rejects_and_why(
    nights: tuple[DuckDBWarehouse, list[RunSummary]],
) -> None:
    warehouse, (first, second) = nights
    result = warehouse.query(readme_queries()[4]).drop("example_reason")
    assert result.rows() == [
        (
            second.run_id,
            "order_lines/night-2-no-order-id.csv",
            "order_id",
            "required_column",
            1,
            True,
        ),
        (second.run_id, "order_lines/night-2.csv", "qty", "conflicts with existing line", 1, False),
        (second.run_id, "order_lines/night-2.csv", "qty", "whole_number_greater_than_0", 1, False),
        (
            first.run_id,
            "batches/night-1.csv",
            "purchased_quantity",
            "whole_number_at_least_0",
            1,
            False,
        ),
        (first.run_id, "order_lines/night-1.csv", "qty", "whole_number_greater_than_0", 1, False),
        (first.run_id, "order_lines/night-1.csv", "sku", "not_blank", 1, False),
    ]
