"""The server's in-memory read model answers every holdings look-up as the DuckDB reads do.

Real warehouse files: two nights on a seeded inbox of many SKUs (picks, reservations on
inbound batches, shortages, a cancellation), then operators' changes; every look-up key of
the warehouse, and keys it does not have, asked of both.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from warehouses import nights_into

from allocation.adapters import snapshot
from allocation.adapters.publisher import ParquetPublisher
from allocation.adapters.read_model import ReadModel, Stale
from allocation.adapters.read_models import ReadModels
from allocation.adapters.snapshot_readers import SnapshotReaders
from allocation.adapters.storage import open_storage
from allocation.adapters.warehouse import DuckDBWarehouse
from allocation.config import Settings
from allocation.entrypoints.http.access import writing
from allocation.service_layer import operations

SKUS = [f"SKU-{n}" for n in range(12)]


def seeded_night(seed: int, orders: int) -> dict[str, str]:
    """An inbox night: batches in stock and inbound of a dozen SKUs, lines of many orders."""
    pick = random.Random(seed)
    batches = ["reference,sku,purchased_quantity,eta"]
    for n in range(30):
        eta = "" if pick.random() < 0.5 else f"2027-01-{pick.randrange(1, 28):02d}"
        batches.append(f"b{seed}-{n},{pick.choice(SKUS)},{pick.randrange(0, 40)},{eta}")
    lines = ["order_id,sku,qty,priority,ordered_at"]
    for n in range(orders):
        for sku in pick.sample(SKUS, pick.randrange(1, 4)):
            lines.append(f"o{seed}-{n},{sku},{pick.randrange(1, 15)},{pick.randrange(3)},")
    return {
        f"batches/n{seed}.csv": "\n".join(batches) + "\n",
        f"order_lines/n{seed}.csv": "\n".join(lines) + "\n",
    }


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("read-model")
    second = seeded_night(2, 40) | {"cancellations/n2.csv": "order_id,sku\no1-3,\n"}
    path = nights_into(root, [seeded_night(1, 60), second], date(2026, 12, 1))
    outbox = ParquetPublisher(open_storage(str(root / "outbox")))
    with DuckDBWarehouse(path) as warehouse:
        operations.allocate(warehouse, outbox, "urgent-1", "SKU-3", 2, priority=5)
    with DuckDBWarehouse(path) as warehouse:
        operations.deallocate(warehouse, outbox, "o1-7")
    with DuckDBWarehouse(path) as warehouse:
        operations.add_batch(warehouse, outbox, "b-new", "SKU-NEW", 5, None)
    return path


@pytest.fixture(scope="module")
def both(db: Path) -> Iterator[tuple[ReadModel, DuckDBWarehouse]]:
    readers = SnapshotReaders(db)
    try:
        with readers.publication_read() as (published, cursor):
            model = ReadModel(cursor, published)
        with DuckDBWarehouse.on_snapshot(readers) as warehouse:
            yield model, warehouse
    finally:
        readers.close()


def keys(warehouse: DuckDBWarehouse) -> tuple[list[str], list[str], list[str]]:
    """Every batch reference, SKU and order id of the warehouse, and one of each it lacks."""
    references = warehouse.batches()["reference"].to_list()
    orders = warehouse.lines("order_id")["order_id"].unique().sort().to_list()
    skus = sorted({*warehouse.batches()["sku"], *warehouse.lines("sku")["sku"]})
    return [*references, "no-such-batch"], [*skus, "NO-SKU"], [*orders, "no-such-order"]


def test_the_seeded_warehouse_has_picks_reservations_and_shortages(
    both: tuple[ReadModel, DuckDBWarehouse],
) -> None:
    _, warehouse = both
    statuses = set(warehouse.held_on_batches()["status"])
    lines = warehouse.line_holdings("o1-3")

    assert statuses == {"picked", "reserved"}
    assert set(lines["status"]) == {"cancelled"}


def test_batches_by_sku_and_by_reference_are_the_same_rows(
    both: tuple[ReadModel, DuckDBWarehouse],
) -> None:
    model, warehouse = both
    references, skus, _ = keys(warehouse)
    asked = [{}, *({"sku": s} for s in skus), *({"reference": r} for r in references)]
    asked.append({"sku": "SKU-3", "reference": references[0]})

    for filters in asked:
        assert_frame_equal(
            model.batches(**filters).sort("reference"),
            warehouse.batches(**filters).sort("reference"),
        )


def test_allocations_on_batches_are_the_same_rows_in_the_same_order(
    both: tuple[ReadModel, DuckDBWarehouse],
) -> None:
    model, warehouse = both
    references, skus, _ = keys(warehouse)
    asked = [{}, *({"sku": s} for s in skus), *({"reference": r} for r in references)]
    asked += [{"sku": sku, "reference": r} for sku in skus[:4] for r in references]

    for filters in asked:
        assert_frame_equal(model.held_on_batches(**filters), warehouse.held_on_batches(**filters))


def test_an_orders_allocations_and_lines_are_the_same_rows_in_the_same_order(
    both: tuple[ReadModel, DuckDBWarehouse],
) -> None:
    model, warehouse = both
    _, skus, orders = keys(warehouse)

    for order in orders:
        assert_frame_equal(model.held_by_order(order), warehouse.held_by_order(order))
        assert_frame_equal(model.line_holdings(order), warehouse.line_holdings(order))
        for sku in skus[:2]:
            assert_frame_equal(model.held_by_order(order, sku), warehouse.held_by_order(order, sku))
            assert_frame_equal(model.line_holdings(order, sku), warehouse.line_holdings(order, sku))


def test_the_services_answers_are_the_same_on_the_model(
    both: tuple[ReadModel, DuckDBWarehouse],
) -> None:
    model, warehouse = both
    references, skus, orders = keys(warehouse)

    assert operations.list_batches(model) == operations.list_batches(warehouse)
    for sku in skus:
        assert operations.list_batches(model, sku) == operations.list_batches(warehouse, sku)
        assert operations.list_allocations(model, sku=sku) == operations.list_allocations(
            warehouse, sku=sku
        )
    for reference in references[:-1]:
        assert operations.show_batch(model, reference) == operations.show_batch(
            warehouse, reference
        )
    for order in orders[:-1]:
        assert operations.show_lines(model, order) == operations.show_lines(warehouse, order)
        assert operations.list_allocations(model, order) == operations.list_allocations(
            warehouse, order
        )


def test_a_line_with_nothing_held_has_zero_picked_and_reserved(
    both: tuple[ReadModel, DuckDBWarehouse],
) -> None:
    model, _ = both

    holdings = model.line_holdings("o1-7")

    assert holdings.height > 0
    assert holdings.select(pl.col("picked", "reserved").sum()).row(0) == (0, 0)


def built_within(models: ReadModels, seconds: float) -> ReadModel | None:
    """The current model once built (a build waits for a publication to settle), else None."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        models.build_if_due()
        if (model := models.current()) is not None:
            return model
        time.sleep(0.02)
    return None


def adopted_copy(db: Path, folder: Path) -> Path:
    """A copy of the warehouse `db` in `folder`, adopted: a publication of its own."""
    copy = folder / "w.duckdb"
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_bytes(db.read_bytes())
    DuckDBWarehouse(copy).ensure_available()
    return copy


@contextmanager
def served(copy: Path) -> Iterator[tuple[SnapshotReaders, ReadModels]]:
    """The server's snapshot readers and read models of `copy`, stopped and closed after."""
    readers = SnapshotReaders(copy)
    models = ReadModels(readers, max_rows=1_000_000)
    try:
        yield readers, models
    finally:
        models.stop()
        readers.close()


def test_the_model_is_current_only_until_the_next_publication(db: Path, tmp_path: Path) -> None:
    copy = tmp_path / "w.duckdb"
    copy.write_bytes(db.read_bytes())
    with served(copy) as (_, models):
        assert models.current() is None
        models.build_if_due()
        model = models.current()
        assert model is not None
        assert model.published == snapshot.publication(copy)

        with DuckDBWarehouse(copy) as warehouse:
            operations.add_batch(
                warehouse, ParquetPublisher(open_storage(str(tmp_path))), "b-x", "S", 1, None
            )
        stale = models.current()
        rebuilt = built_within(models, seconds=10)

    assert stale is None
    assert rebuilt is not None
    assert rebuilt.batches(reference="b-x").height == 1


def test_no_model_is_built_for_a_warehouse_over_the_row_limit(db: Path) -> None:
    readers = SnapshotReaders(db)
    models = ReadModels(readers, max_rows=10)
    try:
        models.build_if_due()
        built = models.current()
    finally:
        readers.close()

    assert built is None


def answers_alike(model: ReadModel, warehouse: DuckDBWarehouse) -> None:
    """Every keyed look-up of the warehouse gives the same frame on the model."""
    references, skus, orders = keys(warehouse)
    for sku in skus:
        assert_frame_equal(
            model.batches(sku=sku).sort("reference"), warehouse.batches(sku=sku).sort("reference")
        )
        assert_frame_equal(model.held_on_batches(sku=sku), warehouse.held_on_batches(sku=sku))
    for reference in references:
        assert_frame_equal(
            model.batches(reference=reference), warehouse.batches(reference=reference)
        )
        assert_frame_equal(
            model.held_on_batches(reference=reference),
            warehouse.held_on_batches(reference=reference),
        )
    for order in orders:
        assert_frame_equal(model.held_by_order(order), warehouse.held_by_order(order))
        assert_frame_equal(model.line_holdings(order), warehouse.line_holdings(order))


def test_a_model_patched_after_the_servers_writes_answers_as_the_snapshot_does(
    db: Path, tmp_path: Path
) -> None:
    copy = adopted_copy(db, tmp_path)
    settings = Settings(db=str(copy), outbox=str(tmp_path / "outbox"))
    outbox = ParquetPublisher(open_storage(settings.outbox))
    with served(copy) as (readers, models):
        with readers.publication_read() as (_, cursor):
            held_batch = cursor.sql(
                "SELECT batch_ref FROM allocations GROUP BY ALL ORDER BY count(*) DESC LIMIT 1"
            ).fetchall()[0][0]
            holding_order = cursor.sql(
                "SELECT order_id FROM allocations GROUP BY ALL ORDER BY count(*) DESC LIMIT 1"
            ).fetchall()[0][0]
            idle_batch = cursor.sql(
                "SELECT reference FROM batches WHERE reference NOT IN "
                "(SELECT batch_ref FROM allocations) ORDER BY reference LIMIT 1"
            ).fetchall()[0][0]
        models.build_if_due()
        assert models.current() is not None

        with writing(settings, readers, models) as write:
            added = operations.add_batch(write.warehouse, outbox, "b-y", "SKU-4", 7, None)
            write.touching(added, "b-y")
        models.build_if_due()
        with writing(settings, readers, models) as write:
            allocated = operations.allocate(write.warehouse, outbox, "urgent-2", "SKU-4", 3)
            write.touching(allocated)
        pending = models.current()
        assert pending is not None
        with pytest.raises(Stale):
            pending.held_by_order("urgent-2")
        with pytest.raises(Stale):
            pending.batches(sku="SKU-4")
        with pytest.raises(Stale):
            pending.batches(reference="b-y")  # (patched in since the model was built)
        with DuckDBWarehouse.on_snapshot(readers) as warehouse:
            for order in ("o1-9", "o2-1"):
                assert_frame_equal(pending.held_by_order(order), warehouse.held_by_order(order))

        models.build_if_due()
        with writing(settings, readers, models) as write:
            write.touching(operations.deallocate(write.warehouse, outbox, holding_order))
        with writing(settings, readers, models) as write:
            released = operations.delete_batch(write.warehouse, outbox, held_batch, force=True)
            write.touching(released, held_batch)
        with writing(settings, readers, models) as write:
            released = operations.delete_batch(write.warehouse, outbox, idle_batch)
            write.touching(released, idle_batch)
        models.build_if_due()
        patched = models.current()
        with DuckDBWarehouse.on_snapshot(readers) as warehouse:
            assert patched is not None
            assert patched.published == snapshot.publication(copy)
            assert patched.patched_keys > 0
            answers_alike(patched, warehouse)


def test_a_commit_by_another_process_is_not_patched_but_rebuilt(db: Path, tmp_path: Path) -> None:
    copy = adopted_copy(db, tmp_path)
    with served(copy) as (_, models):
        models.build_if_due()
        model = models.current()
        with DuckDBWarehouse(copy) as warehouse:  # (not through the server: nothing recorded)
            operations.add_batch(
                warehouse, ParquetPublisher(open_storage(str(tmp_path))), "b-z", "SKU-4", 2, None
            )
        stale = models.current()
        rebuilt = built_within(models, seconds=10)

    assert model is not None
    assert stale is None
    assert rebuilt is not None
    assert rebuilt.patched_keys == 0
    assert rebuilt.batches(reference="b-z").height == 1


def test_a_writer_is_given_the_model_only_of_the_publication_it_found(
    db: Path, tmp_path: Path
) -> None:
    copy = adopted_copy(db, tmp_path)
    with served(copy) as (_, models):
        models.build_if_due()
        found = snapshot.publication(copy)
        given = models.of(found)
        with DuckDBWarehouse(copy) as warehouse:  # (another process's commit)
            operations.add_batch(
                warehouse, ParquetPublisher(open_storage(str(tmp_path))), "b-v", "SKU-4", 2, None
            )
        given_after = models.of(snapshot.publication(copy))
        given_for_the_old_one = models.of(found)

    assert given is not None
    assert given.published == found
    assert given_after is None
    assert given_for_the_old_one is None


def test_a_patch_waits_while_a_write_of_the_server_is_under_way(db: Path, tmp_path: Path) -> None:
    copy = adopted_copy(db, tmp_path)
    settings = Settings(db=str(copy), outbox=str(tmp_path / "outbox"))
    outbox = ParquetPublisher(open_storage(settings.outbox))
    with served(copy) as (readers, models):
        models.build_if_due()
        with writing(settings, readers, models) as write:
            added = operations.add_batch(write.warehouse, outbox, "b-w", "SKU-4", 7, None)
            write.touching(added, "b-w")
        with models.writing():
            models.build_if_due()
            while_writing = models.current()
        models.build_if_due()
        after = models.current()

    assert while_writing is not None
    assert while_writing.patched_keys == 0
    with pytest.raises(Stale):
        while_writing.batches(sku="SKU-4")
    assert after is not None
    assert after.patched_keys > 0
    assert after.batches(reference="b-w").height == 1


def three_changes(copy: Path, outbox: ParquetPublisher, *, on_model: bool) -> list[Any]:
    """Allocate a line, release an order and delete a held batch by force; what each did.

    Each reads what is held before its change from a read model of the publication it begins
    on (`on_model`), or from the warehouse.
    """
    readers = SnapshotReaders(copy)
    try:
        with readers.publication_read() as (_, cursor):
            held_batch, stocked_sku, holding_order = cursor.sql(
                """
                SELECT (SELECT batch_ref FROM allocations GROUP BY ALL
                        ORDER BY count(*) DESC, batch_ref LIMIT 1),
                       (SELECT sku FROM batch_availability WHERE available > 2
                        ORDER BY sku LIMIT 1),
                       (SELECT order_id FROM allocations GROUP BY ALL
                        ORDER BY count(*) DESC, order_id LIMIT 1)
                """
            ).fetchall()[0]

        def model() -> ReadModel | None:
            with readers.publication_read() as (published, cursor):
                return ReadModel(cursor, published) if on_model else None

        with DuckDBWarehouse(copy) as warehouse:
            allocated = operations.allocate(
                warehouse, outbox, "urgent-9", stocked_sku, 3, holdings=model()
            )
        with DuckDBWarehouse(copy) as warehouse:
            released = operations.deallocate(warehouse, outbox, holding_order, holdings=model())
        with DuckDBWarehouse(copy) as warehouse:
            deleted = operations.delete_batch(
                warehouse, outbox, held_batch, force=True, holdings=model()
            )
    finally:
        readers.close()
    return [
        (allocated.line, allocated.allocations),
        (released.withdrawn, released.released),
        (deleted.withdrawn, deleted.released),
    ]


def test_changes_reading_the_models_holdings_record_what_the_warehouses_would(
    db: Path, tmp_path: Path
) -> None:
    outcomes: dict[bool, list[Any]] = {}
    held: dict[bool, pl.DataFrame] = {}
    lines: dict[bool, pl.DataFrame] = {}
    for on_model in (False, True):
        copy = adopted_copy(db, tmp_path / str(on_model))
        outbox = ParquetPublisher(open_storage(str(copy.parent / "outbox")))
        outcomes[on_model] = three_changes(copy, outbox, on_model=on_model)
        with DuckDBWarehouse(copy, read_only=True) as warehouse:
            held[on_model] = warehouse.held_on_batches()
            lines[on_model] = warehouse.lines("order_id", "sku", "qty", "status").sort(
                "order_id", "sku"
            )

    assert outcomes[True] == outcomes[False]
    (_, allocations), released, deleted = outcomes[True]
    assert allocations and any(released) and any(deleted)  # (each change changed something)
    assert_frame_equal(held[True], held[False])
    assert_frame_equal(lines[True], lines[False])
