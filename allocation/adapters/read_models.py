"""The read model of the latest publication, built in the background while a server serves.

A look-up answered from memory costs microseconds; one answered by DuckDB scans a column. So a
server builds a `ReadModel` of each publication it sees, on a thread of its own, and reads use
it only while it is the model of the publication at the analysts' path at that moment: never
an older one, so a read still sees every commit published before it began (a read that comes
before the model of the latest publication is built is answered by DuckDB, as before).

The server's own writes do not send reads back to DuckDB: each tells `written` the publication
it started from, the one it left, and what it touched (`Touched`). While the model's
publication leads to the latest through such writes only, the model answers every key they did
not touch at once (`ReadModel.pending`), and the builder patches it (`ReadModel.patched`: the
touched keys' rows read again from the latest publication), which takes one scan of each table
rather than a rebuild. A commit by another process (a night, a command) breaks the chain: the
model is built again, and reads use DuckDB meanwhile. After `MAX_PATCHED_KEYS` patched keys,
the model is rebuilt too, once its publication is old enough (as below); until then it is
still patched. A patch waits while a write of this process is under way, and one under way
when a write begins is interrupted and begun again after it: its scans would take both cores
from the write (writes one after another took about twice as long at 10M lines).

A model is built once its publication is at least as old as the last build took: under a
steady stream of commits (a write every half second, say), a build that would be stale before
it finished is not begun, and the CPU is left to the writes and reads. Only one model is held:
a stale one is dropped before the next is built. A warehouse with more rows than `max_rows`
(all three tables together; `ALLOCATION_HTTP_READ_MODEL_ROWS` for the server) gets no model,
and its reads all stay on DuckDB (benchmarks/RESULTS-http.md has the memory a model takes).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Final

import duckdb

from allocation.adapters import snapshot
from allocation.adapters.read_model import ReadModel, Touched, rows_in
from allocation.adapters.snapshot_readers import Publication, SnapshotReaders

LOOK_EVERY: Final = 0.05
"""Seconds between looks at the analysts' path for a newer publication."""
MAX_PATCHED_KEYS: Final = 20_000
"""SKUs and orders a model answers for from patches before it is rebuilt."""

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
        self._writes: dict[Publication, tuple[Publication, Touched]] = {}
        self._writes_lock = threading.Lock()
        self._view: ReadModel | None = None
        self._writing = 0
        self._patching: duckdb.DuckDBPyConnection | None = None

    def current(self) -> ReadModel | None:
        """The model of the publication at the analysts' path now, if it is built.

        Patched or not: a model of an earlier publication that this process's writes led to
        the latest answers the keys they did not touch (the others raise `Stale`).
        """
        model = self._model
        if model is None:
            return None
        published = snapshot.publication(self._readers.path)
        if model.published == published:
            return model
        view = self._view
        if view is not None and view.published == published:
            return view
        touched = self._written_since(model.published, published)
        if touched is None or published is None:
            return None
        self._view = view = model.pending(published, touched)
        return view

    def of(self, published: Publication | None) -> ReadModel | None:
        """The model (as `current` gives it) if it answers for `published`, else None.

        A writer holding the warehouse asks for the publication it found there: nothing else
        can publish meanwhile, so the model answers for the state its unit of work begins in.
        """
        model = self.current()
        return model if model is not None and model.published == published else None

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """A write of this process is under way for the block (it will say what it wrote).

        Meanwhile a publication the model cannot reach is not taken for another process's:
        the write may have published it and not yet said so. Nor is the model patched
        meanwhile: a patch under way is interrupted (and begun again once no write is).
        """
        with self._writes_lock:
            self._writing += 1
            patching = self._patching
        if patching is not None:
            with contextlib.suppress(duckdb.Error):  # (the patch may have ended meanwhile)
                patching.interrupt()
        try:
            yield
        finally:
            with self._writes_lock:
                self._writing -= 1

    def written(
        self, before: Publication | None, after: Publication | None, touched: Touched
    ) -> None:
        """Record a write of this process, from publication `before` to `after`.

        It changed only the keys `touched` (the caller held the writers' lock in between).
        """
        if before is None or after is None or before == after:
            return
        with self._writes_lock:
            self._writes[before] = (after, touched)

    def _written_since(self, since: Publication, until: Publication | None) -> Touched | None:
        """What this process's writes touched from `since` to `until` (None: not only them)."""
        touched = Touched()
        with self._writes_lock:
            at = since
            for _ in range(len(self._writes)):
                if at == until:
                    return touched
                step = self._writes.get(at)
                if step is None:
                    return None
                at, more = step
                touched = touched | more
        return touched if at == until else None

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
        too_new = time.time_ns() - published[2] < self._last_build * 1e9
        # (Past `MAX_PATCHED_KEYS`, still patched while a rebuild would be stale at once.)
        patchable = model is not None and (model.patched_keys < MAX_PATCHED_KEYS or too_new)
        if model is not None and patchable and self._patch(model):
            return
        if model is not None and self._writing:
            return  # (perhaps a write of ours, not yet recorded: look again once it is)
        self._model = self._view = None  # stale: let go before the next model takes its memory
        if too_new:
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
        self._forget_writes_before(model)
        self._model = model
        _log.info(
            "read model of %d rows, %.0f MB, built in %.1f s",
            model.rows,
            model.size() / 1e6,
            self._last_build,
        )

    def _patch(self, model: ReadModel) -> bool:
        """Patch `model` up to the latest publication, if this process's writes led there.

        False if they did not (the model is to be rebuilt). Not begun while a write is under
        way, and given up if one begins (both: True, and the next look patches it).
        """
        started = time.perf_counter()
        with self._readers.publication_read() as (published, cursor):
            touched = self._written_since(model.published, published)
            if touched is None:
                return False
            with self._writes_lock:
                if self._writing:
                    return True
                self._patching = cursor
            try:
                patched = model.patched(cursor, published, touched)
            except duckdb.InterruptException:
                return True  # a write began: the write goes first
            finally:
                with self._writes_lock:
                    self._patching = None
        self._forget_writes_before(patched)
        self._model = patched
        _log.debug(
            "read model patched for %d keys in %.2f s",
            patched.patched_keys,
            time.perf_counter() - started,
        )
        return True

    def _forget_writes_before(self, model: ReadModel) -> None:
        """Keep only the writes recorded from `model`'s publication on."""
        with self._writes_lock:
            kept: dict[Publication, tuple[Publication, Touched]] = {}
            at: Publication = model.published
            while at in self._writes:
                kept[at] = self._writes[at]
                at = kept[at][0]
            self._writes = kept
