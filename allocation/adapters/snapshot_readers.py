"""Reads of the published snapshot for a long-lived process: one open snapshot, shared.

Opening the snapshot costs tens of milliseconds, more than most look-ups, so a server keeps the
one it opened and gives each read a cursor of its own (DuckDB connections are not shared across
threads; cursors are how one database is read from several). Before each read the analysts' path
is looked at (one `stat`): when a newer commit has been published there, it is opened and later
reads use it; the previous one is closed as soon as no read uses it any more, so the writers'
spare snapshot file is not held for longer than the reads that had already begun on it.

Each snapshot is attached read-only to an in-memory database of its own: DuckDB shares one
database per file name within a process, so two snapshots published at the same name could
not otherwise be open at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from allocation.adapters import snapshot

_CATALOG = "warehouse"

Publication = tuple[int, int, int]


class _Opened:
    """One published snapshot, open, and how many reads are using it."""

    def __init__(self, path: Path, published: Publication) -> None:
        self.published = published
        self.file: snapshot.FileId = published[:2]
        self.users = 0
        self.connection = duckdb.connect(":memory:")
        try:
            self.connection.execute(f"ATTACH ? AS {_CATALOG} (READ_ONLY)", [str(path)])
        except BaseException:
            self.connection.close()
            raise

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection of its own on this snapshot, for one read.

        Made (and closed) under the readers' lock: the connection it is made from is shared.
        """
        return self.connection.cursor()

    def close(self) -> None:
        """Close the snapshot (no read may be using it)."""
        self.connection.close()


class SnapshotReaders:
    """The snapshot at `path`, kept open between reads and reopened when a newer one is out.

    At most `at_once` reads query it at a time (the others wait their turn), so that a burst
    of reads leaves the cores some room for a write. Each read is recorded with `snapshot`
    while it lasts, so a write in this process never rewrites a file a read is using; a
    stale snapshot left open with no read on it may be rewritten, and is never read again.
    """

    def __init__(self, path: str | Path, *, at_once: int = 2) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._at_once = threading.BoundedSemaphore(at_once)
        self._current: _Opened | None = None

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor on the latest published snapshot, for the block (FileNotFoundError if none)."""
        with self.publication_read() as (_, cursor):
            yield cursor

    @contextmanager
    def publication_read(self) -> Iterator[tuple[Publication, duckdb.DuckDBPyConnection]]:
        """The latest publication and a cursor on its snapshot, for the block (as `cursor`)."""
        with self._at_once:
            opened, cursor = self._take()
            try:
                cursor.execute(f"USE {_CATALOG}")
                yield opened.published, cursor
            finally:
                self._give_back(opened, cursor)

    def let_go_of_stale(self) -> None:
        """Close the open snapshot if a newer one is published and no read is using it."""
        with self._lock:
            current = self._current
            stale = current is not None and snapshot.publication(self.path) != current.published
            if current is not None and stale and not current.users:
                self._current = None
                current.close()

    def close(self) -> None:
        """Close the open snapshot (once no read uses it: reads in progress keep it open)."""
        with self._lock:
            current, self._current = self._current, None
            if current is not None and not current.users:
                current.close()

    def _take(self) -> tuple[_Opened, duckdb.DuckDBPyConnection]:
        """The latest snapshot, open, with this read recorded on it, and a cursor on it."""
        with self._lock:
            while True:
                published = snapshot.publication(self.path)
                if published is None:
                    raise FileNotFoundError(f"no warehouse at {self.path} yet")
                snapshot.reading_here(published[:2])
                if snapshot.publication(self.path) != published:
                    snapshot.read_here(published[:2])  # published again meanwhile: look again
                    continue
                current = self._current
                if current is None or current.published != published:
                    # (An open snapshot whose file was published again was rewritten in place
                    # while no read used it: it is never read again.)
                    try:
                        fresh = _Opened(self.path, published)
                    except BaseException:
                        snapshot.read_here(published[:2])
                        raise
                    if snapshot.publication(self.path) != published:
                        # Published again while it opened: it may have opened the newer file.
                        # (The file it recorded is not rewritten meanwhile: a writer replaces
                        # a file a read is recorded on.)
                        fresh.close()
                        snapshot.read_here(published[:2])
                        continue
                    if current is not None and not current.users:
                        current.close()
                    self._current = current = fresh
                cursor = current.cursor()
                current.users += 1
                return current, cursor

    def _give_back(self, opened: _Opened, cursor: duckdb.DuckDBPyConnection) -> None:
        with self._lock:
            cursor.close()
            opened.users -= 1
            snapshot.read_here(opened.file)
            if opened.users:
                return
            if opened is self._current:
                if snapshot.publication(self.path) == opened.published:
                    return  # still the latest: kept for the next read
                self._current = None
            opened.close()
