"""The server keeps the published snapshot open for reads, and never holds a stale one long.

A real `allocation serve` on a real warehouse; other processes commit beside it.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from http_server import WRITE, serving, unique

from allocation.adapters import snapshot

ONE_COMMIT = """
import sys
from allocation.adapters.warehouse import DuckDBWarehouse
with DuckDBWarehouse(sys.argv[1]) as warehouse:
    warehouse.commit()
"""


def commit_in_another_process(db: Path) -> None:
    """One commit (one snapshot published) by another process, as a night or command makes."""
    subprocess.run([sys.executable, "-c", ONE_COMMIT, str(db)], check=True)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("http-snapshots")


@pytest.fixture(scope="module")
def client(root: Path) -> Iterator[httpx.Client]:
    with serving(root) as served:
        added = served.post(
            "/batch", json={"reference": "b-1", "sku": "S", "purchased_quantity": 1}, headers=WRITE
        )
        assert added.status_code == 201
        yield served


def test_each_read_sees_the_writes_answered_before_it(client: httpx.Client) -> None:
    sku = unique("SKU")
    for n in range(3):
        reference = unique("b")
        added = client.post(
            "/batch",
            json={"reference": reference, "sku": sku, "purchased_quantity": n + 1},
            headers=WRITE,
        )
        assert added.status_code == 201
        assert len(client.get("/batch", params={"sku": sku}).json()) == n + 1
        order = unique("o")
        allocated = client.post(
            "/allocations", json={"order_id": order, "sku": sku, "qty": 1}, headers=WRITE
        )
        assert allocated.status_code == 201
        assert client.get("/allocations", params={"order_id": order}).json()
        assert client.delete(f"/allocations/{order}", headers=WRITE).status_code == 204
        assert client.get("/allocations", params={"order_id": order}).json() == []


def test_an_idle_server_lets_go_of_the_snapshot_another_process_replaced(
    client: httpx.Client, root: Path
) -> None:
    db = root / "w.duckdb"
    assert client.get("/batch").status_code == 200  # the server opens the snapshot
    first = snapshot.file_id(db)
    commit_in_another_process(db)  # the file the server holds is now the writers' spare
    time.sleep(1)
    commit_in_another_process(db)
    assert snapshot.file_id(db) == first  # brought up to date in place: nobody held it


def test_reads_while_other_processes_commit_all_succeed_and_a_later_write_is_seen(
    client: httpx.Client, root: Path
) -> None:
    db = root / "w.duckdb"
    statuses: list[int] = []
    stop = threading.Event()

    def read_in_a_loop() -> None:
        while not stop.is_set():
            statuses.append(client.get("/batch/b-1").status_code)

    readers = [threading.Thread(target=read_in_a_loop) for _ in range(3)]
    for reader in readers:
        reader.start()
    try:
        for _ in range(4):
            commit_in_another_process(db)
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    runs_before = len(client.get("/runs").json())
    batch = client.post(
        "/batch",
        json={"reference": unique("b"), "sku": "S", "purchased_quantity": 1},
        headers=WRITE,
    )
    assert batch.status_code == 201
    assert len(client.get("/runs").json()) == runs_before + 1

    assert statuses and set(statuses) == {200}


def test_a_read_before_any_warehouse_exists_is_a_404(tmp_path: Path) -> None:
    with serving(tmp_path) as empty:
        answer = empty.get("/batch")

    assert answer.status_code == 404
    assert "no warehouse" in answer.json()["detail"]
