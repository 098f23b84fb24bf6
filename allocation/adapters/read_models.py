"""The read model of the latest publication, built in the background while a server serves.

A look-up answered from memory costs microseconds; one answered by DuckDB scans a column. So a
server builds a `ReadModel` of each publication it sees, on a thread of its own, and reads use
it only while it is the model of the publication at the analysts' path at that moment: never
an older one, so a read still sees every commit published before it began (a read that comes
before the model of the latest publication is built is answered by DuckDB, as before).

A model is built once its publication is at least as old as the last build took: under a
steady stream of commits (a write every half second, say), a build that would be stale before
it finished is not begun, and the CPU is left to the writes and reads. Only one model is held:
a stale one is dropped before the next is built. A warehouse with more rows than `max_rows`
(all three tables together; `ALLOCATION_HTTP_READ_MODEL_ROWS` for the server) gets no model,
and its reads all stay on DuckDB. Resident memory with a model: about 0.5 GB more for the
1M-line warehouse (2M rows), 5.7 GB for the 10M-line one (20M rows; benchmarks/RESULTS-http.md).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Final

import duckdb

from allocation.adapters import snapshot
from allocation.adapters.read_model import ReadModel, rows_in
from allocation.adapters.snapshot_readers import Publication, SnapshotReaders

LOOK_EVERY: Final = 0.05
"""Seconds between looks at the analysts' path for a newer publication."""

_log = logging.getLogger(__name__)


class ReadModels:
    """The `ReadModel` of the latest publication of `readers`' snapshot, kept up to date."""

    def __init__(self, readers: SnapshotReaders, *, max_rows: int) -> None:
        self._readers = readers
        self._max_rows = max_rows
        self._model: ReadModel | None = None
        self._last_build = 0.0
        self._too_big: Publication | None = None
        self._stop = threading.Event()
        self._builder: threading.Thread | None = None
        self._loading: duckdb.DuckDBPyConnection | None = None

    def current(self) -> ReadModel | None:
        """The model of the publication at the analysts' path now, if it is built."""
        model = self._model
        if model is not None and model.published == snapshot.publication(self._readers.path):
            return model
        return None

    def start(self) -> None:
        """Build models in the background until `stop`."""
        self._builder = threading.Thread(target=self._build_while_serving, name="read-model")
        self._builder.start()

    def stop(self) -> None:
        """Stop building (a build under way is interrupted) and drop the model."""
        self._stop.set()
        loading = self._loading
        if loading is not None:
            with contextlib.suppress(duckdb.Error):  # (the load may have ended meanwhile)
                loading.interrupt()  # (a 10M-line warehouse takes a minute to load)
        if self._builder is not None:
            self._builder.join()
        self._model = None

    def _build_while_serving(self) -> None:
        while not self._stop.wait(LOOK_EVERY):
            try:
                self.build_if_due()
            except Exception:  # a failed build leaves reads on DuckDB; the next one may succeed
                if self._stop.is_set():
                    return  # interrupted by `stop`
                _log.exception("building the read model failed")
                self._stop.wait(1.0)

    def build_if_due(self) -> None:
        """Build the model of the latest publication, unless built, too big or too new."""
        published = snapshot.publication(self._readers.path)
        if published is None or published == self._too_big:
            return
        model = self._model
        if model is not None and model.published == published:
            return
        self._model = None  # stale: its memory is let go before the next model takes its own
        if time.time_ns() - published[2] < self._last_build * 1e9:
            return  # it would likely be stale before it was built: wait for a quieter moment
        started = time.perf_counter()
        with self._readers.publication_read() as (published, cursor):
            rows = rows_in(cursor)
            if rows > self._max_rows:
                if self._too_big is None:  # (said once, not at every commit)
                    _log.warning("no read model: %d rows, more than %d", rows, self._max_rows)
                self._too_big = published
                return
            self._loading = cursor
            try:
                model = ReadModel(cursor, published)
            finally:
                self._loading = None
        self._last_build = time.perf_counter() - started
        self._model = model
        _log.info(
            "read model of %d rows, %.0f MB, built in %.1f s",
            model.rows,
            model.size() / 1e6,
            self._last_build,
        )
