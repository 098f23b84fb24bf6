"""A night (`allocation run`, the real executable) runs while a client reads over HTTP."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import date
from pathlib import Path

import httpx
import polars as pl
import pytest
from executable import allocation_run
from http_server import WRITE, serving


def write_big_inbox(root: Path, lines: int, skus: int) -> None:
    """A night large enough to hold the warehouse for several seconds."""
    (root / "inbox" / "batches").mkdir(parents=True)
    (root / "inbox" / "order_lines").mkdir()
    pl.DataFrame({"n": range(skus * 4)}).select(
        reference=pl.format("b{}", "n"),
        sku=pl.format("S{}", pl.col("n") % skus),
        purchased_quantity=(pl.col("n") * 7919 % 40 + 1).cast(pl.Int64),
        eta=pl.when(pl.col("n") % 3 == 0)
        .then(None)
        .otherwise(pl.lit(date(2026, 12, 1)) + pl.duration(days=pl.col("n") % 60)),
    ).write_parquet(root / "inbox" / "batches" / "b.parquet")
    pl.DataFrame({"n": range(lines)}).select(
        order_id=pl.format("o{}", "n"),
        sku=pl.format("S{}", pl.col("n") * 31 % skus),
        qty=(pl.col("n") % 5 + 1).cast(pl.Int64),
    ).write_parquet(root / "inbox" / "order_lines" / "o.parquet")


@pytest.mark.slow  # a night of 200,000 lines, with Prefect's temporary server
def test_a_night_runs_while_a_client_reads_and_no_read_fails(tmp_path: Path) -> None:
    write_big_inbox(tmp_path, lines=200_000, skus=5_000)
    with serving(tmp_path) as client:
        batch = {"reference": "b-day", "sku": "S1", "purchased_quantity": 5}
        assert client.post("/batch", json=batch, headers=WRITE).status_code == 201
        stop = threading.Event()
        statuses: Counter[int | str] = Counter()

        def read_in_a_loop() -> None:
            while not stop.is_set():
                try:
                    statuses[client.get("/batch", params={"sku": "S1"}).status_code] += 1
                except httpx.HTTPError as error:
                    statuses[type(error).__name__] += 1

        reader = threading.Thread(target=read_in_a_loop)
        reader.start()
        try:
            night = allocation_run(tmp_path, "--busy-timeout", "60")
        finally:
            stop.set()
            reader.join()

    assert night.returncode == 0, night.stderr
    assert set(statuses) == {200}, statuses
    assert statuses[200] >= 10
