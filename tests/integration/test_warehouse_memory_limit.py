"""A run's warehouse connection takes DuckDB's memory limit from the settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from allocation.adapters.warehouse import DuckDBWarehouse
from allocation.config import Settings


def _limit(warehouse: DuckDBWarehouse) -> str:
    return str(warehouse.query("SELECT current_setting('memory_limit') AS m")["m"][0])


def test_a_warehouse_opened_with_a_memory_limit_holds_duckdb_to_it(tmp_path: Path) -> None:
    with DuckDBWarehouse(tmp_path / "w.duckdb", memory_limit="300MB") as warehouse:
        limited = _limit(warehouse)
    with DuckDBWarehouse(tmp_path / "w.duckdb") as warehouse:
        default = _limit(warehouse)

    assert limited == "286.1 MiB"  # (DuckDB's own rendering of 300 MB)
    assert default != limited


def test_the_memory_limit_setting_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALLOCATION_DUCKDB_MEMORY_LIMIT", "4GB")

    assert Settings().duckdb_memory_limit == "4GB"
    assert Settings.model_construct().duckdb_memory_limit is None


@pytest.mark.parametrize("size", ["4GB", "4 GB", "500MiB", "1.5gb", "80%"])
def test_memory_limits_duckdb_reads_are_accepted_as_settings(size: str) -> None:
    assert Settings(duckdb_memory_limit=size).duckdb_memory_limit == size


def test_a_memory_limit_duckdb_cannot_read_is_refused_by_the_settings() -> None:
    with pytest.raises(ValidationError, match="duckdb_memory_limit"):
        Settings(duckdb_memory_limit="bogus")
