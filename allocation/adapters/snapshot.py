"""The analysts' snapshot: the last committed state, published beside the writers' own file.

Writers work on a private master file (`<dir>/.<name>.writer/warehouse.duckdb`) that only they
open, so DuckDB's lock on it keeps excluding writers from each other and never involves a
reader. At every commit the master is checkpointed and copied into a spare snapshot file,
which is made durable (fsync) and renamed over the analysts' path (`<dir>/<name>`); the
folder is fsynced after the rename. A reader that opened the previous snapshot keeps reading
the file it opened; a reader that opens the path afterwards sees the new commit.

Two snapshot files take turns (`snapshot-a.duckdb`, `snapshot-b.duckdb` in the writers'
folder, one of them also linked at the analysts' path). The spare one is brought up to date
by rewriting only the chunks that differ from the master, unless a reader still holds it
(DuckDB holds a shared lock on every file it opens): then it is replaced by a fresh copy, and
the reader keeps the old one until it closes. A process that both reads snapshots and writes
(the HTTP server) tells this module which snapshot files its reads use (`reading_here`): POSIX
locks do not exclude their own process, so the lock alone would not stop it rewriting a file
it is still reading. Requires a POSIX filesystem (Linux, macOS) with
hard links and atomic rename, the writers' folder on the same filesystem as the path.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from allocation.adapters import schema

CHUNK: Final = 1 << 20
"""Bytes compared at a time when a spare snapshot is brought up to date."""


@dataclass(frozen=True)
class Layout:
    """Where the analysts' snapshot, the writers' master and their spare files live."""

    public: Path

    @property
    def writer_dir(self) -> Path:
        """The writers' folder, beside the analysts' file (same filesystem)."""
        return self.public.parent / f".{self.public.name}.writer"

    @property
    def master(self) -> Path:
        """The job's data of record, opened by writers only."""
        return self.writer_dir / "warehouse.duckdb"

    @property
    def slots(self) -> tuple[Path, Path]:
        """The two snapshot files that take turns at the analysts' path."""
        return (self.writer_dir / "snapshot-a.duckdb", self.writer_dir / "snapshot-b.duckdb")

    @property
    def unpublished(self) -> Path:
        """Present while the master may hold a commit the analysts' path does not show."""
        return self.writer_dir / "unpublished"

    @property
    def schema_record(self) -> Path:
        """The digest of an up-to-date schema, as the last writer that checked left it."""
        return self.writer_dir / "schema-record"

    @property
    def staging(self) -> Path:
        """The name a snapshot takes in the analysts' folder just before the rename."""
        return self.public.parent / f".{self.public.name}.publishing"


def wal(path: Path) -> Path:
    """DuckDB's write-ahead log of the database file at `path`."""
    return path.with_name(path.name + ".wal")


def adopt(layout: Layout) -> bool:
    """Make a warehouse file of an earlier release (at the public path, no master) the master.

    The file is read (with its write-ahead log, if any) and rewritten in the storage format
    older DuckDB releases read (`schema.rewrite`); the public path stays readable meanwhile.
    The copy becomes the master in one step (a hard link, which fails if another writer
    adopted first). Returns whether a file was adopted.
    """
    if layout.master.exists() or not layout.public.exists():
        return False
    layout.writer_dir.mkdir(exist_ok=True)
    scratch = layout.writer_dir / f"adopting-{uuid.uuid4().hex}.duckdb"
    try:
        schema.rewrite(layout.public, scratch)
        _fsync_file(scratch)
        mark_unpublished(layout)  # the analysts' path still shows the old format
        try:
            os.link(scratch, layout.master)
        except FileExistsError:
            return False
        fsync_directory(layout.writer_dir)
        return True
    finally:
        scratch.unlink(missing_ok=True)


def mark_unpublished(layout: Layout) -> None:
    """Record, durably, that the master is about to hold a commit not yet published."""
    layout.writer_dir.mkdir(exist_ok=True)
    if not layout.unpublished.exists():
        layout.unpublished.touch()
        fsync_directory(layout.writer_dir)


def needs_publishing(layout: Layout) -> bool:
    """Whether the analysts' path may lag the master (a writer died before publishing)."""
    return layout.unpublished.exists() or not layout.public.exists()


def clean(layout: Layout) -> None:
    """Remove what a writer that died while publishing left behind."""
    layout.staging.unlink(missing_ok=True)
    for leftover in layout.writer_dir.glob("adopting-*"):
        leftover.unlink(missing_ok=True)


def publish(layout: Layout) -> None:
    """Make the analysts' path show the master as it is now (checkpointed, no open changes).

    The caller holds the master (DuckDB's lock on it), so no other writer publishes at once.
    """
    slot = _spare(layout)
    _fill(slot, layout.master)
    fsync_directory(layout.writer_dir)
    clean(layout)
    os.link(slot, layout.staging)
    # A write-ahead log at the analysts' path can only come from a read-write open by
    # mistake; DuckDB would replay it over the new snapshot, so it goes first.
    wal(layout.public).unlink(missing_ok=True)
    layout.staging.replace(layout.public)
    fsync_directory(layout.public.parent)
    layout.unpublished.unlink(missing_ok=True)


def fsync_directory(path: Path) -> None:
    """Make the names in folder `path` durable (the seam tests watch to see it done)."""
    _fsync_file(path)


def _spare(layout: Layout) -> Path:
    """The snapshot file that is not at the analysts' path now."""
    try:
        shown = layout.public.stat().st_ino
    except FileNotFoundError:
        shown = None
    candidates = [slot for slot in layout.slots if not _is_inode(slot, shown)]
    existing = [slot for slot in candidates if slot.exists()]
    return (existing or candidates)[0]


def _is_inode(path: Path, inode: int | None) -> bool:
    try:
        return inode is not None and path.stat().st_ino == inode
    except FileNotFoundError:
        return False


FileId = tuple[int, int]
"""A file as the kernel knows it: (device, inode)."""

_held_here: Counter[FileId] = Counter()
_held_here_lock = threading.Lock()


def reading_here(file: FileId) -> None:
    """Record that a read in this process uses the snapshot file `file` (until `read_here`).

    A writer in the same process then leaves that file alone (a fresh copy takes its place),
    as it does for a file another process holds. A reader records its read before it checks
    that `file` is still the one published, so a writer that published since sees the record.
    """
    with _held_here_lock:
        _held_here[file] += 1


def read_here(file: FileId) -> None:
    """Record that a read recorded by `reading_here` has ended."""
    with _held_here_lock:
        _held_here[file] -= 1
        if not _held_here[file]:
            del _held_here[file]


def file_id(path: Path) -> FileId | None:
    """The file at `path` now (None if there is none): a rename over it changes the answer."""
    found = publication(path)
    return None if found is None else found[:2]


def publication(path: Path) -> tuple[int, int, int] | None:
    """The publication at `path` now: its file and when that file was last published.

    Every publication links the file to a new name (changing its status time), so this
    tells one publication from the next even when a spare brought up to date in place comes
    back to the path under the same inode.
    """
    try:
        found = path.stat()
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino, found.st_ctime_ns


def _is_held_here(path: Path) -> bool:
    found = file_id(path)
    with _held_here_lock:
        return found is not None and found in _held_here


def _fill(slot: Path, master: Path) -> None:
    """Make `slot` a durable byte-for-byte copy of `master`, rewriting only what differs.

    Held under an exclusive lock, so no DuckDB process can open it half-written. If a reader
    still holds it (an old snapshot someone has open), it is replaced by a fresh file and the
    reader keeps the old one.
    """
    if _is_held_here(slot):
        # Not opened at all: closing any descriptor of the file would drop this process's
        # DuckDB lock on it, and other writers would then rewrite it under the reader.
        slot.unlink()
    fd = os.open(slot, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            slot.unlink()
            fd = os.open(slot, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        source = os.open(master, os.O_RDONLY)
        try:
            if os.fstat(fd).st_size:
                _copy_differences(source, fd)
            else:
                _copy_whole(source, fd)
            os.ftruncate(fd, os.fstat(source).st_size)
        finally:
            os.close(source)
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_whole(source: int, target: int) -> None:
    """Copy all of `source` into an empty `target`, in the kernel where it can (Linux)."""
    if not hasattr(os, "copy_file_range"):
        _copy_differences(source, target)
        return
    offset, size = 0, os.fstat(source).st_size
    while offset < size:
        copied = os.copy_file_range(source, target, size - offset, offset, offset)
        if not copied:
            break
        offset += copied


def _copy_differences(source: int, target: int) -> None:
    """Write into `target` every chunk of `source` that it does not already hold."""
    size, held_size = os.fstat(source).st_size, os.fstat(target).st_size

    def catch_up(start: int) -> None:
        wanted = _mapped(source, start, min(_WINDOW, size - start))
        held = _mapped(target, start, min(_WINDOW, held_size - start))
        for offset in range(0, len(wanted), CHUNK):
            chunk = wanted[offset : offset + CHUNK]
            if not _same(chunk, held[offset : offset + CHUNK]):
                os.pwrite(target, chunk.tobytes(), start + offset)

    # NumPy compares without the GIL, so two threads compare on both cores.
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(catch_up, range(0, size, _WINDOW)))


_WINDOW: Final = 8 * CHUNK
"""Bytes of each file mapped at a time: mapped pages count in the process's memory."""


def _mapped(fd: int, start: int, length: int) -> npt.NDArray[np.uint8]:
    """Bytes `start` to `start + length` of file `fd`, mapped read-only (no copy).

    The mapping is released with the last array viewing it.
    """
    if length <= 0:
        return np.empty(0, dtype=np.uint8)
    # Pages are mapped as the comparison reaches them, not all up front (MAP_POPULATE): on the
    # 10M-line file that took 0.22-0.24 s against 0.17-0.20 s, and longer when not cached.
    mapped = mmap.mmap(fd, length, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ, offset=start)
    return np.frombuffer(mapped, dtype=np.uint8)


def _same(wanted: npt.NDArray[np.uint8], held: npt.NDArray[np.uint8]) -> bool:
    """Whether two byte ranges are equal (compared as 8-byte words when they can be)."""
    if len(wanted) != len(held):
        return False
    if len(wanted) % 8 == 0:
        return bool(np.array_equal(wanted.view(np.uint64), held.view(np.uint64)))
    return bool(np.array_equal(wanted, held))


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
