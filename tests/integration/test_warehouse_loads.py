"""The load stage's look-ups and batch writes on a real DuckDB file."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

from allocation.adapters.warehouse import DuckDBWarehouse
from allocation.domain.status import LineStatus


def lines(*keys: tuple[str, str, int]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "order_id": [order for order, _, _ in keys],
            "sku": [sku for _, sku, _ in keys],
            "qty": [qty for _, _, qty in keys],
            "priority": [0] * len(keys),
            "arrival": list(range(1, len(keys) + 1)),
        }
    )


def batches(*rows: tuple[str, str, int]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "reference": [reference for reference, _, _ in rows],
            "sku": [sku for _, sku, _ in rows],
            "purchased_quantity": [qty for _, _, qty in rows],
            "eta": [None] * len(rows),
        },
        schema_overrides={"eta": pl.Date},
    )


def keys(*pairs: tuple[str, str]) -> pl.DataFrame:
    return pl.DataFrame(
        {"order_id": [o for o, _ in pairs], "sku": [s for _, s in pairs]},
        schema={"order_id": pl.String, "sku": pl.String},
    )


def stored(warehouse: DuckDBWarehouse, rows: pl.DataFrame) -> None:
    warehouse.append("order_lines", rows, status=LineStatus.OPEN, run_id="r1", source_file="f.csv")


def test_known_lines_finds_every_stored_key_asked_for_and_only_those(tmp_path: Path) -> None:
    with DuckDBWarehouse(tmp_path / "w.duckdb") as warehouse:
        stored(warehouse, lines(("A1", "CHAIR", 1), ("M5", "LAMP", 2), ("Z9", "CHAIR", 3)))
        found = warehouse.known_lines(
            keys(("A1", "CHAIR"), ("M5", "CHAIR"), ("Z9", "CHAIR"), ("Q0", "LAMP"))
        )
    assert_frame_equal(
        found.sort("order_id"),
        pl.DataFrame({"order_id": ["A1", "Z9"], "sku": ["CHAIR", "CHAIR"], "qty": [1, 3]}),
    )


def test_known_lines_of_keys_beyond_every_stored_order_is_empty(tmp_path: Path) -> None:
    with DuckDBWarehouse(tmp_path / "w.duckdb") as warehouse:
        stored(warehouse, lines(("A1", "CHAIR", 1), ("B2", "LAMP", 2)))
        assert warehouse.known_lines(keys(("C3", "CHAIR"), ("D4", "LAMP"))).height == 0
        assert warehouse.known_lines(keys()).height == 0


def test_known_batches_finds_the_references_asked_for_and_only_those(tmp_path: Path) -> None:
    with DuckDBWarehouse(tmp_path / "w.duckdb") as warehouse:
        warehouse.upsert_batches(batches(("b1", "CHAIR", 5), ("b7", "LAMP", 2)), "r1")
        found = warehouse.known_batches(pl.DataFrame({"reference": ["b0", "b1", "b5", "b7"]}))
    assert found.sort("reference")["reference"].to_list() == ["b1", "b7"]


def test_batches_sent_again_are_updated_and_keep_who_created_them(tmp_path: Path) -> None:
    with DuckDBWarehouse(tmp_path / "w.duckdb") as warehouse:
        warehouse.upsert_batches(batches(("b1", "CHAIR", 5)), "r1")  # into no batches
        warehouse.upsert_batches(batches(("b1", "CHAIR", 9), ("b2", "LAMP", 1)), "r2")
        held = warehouse.query(
            "SELECT reference, purchased_quantity, created_run_id, updated_run_id "
            "FROM batches ORDER BY reference"
        )
    assert held.rows() == [("b1", 9, "r1", "r2"), ("b2", 1, "r2", "r2")]
