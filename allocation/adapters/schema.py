"""The DuckDB warehouse's tables and file format, and the migrations for older files."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import duckdb

SCHEMA_VERSION: Final = 5

STORAGE_COMPATIBILITY: Final = "v1.4.0"
"""The oldest DuckDB release that must read the file: 1.4, the long-term-support line.

DuckDB 2.0 writes storage version 69 by default, which DuckDB 1.x (CLI 1.5.6 included) refuses;
asked when the file is created, it writes a format 1.4 and newer read. A file keeps the
format it was created with."""
CONFIG: Final[dict[str, str | bool | int | float | list[str]]] = {
    "storage_compatibility_version": STORAGE_COMPATIBILITY
}
"""DuckDB settings for opening (and creating) the writers' file."""

# Each entry upgrades the schema from version (index) to version (index + 1). Append only:
# a file written by an older release is upgraded by running the steps it has not seen yet.
MIGRATIONS: Final[tuple[str, ...]] = (
    """
    CREATE TABLE batches (
        reference          VARCHAR PRIMARY KEY,
        sku                VARCHAR NOT NULL,
        purchased_quantity BIGINT  NOT NULL CHECK (purchased_quantity >= 0),
        eta                DATE,
        created_run_id     VARCHAR NOT NULL,
        updated_run_id     VARCHAR NOT NULL
    );
    CREATE TABLE order_lines (
        order_id       VARCHAR NOT NULL,
        sku            VARCHAR NOT NULL,
        qty            BIGINT  NOT NULL CHECK (qty > 0),
        priority       BIGINT  NOT NULL DEFAULT 0,
        ordered_at     TIMESTAMPTZ,
        arrival        BIGINT  NOT NULL,
        status         VARCHAR NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'cancelled')),
        run_id         VARCHAR NOT NULL,
        source_file    VARCHAR NOT NULL,
        row_number     BIGINT,
        PRIMARY KEY (order_id, sku)
    );
    CREATE TABLE allocations (
        order_id   VARCHAR NOT NULL,
        sku        VARCHAR NOT NULL,
        batch_ref  VARCHAR NOT NULL,
        qty        BIGINT  NOT NULL CHECK (qty > 0),
        status     VARCHAR NOT NULL CHECK (status IN ('picked', 'reserved')),
        run_id     VARCHAR NOT NULL,
        PRIMARY KEY (order_id, sku, batch_ref, status)
    );
    CREATE TABLE runs (
        run_id               VARCHAR PRIMARY KEY,
        run_date             DATE NOT NULL,
        policy               VARCHAR NOT NULL,
        started_at           TIMESTAMPTZ NOT NULL,
        finished_at          TIMESTAMPTZ,
        published_at         TIMESTAMPTZ,
        status               VARCHAR NOT NULL,
        reason               VARCHAR,
        files_read           BIGINT DEFAULT 0,
        files_skipped        BIGINT DEFAULT 0,
        files_rejected       BIGINT DEFAULT 0,
        rows_read            BIGINT DEFAULT 0,
        rows_loaded          BIGINT DEFAULT 0,
        rows_rejected        BIGINT DEFAULT 0,
        duplicate_lines      BIGINT DEFAULT 0,
        lines_allocated_full BIGINT DEFAULT 0,
        lines_allocated_part BIGINT DEFAULT 0,
        lines_unallocated    BIGINT DEFAULT 0,
        units_allocated      BIGINT DEFAULT 0,
        units_short          BIGINT DEFAULT 0,
        pick_list_lines      BIGINT DEFAULT 0
    );
    CREATE TABLE ingested_files (
        run_id        VARCHAR NOT NULL,
        kind          VARCHAR NOT NULL,
        location      VARCHAR NOT NULL,
        size          BIGINT  NOT NULL,
        content_hash  VARCHAR NOT NULL,
        status        VARCHAR NOT NULL CHECK (status IN ('loaded', 'rejected', 'skipped')),
        rows_read     BIGINT  NOT NULL,
        rows_loaded   BIGINT  NOT NULL,
        rows_rejected BIGINT  NOT NULL,
        reason        VARCHAR
    );
    CREATE TABLE rejects (
        run_id     VARCHAR NOT NULL,
        file       VARCHAR NOT NULL,
        row_number BIGINT,
        "column"   VARCHAR,
        "check"    VARCHAR NOT NULL,
        value      VARCHAR,
        reason     VARCHAR NOT NULL
    );
    CREATE TABLE run_allocations (
        run_id    VARCHAR NOT NULL,
        order_id  VARCHAR NOT NULL,
        sku       VARCHAR NOT NULL,
        batch_ref VARCHAR NOT NULL,
        qty       BIGINT  NOT NULL,
        in_stock  BOOLEAN NOT NULL,
        eta       DATE
    );
    CREATE TABLE pick_list_lines (
        run_id       VARCHAR NOT NULL,
        pick_list_id VARCHAR NOT NULL,
        line_no      BIGINT  NOT NULL,
        order_id     VARCHAR NOT NULL,
        sku          VARCHAR NOT NULL,
        batch_ref    VARCHAR NOT NULL,
        qty          BIGINT  NOT NULL,
        PRIMARY KEY (pick_list_id, line_no)
    );
    CREATE TABLE run_shortages (
        run_id        VARCHAR NOT NULL,
        order_id      VARCHAR NOT NULL,
        sku           VARCHAR NOT NULL,
        ordered_qty   BIGINT  NOT NULL,
        allocated_qty BIGINT  NOT NULL,
        short_qty     BIGINT  NOT NULL
    );
    CREATE TABLE withdrawals (
        run_id    VARCHAR NOT NULL,
        order_id  VARCHAR NOT NULL,
        sku       VARCHAR NOT NULL,
        batch_ref VARCHAR NOT NULL,
        qty       BIGINT  NOT NULL,
        reason    VARCHAR NOT NULL
    );
    CREATE TABLE ledger (
        run_id    VARCHAR NOT NULL,
        recorded_at TIMESTAMPTZ NOT NULL,
        event     VARCHAR NOT NULL,
        order_id  VARCHAR,
        sku       VARCHAR,
        batch_ref VARCHAR,
        qty       BIGINT,
        reason    VARCHAR
    );
    """,
    # Version 2: no primary keys on the high-volume tables. DuckDB keeps a primary key as an
    # index that every insert checks and every commit writes: about 85 s of a 10M-line night
    # and 3.5 s of a 1M-line one. Their keys are kept by the code that writes them (the loader
    # rejects a line key seen before; allocations are replaced by difference, one row per key)
    # and checked by `check_invariants` after every night. DuckDB cannot drop a primary key,
    # so each table is copied into one without it.
    """
    CREATE TABLE order_lines_v2 (
        order_id       VARCHAR NOT NULL,
        sku            VARCHAR NOT NULL,
        qty            BIGINT  NOT NULL CHECK (qty > 0),
        priority       BIGINT  NOT NULL DEFAULT 0,
        ordered_at     TIMESTAMPTZ,
        arrival        BIGINT  NOT NULL,
        status         VARCHAR NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'cancelled')),
        run_id         VARCHAR NOT NULL,
        source_file    VARCHAR NOT NULL,
        row_number     BIGINT
    );
    INSERT INTO order_lines_v2 SELECT * FROM order_lines ORDER BY arrival;
    DROP TABLE order_lines;
    ALTER TABLE order_lines_v2 RENAME TO order_lines;

    CREATE TABLE allocations_v2 (
        order_id   VARCHAR NOT NULL,
        sku        VARCHAR NOT NULL,
        batch_ref  VARCHAR NOT NULL,
        qty        BIGINT  NOT NULL CHECK (qty > 0),
        status     VARCHAR NOT NULL CHECK (status IN ('picked', 'reserved')),
        run_id     VARCHAR NOT NULL
    );
    INSERT INTO allocations_v2 SELECT * FROM allocations;
    DROP TABLE allocations;
    ALTER TABLE allocations_v2 RENAME TO allocations;

    CREATE TABLE pick_list_lines_v2 (
        run_id       VARCHAR NOT NULL,
        pick_list_id VARCHAR NOT NULL,
        line_no      BIGINT  NOT NULL,
        order_id     VARCHAR NOT NULL,
        sku          VARCHAR NOT NULL,
        batch_ref    VARCHAR NOT NULL,
        qty          BIGINT  NOT NULL
    );
    INSERT INTO pick_list_lines_v2 SELECT * FROM pick_list_lines;
    DROP TABLE pick_list_lines;
    ALTER TABLE pick_list_lines_v2 RENAME TO pick_list_lines;
    """,
    # Version 3: history written once. A pick's ledger row repeated its pick-list line (3M rows
    # of a 10M-line first night, written a second time); `ledger` becomes a view (`views`) of
    # the events stored here and of each run's pick-list lines as pick events. The pick rows
    # it derives are those deleted here: a pick-list line's, with the run's start time and
    # the reason every night and operator allocation has written. Likewise a night that held
    # no reservation before it planned (a first night: 6M rows) has its reserve events in the
    # view as its run_allocations on inbound batches, and its run_id in
    # ledger_planned_reservations, rather than each written again.
    """
    CREATE TABLE ledger_planned_reservations (run_id VARCHAR NOT NULL);
    ALTER TABLE ledger RENAME TO ledger_events;
    DELETE FROM ledger_events e USING pick_list_lines p, runs r
    WHERE e.event = 'pick' AND e.reason = 'allocated from in-stock batch; on the pick list'
      AND p.run_id = e.run_id AND r.run_id = e.run_id AND e.recorded_at = r.started_at
      AND p.order_id = e.order_id AND p.sku = e.sku AND p.batch_ref = e.batch_ref
      AND p.qty = e.qty;
    """,
    # Version 4: a run's allocations written once. The in-stock rows of `run_allocations` were
    # the run's pick-list lines again (every writer appends both from the same picks: 3.2M rows
    # of a 10M-line first night, written a second time); `run_allocations` becomes a view
    # (`views`) of the pick-list lines as in-stock rows and of the runs' reservations on inbound
    # batches, stored here.
    """
    CREATE TABLE run_reservations (
        run_id    VARCHAR NOT NULL,
        order_id  VARCHAR NOT NULL,
        sku       VARCHAR NOT NULL,
        batch_ref VARCHAR NOT NULL,
        qty       BIGINT  NOT NULL,
        eta       DATE
    );
    INSERT INTO run_reservations
    SELECT run_id, order_id, sku, batch_ref, qty, eta FROM run_allocations WHERE NOT in_stock;
    DROP TABLE run_allocations;
    """,
    # Version 5: a re-plan writes only the reservations that changed. A night stored all its
    # reservations again (6.5M rows of a 10M-line re-plan night, identical but for run_id);
    # each reservation a night plans is now stored once, as a span over the planning nights
    # (numbered in `planning_nights`) that planned it identically, closed by the first night
    # that plans it otherwise or not at all. `run_reservations` becomes a view (`views`) with
    # the same rows: the spans, one row per night they cover, and the rows stored one per run
    # (an operator's allocation, and every reservation recorded before this version), kept as
    # they were under a new name.
    """
    CREATE TABLE planning_nights (
        run_id VARCHAR NOT NULL,
        night  BIGINT  NOT NULL
    );
    CREATE TABLE reservation_spans (
        order_id    VARCHAR NOT NULL,
        sku         VARCHAR NOT NULL,
        batch_ref   VARCHAR NOT NULL,
        qty         BIGINT  NOT NULL,
        eta         DATE,
        first_night BIGINT  NOT NULL,
        until_night BIGINT
    );
    ALTER TABLE run_reservations RENAME TO run_reservation_rows;
    """,
)


class SchemaTooNew(Exception):  # noqa: N818 - says what is wrong with the file
    """The warehouse file was written by a newer release than this one."""


def current_version(connection: duckdb.DuckDBPyConnection) -> int:
    """The schema version recorded in the file (0 for a new, empty file)."""
    connection.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
    ).complete()
    (row,) = connection.execute("SELECT max(version) FROM schema_version").fetchall()
    return int(row[0]) if row[0] is not None else 0


def recorded_version(connection: duckdb.DuckDBPyConnection) -> int:
    """The schema version recorded in the file, read without writing (0 when none is)."""
    (tables,) = connection.execute(
        "SELECT count(*) FROM duckdb_tables() "
        "WHERE database_name = current_database() AND table_name = 'schema_version'"
    ).fetchall()
    if not tables[0]:
        return 0
    (row,) = connection.execute("SELECT max(version) FROM schema_version").fetchall()
    return int(row[0]) if row[0] is not None else 0


def fingerprint(connection: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
    """What opening the file for writing may change: schema version, columns, views, comments."""
    queries = (
        "SELECT 'column', table_name, column_name, data_type, comment FROM duckdb_columns() "
        "WHERE database_name = current_database()",
        "SELECT 'view', view_name, sql, comment, NULL FROM duckdb_views() "
        "WHERE database_name = current_database() AND NOT internal",
        "SELECT 'table', table_name, comment, NULL, NULL FROM duckdb_tables() "
        "WHERE database_name = current_database()",
    )
    rows: list[tuple[object, ...]] = []
    for sql in queries:
        rows += connection.execute(f"{sql} ORDER BY ALL").fetchall()
    if any(row[:2] == ("table", "schema_version") for row in rows):
        rows += connection.execute("SELECT 'version', version FROM schema_version").fetchall()
    return rows


def upgrade(connection: duckdb.DuckDBPyConnection) -> int:
    """Apply the migrations the file has not seen, inside the caller's transaction."""
    version = current_version(connection)
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"warehouse file has schema version {version}, newer than this release "
            f"understands ({SCHEMA_VERSION}): upgrade the allocation package"
        )
    for step in range(version, SCHEMA_VERSION):
        connection.execute(MIGRATIONS[step]).complete()
        connection.execute("INSERT INTO schema_version VALUES (?)", [step + 1]).complete()
    return SCHEMA_VERSION


def rewrite(source: Path, target: Path) -> None:
    """Copy the database at `source` into a new file `target`, in the format older releases read.

    `source` is only read (a read-only attach; DuckDB replays its write-ahead log, if any), so
    the file and its readers are left as they are.
    """
    connection = duckdb.connect(str(target), config=CONFIG)
    try:
        quoted = str(source).replace("'", "''")
        connection.execute(f"ATTACH '{quoted}' AS source (READ_ONLY)").complete()
        name = connection.execute("SELECT current_database()").fetchall()[0][0]
        connection.execute(f'COPY FROM DATABASE source TO "{name}"').complete()
        connection.execute("DETACH source").complete()
        connection.execute("CHECKPOINT").complete()
    finally:
        connection.close()


def readable_by_older_releases(connection: duckdb.DuckDBPyConnection) -> bool:
    """Whether the open file is in a storage format DuckDB 1.x reads."""
    (row,) = connection.execute(
        "SELECT tags['storage_version'] FROM duckdb_databases() "
        "WHERE database_name = current_database()"
    ).fetchall()
    return str(row[0]).startswith("v1.")
