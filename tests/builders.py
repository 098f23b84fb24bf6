"""Small builders for readable tests: fixed dates and order times, one-line batches and lines."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from allocation.domain import Batch, OrderLine

TODAY = date(2025, 3, 3)
TOMORROW = TODAY + timedelta(days=1)
LATER = TODAY + timedelta(days=10)


def ordered_at(day: int, hour: int = 0) -> datetime:
    """A tz-aware UTC order time on the given day of March 2025."""
    return datetime(2025, 3, day, hour, tzinfo=UTC)


def make_batch_and_line(sku: str, batch_qty: int, line_qty: int) -> tuple[Batch, OrderLine]:
    """An in-stock batch and one order line of the same SKU."""
    return Batch("batch-001", sku, batch_qty), OrderLine("order-123", sku, line_qty)
