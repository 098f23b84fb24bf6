"""The pipeline benchmark's inbox generated file by file: reproducible, whole orders per file."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
import pipeline

SIZE = pipeline.Size(60_000, 6_000, 600, files=3, seed=7, batch_files=2, streamed=True)


def _read(files: list[Path]) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(path) for path in files])


def test_an_inbox_made_file_by_file_is_the_same_from_the_same_seed(tmp_path: Path) -> None:
    first = pipeline.write_inbox(SIZE, tmp_path / "a")
    again = pipeline.write_inbox(SIZE, tmp_path / "b")

    assert [len(first["order_lines"]), len(first["batches"])] == [3, 2]
    for kind in ("order_lines", "batches"):
        assert_frame_equal(_read(again[kind]), _read(first[kind]))


def test_an_inbox_made_file_by_file_has_the_sizes_asked_and_whole_orders_in_each_file(
    tmp_path: Path,
) -> None:
    files = pipeline.write_inbox(SIZE, tmp_path)
    lines, batches = _read(files["order_lines"]), _read(files["batches"])
    orders_per_file = [
        set(pl.read_parquet(path)["order_id"].drop_nulls()) for path in files["order_lines"]
    ]

    assert (lines.height, batches.height) == (SIZE.lines, SIZE.batches)
    assert batches["reference"].n_unique() == SIZE.batches
    assert batches["sku"].n_unique() == SIZE.skus
    assert not set.intersection(*orders_per_file)
    assert lines["ordered_at"].drop_nulls().is_sorted()
    assert 0 < lines["order_id"].null_count() + (lines["qty"] == 0).sum() < SIZE.lines * 0.01
