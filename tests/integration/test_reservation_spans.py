"""A planning night's reservations, stored once per span of the nights that planned them alike."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl
from inboxes import FIRST_NIGHT, Site
from warehouses import two_nights_at_version

from allocation.adapters import schema, views
from allocation.adapters.warehouse import DuckDBWarehouse
from allocation.domain.sharding import shard_of

DEC_1, DEC_5 = date(2026, 12, 1), date(2026, 12, 5)
SPANS = "SELECT order_id, sku, qty, eta, first_night, until_night FROM reservation_spans"


def reservations(*rows: tuple[str, str, int, date]) -> pl.DataFrame:
    """Reservations of (order_id, sku, qty, eta), each on the SKU's inbound batch `in-<sku>`."""
    return pl.DataFrame(
        [(order_id, sku, f"in-{sku}", qty, eta) for order_id, sku, qty, eta in rows],
        schema={
            "order_id": pl.String,
            "sku": pl.String,
            "batch_ref": pl.String,
            "qty": pl.Int64,
            "eta": pl.Date,
        },
        orient="row",
    )


def test_a_re_plan_with_nothing_new_writes_no_reservation_row(tmp_path: Path) -> None:
    site = Site(tmp_path)
    site.drop(
        {
            "batches/b.csv": (
                b"reference,sku,purchased_quantity,eta\n"
                b"st,CHAIR,2,\nin-CHAIR,CHAIR,10,2026-12-01\nin-LAMP,LAMP,4,2026-12-05\n"
            ),
            "order_lines/l.csv": (
                b"order_id,sku,qty,priority,ordered_at\no1,CHAIR,5,0,\no2,LAMP,3,0,\no3,CHAIR,1,0,\n"
            ),
        }
    )
    site.night(FIRST_NIGHT)
    spans_after_first = site.query(f"{SPANS} ORDER BY ALL")
    site.night(FIRST_NIGHT + timedelta(days=1))
    spans_after_replan = site.query(f"{SPANS} ORDER BY ALL")
    nights = site.query("SELECT run_id FROM planning_nights ORDER BY night")["run_id"].to_list()
    planned = [
        site.query(
            "SELECT order_id, sku, batch_ref, qty, eta FROM run_allocations "
            "WHERE run_id = ? AND NOT in_stock ORDER BY ALL",
            [run_id],
        )
        for run_id in nights
    ]
    assert spans_after_first.rows() == [
        ("o1", "CHAIR", 3, DEC_1, 1, None),
        ("o2", "LAMP", 3, DEC_5, 1, None),
        ("o3", "CHAIR", 1, DEC_1, 1, None),
    ]
    assert spans_after_replan.rows() == spans_after_first.rows()
    assert len(nights) == 2
    assert (
        planned[1].rows()
        == planned[0].rows()
        == [
            ("o1", "CHAIR", "in-CHAIR", 3, DEC_1),
            ("o2", "LAMP", "in-LAMP", 3, DEC_5),
            ("o3", "CHAIR", "in-CHAIR", 1, DEC_1),
        ]
    )


def test_a_changed_reservation_closes_its_span_and_opens_another(tmp_path: Path) -> None:
    with DuckDBWarehouse(tmp_path / "w.duckdb") as warehouse:
        first = reservations(("o1", "CHAIR", 2, DEC_1), ("o2", "CHAIR", 3, DEC_1))
        grown = reservations(("o1", "CHAIR", 4, DEC_1), ("o2", "CHAIR", 3, DEC_1))
        later = reservations(("o2", "CHAIR", 3, DEC_5))  # o1 no longer planned, o2's eta moved
        for run_id, planned in (("r1", first), ("r2", grown), ("r3", later)):
            warehouse.record_planned_reservations(planned, run_id)
        warehouse.commit()
        spans = warehouse.query(f"{SPANS} ORDER BY ALL").rows()
        seen = warehouse.query(
            "SELECT run_id, order_id, qty, eta FROM run_allocations ORDER BY ALL"
        ).rows()
    assert spans == [
        ("o1", "CHAIR", 2, DEC_1, 1, 2),
        ("o1", "CHAIR", 4, DEC_1, 2, 3),
        ("o2", "CHAIR", 3, DEC_1, 1, 3),
        ("o2", "CHAIR", 3, DEC_5, 3, None),
    ]
    assert seen == [
        ("r1", "o1", 2, DEC_1),
        ("r1", "o2", 3, DEC_1),
        ("r2", "o1", 4, DEC_1),
        ("r2", "o2", 3, DEC_1),
        ("r3", "o2", 3, DEC_5),
    ]


def test_a_sharded_night_keeps_each_shards_unchanged_spans_and_ends_those_of_skus_in_no_shard(
    tmp_path: Path,
) -> None:
    skus = ["CHAIR", "LAMP", "SOFA"]  # SOFA: its batch gone since the first night
    first = reservations(*((f"o-{sku}", sku, 1, DEC_1) for sku in skus))
    with DuckDBWarehouse(tmp_path / "w.duckdb") as warehouse:
        warehouse.record_planned_reservations(first, "r1")
        warehouse.upsert_batches(
            pl.DataFrame(
                {
                    "reference": ["in-CHAIR", "in-LAMP"],
                    "sku": ["CHAIR", "LAMP"],
                    "purchased_quantity": [5, 5],
                    "eta": [DEC_1, DEC_1],
                }
            ),
            "r1",
        )
        warehouse.shard_night(2)
        for shard in range(2):
            of_shard = first.filter(
                pl.col("sku").map_elements(lambda sku: shard_of(sku, 2), pl.Int64) == shard,
                pl.col("sku") != "SOFA",
            )
            warehouse.record_planned_reservations(of_shard, "r2", shard)
        warehouse.commit()
        spans = warehouse.query(f"{SPANS} ORDER BY ALL").rows()
        planned = warehouse.query("SELECT run_id, sku FROM run_reservations ORDER BY ALL").rows()
    assert spans == [
        ("o-CHAIR", "CHAIR", 1, DEC_1, 1, None),
        ("o-LAMP", "LAMP", 1, DEC_1, 1, None),
        ("o-SOFA", "SOFA", 1, DEC_1, 1, 2),
    ]
    assert planned == [
        ("r1", "CHAIR"),
        ("r1", "LAMP"),
        ("r1", "SOFA"),
        ("r2", "CHAIR"),
        ("r2", "LAMP"),
    ]


def test_a_version_4_file_is_upgraded_in_place_its_reservations_over_two_nights_the_same(
    tmp_path: Path,
) -> None:
    db = tmp_path / "w.duckdb"
    shown = ("run_reservations", "run_allocations", "ledger")
    with duckdb.connect(str(db)) as con:  # as release 4 left it: a first night and a re-plan
        two_nights_at_version(con, 4)
        for view in (views.RUN_ALLOCATIONS, views.LEDGER):  # (their SQL is release 4's)
            con.execute(f"CREATE VIEW {view.name} AS {view.sql}")
        con.execute(
            """
            INSERT INTO run_reservations VALUES
            ('r1', 'o2', 'CHAIR', 'b2', 2, '2026-12-01'),
            ('r1', 'o3', 'CHAIR', 'b2', 1, '2026-12-01'),
            ('r2', 'o2', 'CHAIR', 'b2', 4, '2026-12-02'),
            ('r2', 'o3', 'CHAIR', 'b2', 1, '2026-12-01')
            """
        )
        con.execute("INSERT INTO ledger_planned_reservations VALUES ('r1')")
        con.execute(
            "INSERT INTO ledger_events VALUES ('r2', '2026-11-27 22:00:00+00', 'reserve', "
            "'o2', 'CHAIR', 'b2', 2, 're-planned onto inbound batch')"
        )
        before = {name: con.sql(f"SELECT * FROM {name} ORDER BY ALL").fetchall() for name in shown}
    with DuckDBWarehouse(db) as warehouse:
        warehouse.commit()
        after = {
            name: warehouse.query(f"SELECT * FROM {name} ORDER BY ALL").rows() for name in shown
        }
        version = warehouse.schema_version()
        kept = warehouse.query("SELECT count(*) AS n FROM run_reservation_rows")["n"][0]
    assert version == schema.SCHEMA_VERSION
    assert len(before["run_reservations"]) == 4
    assert after == before
    assert kept == 4


def test_a_reservation_planned_twice_by_a_night_breaks_an_invariant(tmp_path: Path) -> None:
    once = reservations(("o2", "CHAIR", 1, DEC_1))
    twice = reservations(("o1", "CHAIR", 2, DEC_1), ("o1", "CHAIR", 3, DEC_1))
    with DuckDBWarehouse(tmp_path / "w.duckdb") as warehouse:
        warehouse.record_planned_reservations(once, "r1")
        clean = warehouse.invariant_breaches()["reservation planned more than once by a night"]
        warehouse.record_planned_reservations(twice, "r2")
        broken = warehouse.invariant_breaches()["reservation planned more than once by a night"]
    assert clean.height == 0
    assert broken.rows() == [("o1", "CHAIR", "in-CHAIR", 2)]  # (two spans open for o1)
