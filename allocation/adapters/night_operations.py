"""The warehouse's operations for a night's plan: its shards, its staged pick list, its ledger.

Part of the `Warehouse` interface (its base), kept here so the interface stays readable: the
night's allocation stage is the one service that uses them.
"""

from __future__ import annotations

import abc

import polars as pl

from allocation.domain.status import AllocationStatus


class NightOperations(abc.ABC):
    """A night's shards (SKUs split by `sharding.shard_of`), its pick list, its reservations."""

    @abc.abstractmethod
    def holds_allocations(self, status: AllocationStatus) -> bool:
        """Whether any allocation of the status is held (looked up, not read)."""

    @abc.abstractmethod
    def ledger_reservations_as_planned(self, run_id: str) -> None:
        """Put the run's reservations in the ledger: its inbound `run_allocations`, as reserved.

        Each becomes a reserve event (reason `status.RESERVE_REASON`). For a night that held
        no reservation when it planned: every reservation it made is new, and is one of its
        allocations, so the ledger shows them rather than holding them twice (6M rows on a
        10M-line first night).
        """

    @abc.abstractmethod
    def record_planned_reservations(
        self, reservations: pl.DataFrame, run_id: str, shard: int | None = None
    ) -> None:
        """Record a planning night's reservations (the shard's) as its inbound `run_allocations`.

        `reservations`: order_id, sku, batch_ref, qty, eta; every shard of the night is recorded,
        one call each. Unlike `append`, each replaces what the last planning night recorded for
        the same SKUs, so a store may write only the reservations that changed.
        """

    @abc.abstractmethod
    def open_line_count(self) -> int:
        """How many order lines are open (counted, not read)."""

    @abc.abstractmethod
    def shard_night(self, shards: int) -> None:
        """Place every SKU of the night (batches, open lines, allocations) in its shard.

        The `shard_*` operations below read and write one shard of that placement; it holds
        until the unit of work ends or the night is sharded again.
        """

    @abc.abstractmethod
    def shard_batches(self, shard: int) -> pl.DataFrame:
        """The shard's batches: reference, sku, purchased_quantity, eta."""

    @abc.abstractmethod
    def shard_open_lines(self, shard: int) -> pl.DataFrame:
        """The shard's open lines: order_id, sku, qty, priority, ordered_at, arrival."""

    @abc.abstractmethod
    def shard_allocations(self, status: AllocationStatus, shard: int) -> pl.DataFrame:
        """The shard's allocations of one status: order_id, sku, batch_ref, qty."""

    @abc.abstractmethod
    def stage_picks(self, picks: pl.DataFrame) -> None:
        """Hold picks (order_id, sku, batch_ref, qty) for the night's pick list, unnumbered yet."""

    @abc.abstractmethod
    def append_staged_pick_list(self, pick_list_id: str, run_id: str) -> None:
        """Append the staged picks to `pick_list_lines`, numbered over them all, and unstage them.

        Line numbers run from 1 in `rules.PICK_LIST_ORDER`, as `plan.pick_list` numbers them.
        """
