"""The bulk engine agrees with the reference row for row, and both keep the invariants."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from frames import (
    allocations_frame,
    batches_frame,
    lines_frame,
    result_from_frames,
    shortages_frame,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from allocation.domain import (
    AllocationResult,
    Batch,
    LineKey,
    OrderLine,
    Policy,
    allocate_lines,
)
from allocation.engine import allocate_frames

BATCH_SKUS = ["A", "B", "C"]
LINE_SKUS = [*BATCH_SKUS, "NO-BATCHES"]
ETAS = [date(2025, 3, 3), date(2025, 3, 4), date(2025, 3, 10)]
ORDER_TIMES = [datetime(2025, 3, 1, 9, tzinfo=UTC), datetime(2025, 3, 1, 9, 30, tzinfo=UTC)]
OTHER_LINES = ["other-1", "other-2"]  # order ids that hold stock but are not in the pass

# Few characters, so names collide often and sort across case, digits and non-ASCII.
references = st.text(alphabet="abAZ09-é", min_size=1, max_size=3)
order_ids = st.text(alphabet="opO1é", min_size=1, max_size=2)

order_lines = st.builds(
    OrderLine,
    order_id=order_ids,
    sku=st.sampled_from(LINE_SKUS),
    qty=st.integers(1, 12),
    priority=st.integers(0, 2),
    ordered_at=st.none()
    | st.sampled_from(ORDER_TIMES)
    | st.datetimes(datetime(2024, 1, 1), datetime(2026, 1, 1), timezones=st.just(UTC)),
    arrival=st.integers(0, 3),
)


@dataclass(frozen=True)
class BatchSpec:
    """A batch as drawn, kept apart from the `Batch` the reference will mutate (clear reports)."""

    reference: str
    sku: str
    purchased: int
    eta: date | None
    allocations: dict[LineKey, int]

    def build(self) -> Batch:
        """A fresh batch with these prior allocations."""
        return Batch(self.reference, self.sku, self.purchased, self.eta, self.allocations)


@dataclass(frozen=True)
class Scenario:
    """Lines for one pass and the batches they compete for."""

    lines: list[OrderLine]
    batches: list[BatchSpec]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """Competing lines and batches, some of whose stock is already held by these or other lines."""
    lines = draw(st.lists(order_lines, max_size=12, unique_by=lambda line: line.key))
    unheld = {line.key: line.qty for line in lines}  # so no line starts holding more than its qty
    batches = []
    for reference in draw(st.lists(references, max_size=10, unique=True)):
        sku = draw(st.sampled_from(BATCH_SKUS))
        purchased = draw(st.integers(0, 15))
        eta = draw(st.none() | st.sampled_from(ETAS))
        holders = [key for key in unheld if key.sku == sku]
        holders += [LineKey(order_id, sku) for order_id in OTHER_LINES]
        allocations: dict[LineKey, int] = {}
        room = purchased
        for key in draw(st.lists(st.sampled_from(holders), max_size=3, unique=True)):
            most = min(room, unheld.get(key, room))
            if most > 0:
                allocations[key] = draw(st.integers(1, most))
                room -= allocations[key]
                if key in unheld:
                    unheld[key] -= allocations[key]
        batches.append(BatchSpec(reference, sku, purchased, eta, allocations))
    return Scenario(lines, batches)


def check_engine_matches_reference(scenario: Scenario, policy: Policy) -> None:
    """Run both on the same data; compare their frames, then check the invariants."""
    lines, batches = scenario.lines, [spec.build() for spec in scenario.batches]
    engine = allocate_frames(batches_frame(batches), lines_frame(lines, batches), policy)
    room = {b.reference: b.available_quantity for b in batches}
    sku_of = {b.reference: b.sku for b in batches}
    held = {
        line.key: sum(b.quantity_for(line) for b in batches if b.sku == line.sku) for line in lines
    }

    reference = allocate_lines(lines, batches, policy)

    assert_frame_equal(engine.allocations, allocations_frame(reference.allocations))
    assert_frame_equal(engine.shortages, shortages_frame(reference.shortages))
    check_invariants(lines, room, sku_of, held, result_from_frames(engine))


def check_invariants(
    lines: list[OrderLine],
    room: dict[str, int],
    sku_of: dict[str, str],
    held: dict[LineKey, int],
    result: AllocationResult,
) -> None:
    """No batch over-allocated, no line over-served, allocated + short == ordered, SKUs match."""
    taken: Counter[str] = Counter()
    got: Counter[LineKey] = Counter()
    for allocation in result.allocations:
        assert allocation.qty > 0
        assert sku_of[allocation.batch_ref] == allocation.sku
        taken[allocation.batch_ref] += allocation.qty
        got[LineKey(allocation.order_id, allocation.sku)] += allocation.qty
    assert all(taken[ref] <= room[ref] for ref in taken)

    shortages = {LineKey(s.order_id, s.sku): s for s in result.shortages}
    assert len(shortages) == len(result.shortages)
    assert set(got) <= set(held)
    assert set(shortages) <= set(held)
    for line in lines:
        allocated = held[line.key] + got[line.key]
        assert allocated <= line.qty
        shortage = shortages.get(line.key)
        if shortage is None:
            assert allocated == line.qty
        else:
            assert shortage.ordered_qty == line.qty
            assert shortage.allocated_qty == allocated
            assert shortage.short_qty > 0
            assert shortage.allocated_qty + shortage.short_qty == shortage.ordered_qty


@pytest.mark.parametrize("policy", list(Policy))
@settings(max_examples=300, deadline=None)
@given(scenario=scenarios())
def test_engine_matches_reference(policy: Policy, scenario: Scenario) -> None:
    check_engine_matches_reference(scenario, policy)


@pytest.mark.slow
@pytest.mark.parametrize("policy", list(Policy))
@settings(max_examples=3000, deadline=None)
@given(scenario=scenarios())
def test_engine_matches_reference_on_many_more_examples(policy: Policy, scenario: Scenario) -> None:
    check_engine_matches_reference(scenario, policy)
