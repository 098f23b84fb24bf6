"""A writer's open brings the master's schema and views up to date, and skips it when they are.

Creating every view again and comparing the schema before and after took about 40 ms of each
open for writing, and `allocation run` opens twice. So once a writer has brought a file up to
date, it records that file's schema fingerprint (`schema.fingerprint`: version, columns,
views, comments), digested with what this release writes (its schema version, its views, the
DuckDB version), in the writers' folder. A later open that finds a file with that same digest
has nothing to change. Any difference (a file of an older release, a view dropped or altered,
another release or DuckDB, no record) and the schema and views are brought up to date as
before. The record says which fingerprint is current, not what a file holds, so a record
older or newer than the file can only cost the full open, never skip a needed change.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb

from allocation.adapters import schema, views


def bring_up_to_date(connection: duckdb.DuckDBPyConnection, record: Path | None) -> bool:
    """Upgrade the schema and create the views, inside the caller's transaction, if needed.

    Returns whether the file changed (the caller commits it). `record`: where the digest of
    an up-to-date file is kept (None: nowhere, so the work is always done).
    """
    before = schema.fingerprint(connection)
    if record is not None and _recorded(record) == _digest(before):
        return False
    schema.upgrade(connection)
    views.create_views(connection)
    after = schema.fingerprint(connection)
    if record is not None:
        record.write_text(_digest(after))
    return after != before


def _digest(fingerprint: list[tuple[object, ...]]) -> str:
    """The fingerprint's digest, with what this release writes: any change in either differs."""
    release = (schema.SCHEMA_VERSION, duckdb.__version__, views.VIEWS)
    return hashlib.sha256(repr((release, fingerprint)).encode()).hexdigest()


def _recorded(record: Path) -> str | None:
    try:
        return record.read_text()
    except FileNotFoundError:
        return None
