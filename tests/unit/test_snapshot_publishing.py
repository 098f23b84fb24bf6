"""Publishing a snapshot: byte-for-byte copies, durable before the rename, the folder after it."""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys
from pathlib import Path

import pytest

from allocation.adapters import snapshot

HOLD_SHARED = """
import fcntl, hashlib, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # as DuckDB does for a read-only open
print("ready", flush=True)
sys.stdin.readline()
print(hashlib.sha256(os.pread(fd, 1 << 26, 0)).hexdigest(), flush=True)
"""


def layout_with_master(tmp_path: Path, content: bytes) -> snapshot.Layout:
    layout = snapshot.Layout(tmp_path / "w.duckdb")
    layout.writer_dir.mkdir()
    layout.master.write_bytes(content)
    return layout


def test_the_folder_is_synced_after_the_rename_and_nothing_is_left_staged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = layout_with_master(tmp_path, b"state 1" * 1000)
    synced: list[tuple[Path, bytes | None]] = []
    real = snapshot.fsync_directory

    def watched(path: Path) -> None:
        shown = layout.public.read_bytes() if layout.public.exists() else None
        synced.append((path, shown))
        real(path)

    monkeypatch.setattr(snapshot, "fsync_directory", watched)
    snapshot.publish(layout)

    assert synced[-1] == (tmp_path, b"state 1" * 1000)  # the last sync: the renamed-in state
    assert not layout.staging.exists()
    assert not snapshot.needs_publishing(layout)


@pytest.mark.parametrize("new_size", [3 * snapshot.CHUNK + 5, 5 * snapshot.CHUNK + 17, 100])
def test_a_spare_brought_up_to_date_by_its_differences_equals_the_master(
    tmp_path: Path, new_size: int
) -> None:
    first = bytes(range(256)) * (4 * snapshot.CHUNK // 256) + b"tail"
    layout = layout_with_master(tmp_path, first)
    snapshot.publish(layout)
    snapshot.publish(layout)  # both snapshot files now hold `first`
    changed = bytearray((first * 2)[:new_size])
    changed[new_size // 2] ^= 0xFF
    layout.master.write_bytes(changed)

    snapshot.publish(layout)  # rewrites the spare in place, only where it differs

    assert layout.public.read_bytes() == bytes(changed)
    assert layout.public.stat().st_ino in {slot.stat().st_ino for slot in layout.slots}


def test_a_snapshot_a_reader_holds_is_never_written_to(tmp_path: Path) -> None:
    layout = layout_with_master(tmp_path, b"old state" * 100_000)
    snapshot.publish(layout)
    reader = subprocess.Popen(
        [sys.executable, "-c", HOLD_SHARED, str(layout.public)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout is not None and reader.stdin is not None
        assert reader.stdout.readline().strip() == "ready"
        for state in (b"state 2", b"state 3", b"state 4"):  # the held file becomes the spare
            layout.master.write_bytes(state * 100_000)
            snapshot.publish(layout)
            assert layout.public.read_bytes() == state * 100_000
        reader.stdin.write("\n")
        reader.stdin.flush()
        held = reader.stdout.readline().strip()
    finally:
        reader.kill()
        reader.communicate()
    assert held == hashlib.sha256(b"old state" * 100_000).hexdigest()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_spare_catches_up_with_bytes_changed_at_random_in_random_chunks(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    first = rng.randbytes(40 * snapshot.CHUNK + rng.randrange(snapshot.CHUNK))
    layout = layout_with_master(tmp_path, first)
    snapshot.publish(layout)
    snapshot.publish(layout)  # both snapshot files now hold `first`
    changed = bytearray(first)
    for chunk in rng.sample(range(41), 5):
        for _ in range(rng.randrange(1, 4)):
            at = min(chunk * snapshot.CHUNK + rng.randrange(snapshot.CHUNK), len(changed) - 1)
            changed[at] ^= rng.randrange(1, 256)
    changed += rng.randbytes(rng.randrange(3 * snapshot.CHUNK))
    layout.master.write_bytes(changed)

    snapshot.publish(layout)  # the spare, rewritten where it differs and grown

    assert layout.public.read_bytes() == bytes(changed)
    assert all(slot.stat().st_size > 0 for slot in layout.slots)
