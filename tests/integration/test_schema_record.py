"""A writer's open skips re-creating the views of a file already up to date, and only then.

Each test writes a real warehouse file, changes its master the way a person or another release
could (a view dropped or altered, a newer schema, other views in the code), and opens it again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from allocation.adapters import schema, schema_record, snapshot, views
from allocation.adapters.warehouse import DuckDBWarehouse


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A warehouse file opened once for writing, so it is up to date and recorded as such."""
    path = tmp_path / "w.duckdb"
    with DuckDBWarehouse(path):
        pass
    return path


@contextmanager
def master(db: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """The writers' master, opened directly (as someone changing it by hand would)."""
    with duckdb.connect(str(snapshot.Layout(db).master), config=schema.CONFIG) as connection:
        yield connection


def view_state(warehouse: DuckDBWarehouse) -> list[tuple[object, ...]]:
    """Each view's name, comment and columns with their comments, as the open file has them."""
    return warehouse.query(
        "SELECT v.view_name, v.comment AS view_comment, c.column_name, c.comment "
        "FROM duckdb_views() v JOIN duckdb_columns() c ON c.table_name = v.view_name "
        "WHERE NOT v.internal ORDER BY v.view_name, c.column_index"
    ).rows()


def expected_view_state() -> list[tuple[object, ...]]:
    """What the code declares for every view: name, description, columns and their comments."""
    return sorted(
        (view.name, view.description, column, comment)
        for view in views.VIEWS
        for column, comment in view.columns.items()
    )


def view_ids(connection: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
    """The views' catalog ids: creating a view again gives it a new one."""
    return connection.sql(
        "SELECT view_name, view_oid FROM duckdb_views() WHERE NOT internal ORDER BY view_name"
    ).fetchall()


def test_a_file_already_up_to_date_keeps_its_views_rather_than_having_them_created_again(
    db: Path,
) -> None:
    record = snapshot.Layout(db).schema_record
    with master(db) as connection:
        connection.execute("BEGIN TRANSACTION")
        before = view_ids(connection)
        assert not schema_record.bring_up_to_date(connection, record)
        assert view_ids(connection) == before
        assert not schema_record.bring_up_to_date(connection, None)  # no record: the full work
        assert view_ids(connection) != before
        connection.execute("ROLLBACK")


def test_a_view_dropped_from_the_master_is_created_again_on_the_next_open(db: Path) -> None:
    with master(db) as connection:
        connection.execute("DROP VIEW sku_summary")

    with DuckDBWarehouse(db) as warehouse:
        assert sorted(view_state(warehouse)) == expected_view_state()


def test_a_view_altered_in_the_master_gets_back_its_sql_and_comments_on_the_next_open(
    db: Path,
) -> None:
    with master(db) as connection:
        connection.execute("CREATE OR REPLACE VIEW open_lines AS SELECT 1 AS stale")
        connection.execute("COMMENT ON VIEW batch_availability IS 'changed by hand'")
        connection.execute("COMMENT ON COLUMN run_history.status IS 'changed by hand'")

    with DuckDBWarehouse(db) as warehouse:
        assert sorted(view_state(warehouse)) == expected_view_state()
        assert warehouse.query("SELECT * FROM open_lines").columns == list(views.VIEWS[1].columns)


def test_a_release_with_other_views_writes_them_into_a_file_recorded_by_the_last_one(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, *rest = views.VIEWS
    changed = dataclasses.replace(first, description="What each batch holds, as of this release.")
    monkeypatch.setattr(views, "VIEWS", (changed, *rest))  # the next release's views

    with DuckDBWarehouse(db) as warehouse:
        assert sorted(view_state(warehouse)) == expected_view_state()
    with duckdb.connect(str(db), read_only=True) as reader:  # and readers see them
        assert reader.sql(
            "SELECT comment FROM duckdb_views() WHERE view_name = 'batch_availability'"
        ).fetchall() == [(changed.description,)]


def test_a_recorded_file_that_a_newer_release_has_since_written_is_still_refused(
    db: Path,
) -> None:
    with master(db) as connection:
        connection.execute("INSERT INTO schema_version VALUES (?)", [schema.SCHEMA_VERSION + 1])

    with pytest.raises(schema.SchemaTooNew, match="newer than this release"):
        DuckDBWarehouse(db).__enter__()
