"""Settings of a run: CLI options, `ALLOCATION_*` environment variables, or these defaults.

The defaults are stated here only: the flow's parameters and the deployment read them.
"""

from __future__ import annotations

from datetime import date
from typing import Final

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from allocation.domain.policy import Policy

MEMORY_SIZE: Final = r"(?i)^\s*\d+(\.\d+)?\s*(%|b|bytes|[kmgt]i?b|[kmgt])\s*$"
"""A size DuckDB's `memory_limit` reads (`4GB`, `500 MiB`, `80%`); checked with the settings,
so a mistyped one is a settings error (exit 2), not DuckDB's traceback mid-run."""


class Settings(BaseSettings):
    """Where the inputs, outputs and warehouse live, and how to allocate.

    Locations are URLs: a local path (relative to the working directory) or
    `s3://bucket/prefix`, with the store configured by the standard `AWS_*` variables.
    """

    model_config = SettingsConfigDict(env_prefix="ALLOCATION_", extra="ignore")

    inbox: str = "data/inbox"
    outbox: str = "data/outbox"
    db: str = "data/warehouse.duckdb"
    policy: Policy = Policy.SPLIT
    run_date: date | None = None
    """The business date; None = today (UTC) when the run starts."""
    busy_timeout: float = 0.0
    """Seconds to wait for another process to release the warehouse before giving up."""
    http_busy_timeout: float = 3.0
    """`allocation serve`: seconds a request waits for a busy warehouse before its 503."""
    api_token: str | None = None
    """`allocation serve`: the bearer token writes need (and reads, if `api_token_for_reads`)."""
    api_token_for_reads: bool = False
    """`allocation serve`: require the token for reads too (reads are open otherwise)."""
    http_read_model_rows: int = Field(default=30_000_000, ge=0)
    """`allocation serve`: most rows (batches, allocations, lines) kept in memory for look-ups."""
    shards: int | None = None
    """How many SKU shards a night is planned in; None = chosen from the night's size."""
    dask_address: str | None = None
    """A Dask scheduler (`tcp://host:8786`) to plan the shards on; None = in this process."""
    dask_timeout: float = Field(default=30.0, gt=0)
    """Seconds to reach the Dask scheduler, and to wait for a worker while it has none."""
    duckdb_memory_limit: str | None = Field(default=None, pattern=MEMORY_SIZE)
    """DuckDB's `memory_limit` for a run's warehouse (`4GB`); None = DuckDB's (80% of RAM)."""


DEFAULTS: Final = Settings.model_construct()
"""The settings as stated above, whatever the environment says (nothing is read or validated)."""
