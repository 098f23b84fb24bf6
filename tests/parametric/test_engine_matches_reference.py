"""The bulk engine agrees with the reference row for row, and both keep the invariants.

Besides ordinary scenarios, two kinds reach the engine's rarer paths, and each test checks
that its examples really take them: SKUs with more batches than `first_fit.SCAN_LIMIT` (the
whole policy's max-segment-tree), and order times, priorities and arrivals spread so far that
the packed demand key needs Int128 (or more, when the engine falls back to the full sort).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

import polars as pl
import pytest
from frames import (
    allocations_frame,
    batches_frame,
    lines_frame,
    result_from_frames,
    shortages_frame,
)
from hypothesis import event, given, settings
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
from allocation.domain.rules import DEMAND_ORDER
from allocation.engine import allocate_frames
from allocation.engine.first_fit import SCAN_LIMIT
from allocation.engine.packed_key import packed_key

BATCH_SKUS = ["A", "B", "C"]
LINE_SKUS = [*BATCH_SKUS, "NO-BATCHES"]
ETAS = [date(2025, 3, 3), date(2025, 3, 4), date(2025, 3, 10)]
ORDER_TIMES = [datetime(2025, 3, 1, 9, tzinfo=UTC), datetime(2025, 3, 1, 9, 30, tzinfo=UTC)]
EARLIEST = datetime(1, 1, 2, 0, 0, 0, 1, tzinfo=UTC)  # microseconds: no coarser unit fits
LATEST = datetime(9999, 12, 30, 23, 59, 59, 999_999, tzinfo=UTC)
FAR_ARRIVAL = 2**40
HIGH_PRIORITY = 2**40
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
    references_drawn = draw(st.lists(references, max_size=10, unique=True))
    return Scenario(lines, draw_batches(draw, lines, references_drawn, st.integers(0, 15)))


@st.composite
def crowded_scenarios(draw: st.DrawFn) -> Scenario:
    """Lines competing for a SKU with more batches than the engine scans, all with stock."""
    lines = draw(st.lists(order_lines, min_size=1, max_size=30, unique_by=lambda line: line.key))
    crowd = draw(
        st.lists(references, min_size=SCAN_LIMIT + 1, max_size=2 * SCAN_LIMIT + 5, unique=True)
    )
    crowded = [
        BatchSpec(
            reference, "A", draw(st.integers(1, 15)), draw(st.none() | st.sampled_from(ETAS)), {}
        )
        for reference in crowd
    ]
    others = draw(st.lists(references.map(lambda r: r + "~"), max_size=6, unique=True))
    return Scenario(lines, crowded + draw_batches(draw, lines, others, st.integers(0, 15)))


@st.composite
def wide_key_scenarios(draw: st.DrawFn) -> Scenario:
    """Lines whose priorities, order times and arrivals span so far that Int64 cannot pack them.

    The first two lines pin the extremes (microsecond times nine millennia apart, arrivals
    2**40 apart, and with `HIGH_PRIORITY` priorities too), the others fall anywhere between.
    """
    high = draw(st.sampled_from([2, HIGH_PRIORITY]))
    wide_lines = st.builds(
        OrderLine,
        order_id=order_ids,
        sku=st.sampled_from(LINE_SKUS),
        qty=st.integers(1, 12),
        priority=st.integers(0, high),
        ordered_at=st.none()
        | st.sampled_from([EARLIEST, LATEST])
        | st.datetimes(
            EARLIEST.replace(tzinfo=None), LATEST.replace(tzinfo=None), timezones=st.just(UTC)
        ),
        arrival=st.integers(0, FAR_ARRIVAL),
    )
    lines = draw(st.lists(wide_lines, min_size=2, max_size=12, unique_by=lambda line: line.key))
    lines[0] = replace(lines[0], priority=0, ordered_at=EARLIEST, arrival=0)
    lines[1] = replace(lines[1], priority=high, ordered_at=LATEST, arrival=FAR_ARRIVAL)
    references_drawn = draw(st.lists(references, max_size=10, unique=True))
    return Scenario(lines, draw_batches(draw, lines, references_drawn, st.integers(0, 15)))


def draw_batches(
    draw: st.DrawFn, lines: list[OrderLine], names: list[str], purchased: st.SearchStrategy[int]
) -> list[BatchSpec]:
    """Batches of the SKUs in `BATCH_SKUS`, some of whose stock these or other lines hold."""
    unheld = {line.key: line.qty for line in lines}  # so no line starts holding more than its qty
    batches = []
    for reference in names:
        sku = draw(st.sampled_from(BATCH_SKUS))
        bought = draw(purchased)
        eta = draw(st.none() | st.sampled_from(ETAS))
        holders = [key for key in unheld if key.sku == sku]
        holders += [LineKey(order_id, sku) for order_id in OTHER_LINES]
        allocations: dict[LineKey, int] = {}
        room = bought
        for key in draw(st.lists(st.sampled_from(holders), max_size=3, unique=True)):
            most = min(room, unheld.get(key, room))
            if most > 0:
                allocations[key] = draw(st.integers(1, most))
                room -= allocations[key]
                if key in unheld:
                    unheld[key] -= allocations[key]
        batches.append(BatchSpec(reference, sku, bought, eta, allocations))
    return batches


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


@pytest.mark.parametrize("policy", list(Policy))
@settings(max_examples=150, deadline=None)
@given(scenario=crowded_scenarios())
def test_engine_matches_reference_when_a_sku_has_more_batches_than_the_engine_scans(
    policy: Policy, scenario: Scenario
) -> None:
    with_stock = Counter(
        b.sku for b in scenario.batches if b.purchased > sum(b.allocations.values())
    )
    assert with_stock["A"] > SCAN_LIMIT  # the whole policy keeps a max-segment-tree for this SKU
    check_engine_matches_reference(scenario, policy)


@pytest.mark.parametrize("policy", list(Policy))
@settings(max_examples=150, deadline=None)
@given(scenario=wide_key_scenarios())
def test_engine_matches_reference_when_the_demand_key_needs_more_than_int64(
    policy: Policy, scenario: Scenario
) -> None:
    key = packed_key(lines_frame(scenario.lines, []), DEMAND_ORDER)
    assert key is None or key.dtype == pl.Int128  # None: past Int128, the full sort decides
    event("packed demand key: " + ("none (full sort)" if key is None else str(key.dtype)))
    check_engine_matches_reference(scenario, policy)
