"""The DuckDB warehouse: schema in place, one transaction per unit of work, one writer at a time."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from warehouses import two_nights_at_version

from allocation.adapters import schema
from allocation.adapters.warehouse import DuckDBWarehouse, WarehouseBusy
from allocation.domain.sharding import shard_of
from allocation.domain.status import AllocationStatus
from allocation.engine.plan import ALLOCATION_KEY, allocation_changes, pick_list


def batch_rows(*references: str) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "reference": list(references),
            "sku": ["CHAIR"] * len(references),
            "purchased_quantity": [10] * len(references),
            "eta": [None] * len(references),
        },
        schema_overrides={"eta": pl.Date},
    )


def test_a_new_file_gets_the_current_schema_version(tmp_path: Path) -> None:
    with DuckDBWarehouse(tmp_path / "w.duckdb") as warehouse:
        warehouse.commit()
        version = warehouse.query("SELECT max(version) AS v FROM schema_version")["v"][0]
    assert version == schema.SCHEMA_VERSION


def test_an_uncommitted_unit_of_work_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with DuckDBWarehouse(db) as warehouse:
        warehouse.upsert_batches(batch_rows("b1"), "run-1")
        warehouse.commit()
    with DuckDBWarehouse(db) as warehouse:
        warehouse.upsert_batches(batch_rows("b2"), "run-2")
    with DuckDBWarehouse(db) as warehouse:
        references = warehouse.query("SELECT reference FROM batches")["reference"].to_list()
    assert references == ["b1"]


def test_upserting_a_known_batch_updates_its_quantity_and_eta_but_not_its_creator(
    tmp_path: Path,
) -> None:
    with DuckDBWarehouse(tmp_path / "w.duckdb") as warehouse:
        warehouse.upsert_batches(batch_rows("b1"), "run-1")
        warehouse.upsert_batches(
            batch_rows("b1").with_columns(purchased_quantity=pl.lit(3)), "run-2"
        )
        row = warehouse.query(
            "SELECT purchased_quantity, created_run_id, updated_run_id FROM batches"
        ).row(0)
    assert row == (3, "run-1", "run-2")


def test_a_second_writer_is_told_the_warehouse_is_busy_and_by_whom(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(db)!r}); print('ready', flush=True); "
            "time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        started = time.monotonic()
        with pytest.raises(WarehouseBusy, match=rf"busy \(held by process {holder.pid}\)"):
            DuckDBWarehouse(db, busy_timeout=0.5).__enter__()
        assert 0.4 < time.monotonic() - started < 5
    finally:
        holder.kill()
        holder.communicate()


def test_a_file_from_a_newer_release_is_refused_with_a_clear_reason(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        con.execute("INSERT INTO schema_version VALUES (?)", [schema.SCHEMA_VERSION + 1])
    with pytest.raises(schema.SchemaTooNew, match="newer than this release"):
        DuckDBWarehouse(db).__enter__()


def test_a_version_1_file_is_upgraded_in_place_keeping_its_rows_and_dropping_the_slow_keys(
    tmp_path: Path,
) -> None:
    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as con:  # a file as release 1 left it, with a line allocated
        con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        con.execute(schema.MIGRATIONS[0])
        con.execute("INSERT INTO schema_version VALUES (1)")
        con.execute(
            "INSERT INTO order_lines VALUES ('o1', 'CHAIR', 3, 0, NULL, 1, 'open', 'r1', 'f', 2)"
        )
        con.execute("INSERT INTO allocations VALUES ('o1', 'CHAIR', 'b1', 3, 'picked', 'r1')")
        con.execute("INSERT INTO pick_list_lines VALUES ('r1', 'PL-r1', 1, 'o1', 'CHAIR', 'b1', 3)")
    with DuckDBWarehouse(db) as warehouse:
        warehouse.commit()
        version = warehouse.query("SELECT max(version) AS v FROM schema_version")["v"][0]
        lines = warehouse.query("SELECT order_id, qty, status, row_number FROM order_lines").rows()
        picked = warehouse.query("SELECT batch_ref, qty, status FROM allocations").rows()
        picks = warehouse.query("SELECT pick_list_id, line_no FROM pick_list_lines").rows()
        keyed = warehouse.query(
            "SELECT table_name FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY'"
        )["table_name"].to_list()
        with pytest.raises(duckdb.ConstraintException, match="qty > 0"):  # checks stay
            warehouse.execute(
                "INSERT INTO order_lines VALUES ('o2', 'X', 0, 0, NULL, 2, 'open', 'r2', 'f', 2)"
            )
    assert version == schema.SCHEMA_VERSION
    assert lines == [("o1", 3, "open", 2)]
    assert picked == [("b1", 3, "picked")]
    assert picks == [("PL-r1", 1)]
    assert sorted(keyed) == ["batches", "runs"]


def test_a_version_2_file_is_upgraded_in_place_its_ledger_the_same_with_picks_stored_once(
    tmp_path: Path,
) -> None:
    db = tmp_path / "w.duckdb"
    started = "2026-11-26 22:00:00+00"
    with duckdb.connect(str(db)) as con:  # a file as release 2 left it: a pick, a reservation
        con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for version, migration in enumerate(schema.MIGRATIONS[:2], start=1):
            con.execute(migration)
            con.execute("INSERT INTO schema_version VALUES (?)", [version])
        con.execute(
            "INSERT INTO runs (run_id, run_date, policy, started_at, status) "
            f"VALUES ('r1', '2026-11-26', 'split', '{started}', 'committed')"
        )
        con.execute("INSERT INTO pick_list_lines VALUES ('r1', 'PL-r1', 1, 'o1', 'CHAIR', 'b1', 3)")
        con.execute(
            f"""
            INSERT INTO ledger VALUES
            ('r1', '{started}', 'pick', 'o1', 'CHAIR', 'b1', 3,
             'allocated from in-stock batch; on the pick list'),
            ('r1', '{started}', 'reserve', 'o2', 'CHAIR', 'b2', 2, 're-planned onto inbound batch'),
            ('r1', '{started}', 'cancel', 'o3', 'CHAIR', NULL, NULL, 'cancelled by a file')
            """
        )
        before = con.sql("SELECT * FROM ledger ORDER BY ALL").fetchall()
    with DuckDBWarehouse(db) as warehouse:
        warehouse.commit()
        after = warehouse.query("SELECT * FROM ledger ORDER BY ALL").rows()
        stored = warehouse.query("SELECT event FROM ledger_events ORDER BY event").rows()
        version = warehouse.schema_version()
    assert version == schema.SCHEMA_VERSION
    assert after == before
    assert stored == [("cancel",), ("reserve",)]


LEDGER_OF_VERSION_3 = """
    CREATE VIEW ledger AS
    SELECT run_id, recorded_at, event, order_id, sku, batch_ref, qty, reason FROM ledger_events
    UNION ALL
    SELECT * FROM (
        SELECT p.run_id, r.started_at, 'pick', p.order_id, p.sku, p.batch_ref, p.qty,
               'allocated from in-stock batch; on the pick list'
        FROM pick_list_lines p JOIN runs r ON r.run_id = p.run_id
        UNION ALL
        SELECT a.run_id, r.started_at, 'reserve', a.order_id, a.sku, a.batch_ref, a.qty,
               're-planned onto inbound batch'
        FROM run_allocations a JOIN runs r ON r.run_id = a.run_id
        WHERE NOT a.in_stock AND a.run_id IN (SELECT run_id FROM ledger_planned_reservations)
    )
"""
"""The `ledger` view as release 3 created it (over the table `run_allocations`)."""


def test_a_version_3_file_is_upgraded_in_place_its_run_allocations_the_same_with_picks_stored_once(
    tmp_path: Path,
) -> None:
    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as con:  # as release 3 left it: a first night and a re-plan
        two_nights_at_version(con, 3)
        con.execute(LEDGER_OF_VERSION_3)
        con.execute(
            """
            INSERT INTO run_allocations VALUES
            ('r1', 'o1', 'CHAIR', 'b1', 3, TRUE, NULL),
            ('r1', 'o2', 'CHAIR', 'b2', 2, FALSE, '2026-12-01'),
            ('r2', 'o2', 'CHAIR', 'b2', 4, FALSE, '2026-12-02')
            """
        )
        con.execute("INSERT INTO ledger_planned_reservations VALUES ('r1')")
        con.execute(
            "INSERT INTO ledger_events VALUES ('r2', '2026-11-27 22:00:00+00', 'reserve', "
            "'o2', 'CHAIR', 'b2', 2, 're-planned onto inbound batch')"
        )
        allocations_before = con.sql("SELECT * FROM run_allocations ORDER BY ALL").fetchall()
        ledger_before = con.sql("SELECT * FROM ledger ORDER BY ALL").fetchall()
    with DuckDBWarehouse(db) as warehouse:
        warehouse.commit()
        allocations_after = warehouse.query("SELECT * FROM run_allocations ORDER BY ALL").rows()
        ledger_after = warehouse.query("SELECT * FROM ledger ORDER BY ALL").rows()
        stored = warehouse.query("SELECT run_id, qty FROM run_reservation_rows ORDER BY ALL").rows()
        kinds = warehouse.query(
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_name "
            "IN ('run_allocations', 'run_reservations', 'run_reservation_rows') ORDER BY ALL"
        ).rows()
        version = warehouse.schema_version()
    assert version == schema.SCHEMA_VERSION
    assert allocations_after == allocations_before
    assert ledger_after == ledger_before
    assert stored == [("r1", 2), ("r2", 4)]
    assert kinds == [
        ("run_allocations", "VIEW"),
        ("run_reservation_rows", "BASE TABLE"),
        ("run_reservations", "VIEW"),
    ]


def test_a_runs_allocations_keep_only_their_reservations_its_picks_read_from_its_pick_list(
    tmp_path: Path,
) -> None:
    allocations = pl.DataFrame(
        {
            "order_id": ["o1", "o2"],
            "sku": ["CHAIR", "CHAIR"],
            "batch_ref": ["b1", "b2"],
            "qty": [3, 2],
            "in_stock": [True, False],
            "eta": [None, date(2026, 12, 1)],
        }
    )
    picks = allocations.filter("in_stock").select(
        *ALLOCATION_KEY, "qty", pick_list_id=pl.lit("PL-r1"), line_no=pl.lit(1, pl.Int64)
    )
    with DuckDBWarehouse(tmp_path / "w.duckdb") as warehouse:
        warehouse.append("run_allocations", allocations, run_id="r1")
        warehouse.append("pick_list_lines", picks, run_id="r1")
        warehouse.commit()
        stored = warehouse.query("SELECT order_id, eta FROM run_reservation_rows").rows()
        seen = warehouse.query(
            "SELECT order_id, sku, batch_ref, qty, in_stock, eta FROM run_allocations "
            "WHERE run_id = 'r1' ORDER BY order_id"
        )
    assert stored == [("o2", date(2026, 12, 1))]
    assert_frame_equal(seen, allocations)


def allocation_rows(*rows: tuple[str, str, int]) -> pl.DataFrame:
    return pl.DataFrame(
        [(order_id, "CHAIR", batch_ref, qty) for order_id, batch_ref, qty in rows],
        schema={"order_id": pl.String, "sku": pl.String, "batch_ref": pl.String, "qty": pl.Int64},
        orient="row",
    )


def test_changing_allocations_stamps_only_the_new_and_changed_rows_and_deletes_the_gone(
    tmp_path: Path,
) -> None:
    first = allocation_rows(("o1", "b1", 2), ("o2", "b1", 3), ("o4", "b1", 1))
    second = allocation_rows(("o1", "b1", 2), ("o2", "b1", 4), ("o3", "b2", 1))
    with DuckDBWarehouse(tmp_path / "w.duckdb") as warehouse:
        for before, after, run_id in ((first.clear(), first, "r1"), (first, second, "r2")):
            warehouse.change_allocations(
                AllocationStatus.RESERVED, allocation_changes(before, after), run_id
            )
        rows = warehouse.query(
            "SELECT order_id, batch_ref, qty, run_id FROM allocations ORDER BY order_id"
        ).rows()
    assert rows == [("o1", "b1", 2, "r1"), ("o2", "b1", 4, "r2"), ("o3", "b2", 1, "r2")]


def test_adding_allocations_grows_held_keys_and_inserts_new_ones(tmp_path: Path) -> None:
    with DuckDBWarehouse(tmp_path / "w.duckdb") as warehouse:
        warehouse.add_allocations(
            AllocationStatus.PICKED, allocation_rows(("o1", "b1", 2), ("o2", "b1", 3)), "r1"
        )
        warehouse.add_allocations(
            AllocationStatus.PICKED, allocation_rows(("o1", "b1", 5), ("o3", "b2", 1)), "r2"
        )
        warehouse.add_allocations(AllocationStatus.RESERVED, allocation_rows(("o1", "b1", 1)), "r2")
        rows = warehouse.query(
            "SELECT order_id, batch_ref, qty, status, run_id FROM allocations ORDER BY ALL"
        ).rows()
    assert rows == [
        ("o1", "b1", 1, "reserved", "r2"),
        ("o1", "b1", 7, "picked", "r2"),
        ("o2", "b1", 3, "picked", "r1"),
        ("o3", "b2", 1, "picked", "r2"),
    ]


def test_subtracting_allocations_takes_picks_and_reservations_back_in_one_call(
    tmp_path: Path,
) -> None:
    with DuckDBWarehouse(tmp_path / "w.duckdb") as warehouse:
        warehouse.add_allocations(
            AllocationStatus.PICKED, allocation_rows(("o1", "b1", 2), ("o2", "b1", 3)), "r1"
        )
        warehouse.add_allocations(AllocationStatus.RESERVED, allocation_rows(("o1", "b1", 4)), "r1")
        warehouse.commit()
        taken = pl.concat(
            [
                allocation_rows(("o1", "b1", 2)).with_columns(status=pl.lit("picked")),
                allocation_rows(("o1", "b1", 1)).with_columns(status=pl.lit("reserved")),
            ]
        )

        warehouse.subtract_allocations(taken, "r2")
        warehouse.commit()
        rows = warehouse.query(
            "SELECT order_id, batch_ref, qty, status, run_id FROM allocations ORDER BY ALL"
        ).rows()
    assert rows == [("o1", "b1", 3, "reserved", "r2"), ("o2", "b1", 3, "picked", "r1")]


def test_a_statement_reading_a_frame_refuses_a_parameter_it_was_not_given(tmp_path: Path) -> None:
    """A `$name` left without a value would read whatever an earlier statement bound to it."""
    with DuckDBWarehouse(str(tmp_path / "w.duckdb")) as warehouse:
        run = warehouse._reading("_rows", pl.DataFrame({"qty": [1, 2]}))
        with pytest.raises(ValueError, match="no value given for run_id"):
            run("SELECT qty, $run_id AS run_id FROM _rows", {"status": "reserved"})
        rows = run("SELECT qty, $run_id AS run_id FROM _rows ORDER BY qty", {"run_id": "R-1"})
        assert rows is not None
        assert rows.fetchall() == [(1, "R-1"), (2, "R-1")]


def test_staged_picks_are_numbered_over_all_their_stagings_as_the_engine_numbers_a_pick_list(
    tmp_path: Path,
) -> None:
    picks = pl.DataFrame(
        {
            "order_id": [f"o{(n * 7) % 23:02d}-{n}" for n in range(60)],
            "sku": [("CHAIR", "LAMP", "SOFA")[n % 3] for n in range(60)],
            "batch_ref": [f"b{(n * 5) % 11}" for n in range(60)],
            "qty": [n % 4 + 1 for n in range(60)],
        }
    )
    with DuckDBWarehouse(tmp_path / "w.duckdb") as warehouse:
        for part in range(3):  # each batch's picks come in more than one staging
            warehouse.stage_picks(picks.filter(pl.int_range(pl.len()) % 3 == part))
        warehouse.append_staged_pick_list("PL-r1", "r1")
        numbered = warehouse.query(
            "SELECT pick_list_id, line_no, order_id, sku, batch_ref, qty FROM pick_list_lines "
            "WHERE run_id = 'r1' ORDER BY line_no"
        )
    assert_frame_equal(numbered, pick_list(picks, "PL-r1"))


def test_changed_allocations_are_those_held_or_wanted_that_differ_in_the_night_or_a_shard(
    tmp_path: Path,
) -> None:
    skus = ("CHAIR", "LAMP", "SOFA", "DESK", "BED", "RUG")
    keys = pl.DataFrame({"order_id": [f"o{n}" for n in range(12)], "sku": [*skus, *skus]})
    held = keys.with_columns(batch_ref=pl.lit("b") + pl.col("sku"), qty=pl.lit(2, pl.Int64))
    wanted = pl.concat(
        [
            held.slice(0, 4),  # held as they are
            held.slice(4, 4).with_columns(qty=pl.col("qty") + 1),  # grown
            held.slice(8, 2).with_columns(batch_ref=pl.lit("b-new")),  # moved to a new batch
        ]  # (and the last two: gone)
    )
    order = ["order_id", "sku", "batch_ref"]
    shard_of_sku = {sku: shard_of(sku, 2) for sku in skus}
    with DuckDBWarehouse(tmp_path / "w.duckdb") as warehouse:
        warehouse.change_allocations(
            AllocationStatus.RESERVED, allocation_changes(held.clear(), held), "r1"
        )
        warehouse.add_allocations(AllocationStatus.PICKED, wanted, "r1")  # another status
        whole = warehouse.changed_allocations(AllocationStatus.RESERVED, wanted)
        warehouse.shard_night(2)
        by_shard = [
            (
                warehouse.changed_allocations(
                    AllocationStatus.RESERVED, wanted.filter(in_shard), shard
                ),
                allocation_changes(held.filter(in_shard), wanted.filter(in_shard)),
            )
            for shard in (0, 1)
            for in_shard in [pl.col("sku").replace_strict(shard_of_sku) == shard]
        ]
    expected = allocation_changes(held, wanted)
    assert expected.height == 4 + 2 * 2 + 2  # grown, moved (gone + new), gone
    assert_frame_equal(whole.sort(order), expected.sort(order))
    assert all(changes.height for changes, _ in by_shard)
    for changes, expected_of_shard in by_shard:
        assert_frame_equal(changes.sort(order), expected_of_shard.sort(order))
