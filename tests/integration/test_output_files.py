"""The WMS's files as DuckDB writes them: the recorded rows, in order, typed by the contracts."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest
from pandera.errors import SchemaError
from polars.testing import assert_frame_equal
from warehouses import NIGHT_1, NIGHT_2, nights_into

from allocation.adapters.storage import MemoryStorage, open_storage
from allocation.adapters.warehouse import DuckDBWarehouse, OutputFile
from allocation.service_layer.publishing import OUTPUT_CONTRACTS, check_outputs


@pytest.fixture(scope="module")
def two_nights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse after two nights: picks, reservations, a cancellation, a reject."""
    return nights_into(tmp_path_factory.mktemp("nights"), [NIGHT_1, NIGHT_2], date(2026, 11, 26))


def test_writes_each_output_as_the_rows_the_warehouse_recorded_in_their_order(
    two_nights: Path, tmp_path: Path
) -> None:
    with DuckDBWarehouse(two_nights) as warehouse:
        for (run_id,) in warehouse.query("SELECT run_id FROM runs ORDER BY started_at").rows():
            folder = tmp_path / run_id
            folder.mkdir()
            files = warehouse.write_run_outputs(run_id, folder)
            recorded = warehouse.run_outputs(run_id)
            assert files.keys() == recorded.keys() == OUTPUT_CONTRACTS.keys()
            for name, frame in recorded.items():
                assert files[name].rows == frame.height
                assert_frame_equal(pl.read_parquet(files[name].path), frame)


def test_writes_every_column_nullable_in_the_parquet_schema_as_polars_does(
    two_nights: Path, tmp_path: Path
) -> None:
    with DuckDBWarehouse(two_nights) as warehouse:
        (run_id,) = warehouse.query("SELECT min(run_id) FROM runs").row(0)
        files = warehouse.write_run_outputs(run_id, tmp_path)
    for output in files.values():
        with duckdb.connect() as con:
            kinds = con.execute(
                "SELECT DISTINCT repetition_type FROM parquet_schema(?) WHERE num_children IS NULL",
                [str(output.path)],
            ).fetchall()
        assert kinds == [("OPTIONAL",)], output.path.name


def test_writes_picks_text_of_over_a_thousand_values_plain_and_their_run_id_in_a_dictionary(
    tmp_path: Path,
) -> None:
    batches = "".join(f"b{number},S{number},10,\n" for number in range(1500))
    # Eight orders a SKU: each SKU and batch is on eight picks, enough for DuckDB's default
    # limit to give them a dictionary (it writes text that repeats less often plain anyway).
    lines = "".join(f"o{order},S{order % 1500},1,0,\n" for order in range(12_000))
    night = {
        "batches/b.csv": f"reference,sku,purchased_quantity,eta\n{batches}",
        "order_lines/l.csv": f"order_id,sku,qty,priority,ordered_at\n{lines}",
    }
    db = nights_into(tmp_path / "night", [night], date(2026, 11, 26))
    with DuckDBWarehouse(db) as warehouse:
        (run_id,) = warehouse.query("SELECT min(run_id) FROM runs").row(0)
        files = warehouse.write_run_outputs(run_id, tmp_path)
        recorded = warehouse.run_outputs(run_id)
    for name, same_on_every_row in (("allocations", "run_id"), ("pick_lists", "pick_list_id")):
        assert files[name].rows == 12_000
        assert_frame_equal(pl.read_parquet(files[name].path), recorded[name])
        with duckdb.connect() as con:
            encodings = dict(
                con.execute(
                    "SELECT path_in_schema, encodings FROM parquet_metadata(?)",
                    [str(files[name].path)],
                ).fetchall()
            )
        for text in ("sku", "batch_ref"):
            assert encodings[text] == "PLAIN", (name, text)
        assert encodings[same_on_every_row] == "PLAIN_DICTIONARY", name


def test_a_published_output_file_holds_the_recorded_rows(two_nights: Path) -> None:
    outbox = two_nights.parent / "outbox"
    with DuckDBWarehouse(two_nights) as warehouse:
        (run_id, run_date) = warehouse.query(
            "SELECT run_id, run_date FROM runs ORDER BY started_at LIMIT 1"
        ).row(0)
        recorded = warehouse.run_outputs(run_id)
    published = pl.read_parquet(outbox / f"pick_lists/run_date={run_date}/{run_id}.parquet")
    assert_frame_equal(published, recorded["pick_lists"])


def test_refuses_an_output_file_that_breaks_its_contract(tmp_path: Path) -> None:
    files = _files_of_empty_outputs(tmp_path)
    bad = pl.DataFrame(
        {"order_id": ["o1"], "sku": ["CHAIR"], "ordered_qty": [3], "allocated_qty": [1]},
    ).with_columns(short_qty=pl.lit(1, pl.Int64))  # 3 - 1 is 2, not 1
    bad.write_parquet(files["shortages"].path)
    with pytest.raises(SchemaError, match="short_is_ordered_minus_allocated"):
        check_outputs(files)


def test_refuses_an_empty_output_file_whose_columns_break_its_contract(tmp_path: Path) -> None:
    files = _files_of_empty_outputs(tmp_path)
    OUTPUT_CONTRACTS["shortages"].empty().drop("short_qty").write_parquet(files["shortages"].path)
    with pytest.raises(SchemaError, match="short_qty"):
        check_outputs(files)


def test_accepts_output_files_that_keep_their_contracts(tmp_path: Path) -> None:
    check_outputs(_files_of_empty_outputs(tmp_path))


def test_copies_a_local_file_into_a_folder_outbox_under_its_key(tmp_path: Path) -> None:
    source = tmp_path / "made.parquet"
    source.write_bytes(b"PAR1 not really")
    outbox = open_storage(str(tmp_path / "outbox"))
    outbox.write_file("allocations/run_date=2026-11-26/r1.parquet", source)
    assert outbox.read("allocations/run_date=2026-11-26/r1.parquet") == source.read_bytes()
    assert [o.key for o in outbox.list()] == ["allocations/run_date=2026-11-26/r1.parquet"]


def test_stores_a_local_file_in_a_bucket_like_store(tmp_path: Path) -> None:
    source = tmp_path / "made.parquet"
    source.write_bytes(bytes(range(256)) * 100)
    outbox = MemoryStorage()
    outbox.write_file("pick_lists/r1.parquet", source)
    assert outbox.read("pick_lists/r1.parquet") == source.read_bytes()


def _files_of_empty_outputs(folder: Path) -> dict[str, OutputFile]:
    """Each output as an empty file of its contract's columns and types."""
    files = {}
    for name, contract in OUTPUT_CONTRACTS.items():
        path = folder / f"{name}.parquet"
        contract.empty().write_parquet(path)
        files[name] = OutputFile(path, 0)
    return files
