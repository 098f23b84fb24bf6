"""The allocation policy: which batch serves a line, how much, and which line goes first.

Tests taking the `allocate` fixture run twice: on the reference (`allocate_lines`) and on the
bulk engine (`allocate_frames`, through the frame conversions in `tests/frames.py`).
"""

from __future__ import annotations

from datetime import date, datetime
from itertools import permutations

import pytest
from builders import LATER, TODAY, TOMORROW, ordered_at
from frames import Allocate

from allocation.domain import (
    Allocation,
    AllocationError,
    Batch,
    LineKey,
    OrderLine,
    OutOfStock,
    Policy,
    Shortage,
    UnknownSku,
    allocate_line,
    allocate_lines,
)

# Batch preference


@pytest.mark.parametrize("policy", list(Policy))
def test_prefers_current_stock_batches_to_shipments(allocate: Allocate, policy: Policy) -> None:
    in_stock = Batch("z-in-stock", "RETRO-CLOCK", 100)
    shipment = Batch("a-shipment", "RETRO-CLOCK", 100, eta=TODAY)
    line = OrderLine("oref", "RETRO-CLOCK", 10)
    result = allocate([line], [shipment, in_stock], policy)
    assert result.allocations == [Allocation("oref", "RETRO-CLOCK", "z-in-stock", 10)]
    assert result.shortages == []


@pytest.mark.parametrize("policy", list(Policy))
def test_prefers_earlier_batches(allocate: Allocate, policy: Policy) -> None:
    slow = Batch("a-slow", "MINIMALIST-SPOON", 100, eta=LATER)
    medium = Batch("b-normal", "MINIMALIST-SPOON", 100, eta=TOMORROW)
    earliest = Batch("c-speedy", "MINIMALIST-SPOON", 100, eta=TODAY)
    line = OrderLine("order1", "MINIMALIST-SPOON", 10)
    result = allocate([line], [slow, medium, earliest], policy)
    assert result.allocations == [Allocation("order1", "MINIMALIST-SPOON", "c-speedy", 10)]


@pytest.mark.parametrize("eta", [None, TOMORROW])
def test_batches_with_the_same_eta_go_in_reference_order(
    allocate: Allocate, eta: date | None
) -> None:
    batches = [Batch(ref, "LAMP", 10, eta=eta) for ref in ("b-2", "b-10")]
    result = allocate([OrderLine("o1", "LAMP", 12)], batches, Policy.SPLIT)
    assert result.allocations == [
        Allocation("o1", "LAMP", "b-10", 10),
        Allocation("o1", "LAMP", "b-2", 2),
    ]


def _competing_batches() -> list[Batch]:
    return [
        Batch("stock", "LAMP", 3),
        Batch("ship-a", "LAMP", 4, eta=TOMORROW),
        Batch("ship-b", "LAMP", 4, eta=TOMORROW),
    ]


def _competing_lines() -> list[OrderLine]:
    return [
        OrderLine("rush", "LAMP", 5, priority=1),
        OrderLine("dated", "LAMP", 4, ordered_at=ordered_at(1)),
        OrderLine("undated", "LAMP", 4),
    ]


EXPECTED_FOR_COMPETING = {
    Policy.SPLIT: (
        [
            Allocation("rush", "LAMP", "stock", 3),
            Allocation("rush", "LAMP", "ship-a", 2),
            Allocation("dated", "LAMP", "ship-a", 2),
            Allocation("dated", "LAMP", "ship-b", 2),
            Allocation("undated", "LAMP", "ship-b", 2),
        ],
        [Shortage("undated", "LAMP", 4, 2, 2)],
    ),
    Policy.WHOLE: (
        [Allocation("dated", "LAMP", "ship-a", 4), Allocation("undated", "LAMP", "ship-b", 4)],
        [Shortage("rush", "LAMP", 5, 0, 5)],
    ),
}


@pytest.mark.parametrize("policy", list(Policy))
def test_the_result_does_not_depend_on_the_input_order(allocate: Allocate, policy: Policy) -> None:
    expected_allocations, expected_shortages = EXPECTED_FOR_COMPETING[policy]
    for batch_order in permutations(range(3)):
        for line_order in permutations(range(3)):
            batches, lines = _competing_batches(), _competing_lines()
            result = allocate(
                [lines[i] for i in line_order], [batches[i] for i in batch_order], policy
            )
            assert result.allocations == expected_allocations
            assert result.shortages == expected_shortages


# Running out


def test_a_batch_used_up_exactly_leaves_later_lines_short(allocate: Allocate) -> None:
    batch = Batch("batch1", "SMALL-FORK", 10)
    first = OrderLine("order1", "SMALL-FORK", 10, arrival=0)
    second = OrderLine("order2", "SMALL-FORK", 1, arrival=1)
    result = allocate([second, first], [batch], Policy.SPLIT)
    assert result.allocations == [Allocation("order1", "SMALL-FORK", "batch1", 10)]
    assert result.shortages == [Shortage("order2", "SMALL-FORK", 1, 0, 1)]


def test_raises_out_of_stock_once_a_batch_is_used_up_exactly() -> None:
    batch = Batch("batch1", "SMALL-FORK", 10)
    allocations, shortage = allocate_line(OrderLine("order1", "SMALL-FORK", 10), [batch])
    assert allocations == [Allocation("order1", "SMALL-FORK", "batch1", 10)]
    assert shortage is None
    with pytest.raises(OutOfStock, match="SMALL-FORK"):
        allocate_line(OrderLine("order2", "SMALL-FORK", 1), [batch])


def test_out_of_stock_message_names_the_sku() -> None:
    with pytest.raises(OutOfStock, match="RED-SOFA") as error:
        allocate_line(OrderLine("order1", "RED-SOFA", 1), [Batch("batch1", "RED-SOFA", 0)])
    assert error.value.sku == "RED-SOFA"


def test_unknown_sku_is_distinct_from_out_of_stock() -> None:
    batches = [Batch("batch1", "RED-SOFA", 10)]
    with pytest.raises(UnknownSku, match="BLUE-SOFA"):
        allocate_line(OrderLine("order1", "BLUE-SOFA", 1), batches)
    assert not issubclass(UnknownSku, OutOfStock)
    assert not issubclass(OutOfStock, UnknownSku)


def test_whole_raises_out_of_stock_when_no_single_batch_fits() -> None:
    batches = [Batch("stock", "RED-SOFA", 3), Batch("ship", "RED-SOFA", 4, eta=TOMORROW)]
    with pytest.raises(OutOfStock, match="RED-SOFA"):
        allocate_line(OrderLine("order1", "RED-SOFA", 5), batches, Policy.WHOLE)
    assert [b.available_quantity for b in batches] == [3, 4]


def test_lines_of_a_sku_without_batches_are_short_not_errors(allocate: Allocate) -> None:
    batches = [Batch("batch1", "LAMP", 10)]
    result = allocate([OrderLine("order1", "SOFA", 2)], batches, Policy.SPLIT)
    assert result.allocations == []
    assert result.shortages == [Shortage("order1", "SOFA", 2, 0, 2)]


@pytest.mark.parametrize("policy", list(Policy))
def test_a_batch_never_allocates_more_than_it_has(allocate: Allocate, policy: Policy) -> None:
    batch = Batch("batch1", "LAMP", 7)
    lines = [OrderLine(f"order{i}", "LAMP", 3, arrival=i) for i in range(3)]
    result = allocate(lines, [batch], policy)
    given = sum(a.qty for a in result.allocations)
    assert given == (7 if policy is Policy.SPLIT else 6)


# Split and whole


def test_split_fills_from_batches_in_preference_order(allocate: Allocate) -> None:
    batches = [
        Batch("later", "LAMP", 10, eta=LATER),
        Batch("stock", "LAMP", 3),
        Batch("tomorrow", "LAMP", 4, eta=TOMORROW),
    ]
    result = allocate([OrderLine("order1", "LAMP", 12)], batches, Policy.SPLIT)
    assert result.allocations == [
        Allocation("order1", "LAMP", "stock", 3),
        Allocation("order1", "LAMP", "tomorrow", 4),
        Allocation("order1", "LAMP", "later", 5),
    ]
    assert result.shortages == []


def test_split_partial_fill_leaves_the_right_shortage(allocate: Allocate) -> None:
    batches = [Batch("stock", "LAMP", 3), Batch("tomorrow", "LAMP", 4, eta=TOMORROW)]
    result = allocate([OrderLine("order1", "LAMP", 10)], batches, Policy.SPLIT)
    assert result.allocations == [
        Allocation("order1", "LAMP", "stock", 3),
        Allocation("order1", "LAMP", "tomorrow", 4),
    ]
    assert result.shortages == [Shortage("order1", "LAMP", 10, 7, 3)]


def test_whole_skips_a_batch_too_small_and_takes_the_next_one_that_fits(
    allocate: Allocate,
) -> None:
    batches = [
        Batch("stock", "LAMP", 3),
        Batch("tomorrow", "LAMP", 10, eta=TOMORROW),
        Batch("later", "LAMP", 5, eta=LATER),
    ]
    result = allocate([OrderLine("order1", "LAMP", 5)], batches, Policy.WHOLE)
    assert result.allocations == [Allocation("order1", "LAMP", "tomorrow", 5)]
    assert result.shortages == []


def test_whole_gives_nothing_when_no_single_batch_fits_even_if_the_total_would(
    allocate: Allocate,
) -> None:
    batches = [Batch("stock", "LAMP", 3), Batch("tomorrow", "LAMP", 4, eta=TOMORROW)]
    result = allocate([OrderLine("order1", "LAMP", 5)], batches, Policy.WHOLE)
    assert result.allocations == []
    assert result.shortages == [Shortage("order1", "LAMP", 5, 0, 5)]


# Demand order


def test_higher_priority_lines_are_served_first(allocate: Allocate) -> None:
    early_low = OrderLine("low", "LAMP", 5, priority=0, ordered_at=ordered_at(1), arrival=0)
    late_high = OrderLine("high", "LAMP", 5, priority=2, ordered_at=ordered_at(2), arrival=1)
    result = allocate([early_low, late_high], [Batch("batch1", "LAMP", 5)], Policy.SPLIT)
    assert result.allocations == [Allocation("high", "LAMP", "batch1", 5)]
    assert result.shortages == [Shortage("low", "LAMP", 5, 0, 5)]


def test_earlier_orders_are_served_first_and_undated_orders_last(allocate: Allocate) -> None:
    lines = [
        OrderLine("undated", "LAMP", 3, arrival=0),
        OrderLine("day2", "LAMP", 3, ordered_at=ordered_at(2), arrival=1),
        OrderLine("day1", "LAMP", 3, ordered_at=ordered_at(1), arrival=2),
    ]
    result = allocate(lines, [Batch("batch1", "LAMP", 6)], Policy.SPLIT)
    assert result.allocations == [
        Allocation("day1", "LAMP", "batch1", 3),
        Allocation("day2", "LAMP", "batch1", 3),
    ]
    assert result.shortages == [Shortage("undated", "LAMP", 3, 0, 3)]


@pytest.mark.parametrize("when", [ordered_at(1, hour=9), None])
def test_arrival_breaks_ties_between_lines_ordered_at_the_same_time(
    allocate: Allocate, when: datetime | None
) -> None:
    second = OrderLine("a-second", "LAMP", 4, ordered_at=when, arrival=2)
    first = OrderLine("b-first", "LAMP", 4, ordered_at=when, arrival=1)
    result = allocate([second, first], [Batch("batch1", "LAMP", 5)], Policy.SPLIT)
    assert result.allocations == [
        Allocation("b-first", "LAMP", "batch1", 4),
        Allocation("a-second", "LAMP", "batch1", 1),
    ]
    assert result.shortages == [Shortage("a-second", "LAMP", 4, 1, 3)]


def test_the_line_key_breaks_ties_between_otherwise_equal_lines(allocate: Allocate) -> None:
    lines = [OrderLine("order-b", "LAMP", 4), OrderLine("order-a", "LAMP", 4)]
    result = allocate(lines, [Batch("batch1", "LAMP", 4)], Policy.SPLIT)
    assert result.allocations == [Allocation("order-a", "LAMP", "batch1", 4)]
    assert result.shortages == [Shortage("order-b", "LAMP", 4, 0, 4)]


# Prior allocations


def test_a_line_already_partly_allocated_only_asks_for_its_remainder(allocate: Allocate) -> None:
    batch = Batch("stock", "LAMP", 10, allocations={LineKey("order1", "LAMP"): 4})
    result = allocate([OrderLine("order1", "LAMP", 6)], [batch], Policy.SPLIT)
    assert result.allocations == [Allocation("order1", "LAMP", "stock", 2)]
    assert result.shortages == []


def test_a_partly_allocated_line_left_short_counts_what_it_already_holds(
    allocate: Allocate,
) -> None:
    batches = [
        Batch("ship", "LAMP", 4, eta=TOMORROW, allocations={LineKey("order1", "LAMP"): 4}),
        Batch("stock", "LAMP", 1),
    ]
    result = allocate([OrderLine("order1", "LAMP", 10)], batches, Policy.SPLIT)
    assert result.allocations == [Allocation("order1", "LAMP", "stock", 1)]
    assert result.shortages == [Shortage("order1", "LAMP", 10, 5, 5)]


def test_whole_places_only_the_remainder_of_a_partly_allocated_line(allocate: Allocate) -> None:
    batches = [
        Batch("stock", "LAMP", 3, allocations={LineKey("order1", "LAMP"): 2}),
        Batch("tomorrow", "LAMP", 3, eta=TOMORROW),
    ]
    result = allocate([OrderLine("order1", "LAMP", 5)], batches, Policy.WHOLE)
    assert result.allocations == [Allocation("order1", "LAMP", "tomorrow", 3)]
    assert result.shortages == []


@pytest.mark.parametrize("policy", list(Policy))
def test_a_line_already_fully_allocated_asks_for_nothing(
    allocate: Allocate, policy: Policy
) -> None:
    batch = Batch("stock", "LAMP", 10, allocations={LineKey("order1", "LAMP"): 3})
    result = allocate([OrderLine("order1", "LAMP", 3)], [batch], policy)
    assert result.allocations == []
    assert result.shortages == []


def test_stock_held_by_other_lines_is_not_taken(allocate: Allocate) -> None:
    batches = [
        Batch("stock", "LAMP", 5, allocations={LineKey("someone-else", "LAMP"): 4}),
        Batch("tomorrow", "LAMP", 10, eta=TOMORROW),
    ]
    result = allocate([OrderLine("order1", "LAMP", 3)], batches, Policy.SPLIT)
    assert result.allocations == [
        Allocation("order1", "LAMP", "stock", 1),
        Allocation("order1", "LAMP", "tomorrow", 2),
    ]


def test_skus_do_not_share_stock(allocate: Allocate) -> None:
    batches = [Batch("lamps", "LAMP", 5), Batch("sofas", "SOFA", 1)]
    lines = [OrderLine("order1", "SOFA", 3, arrival=0), OrderLine("order2", "LAMP", 2, arrival=1)]
    result = allocate(lines, batches, Policy.SPLIT)
    assert result.allocations == [
        Allocation("order1", "SOFA", "sofas", 1),
        Allocation("order2", "LAMP", "lamps", 2),
    ]
    assert result.shortages == [Shortage("order1", "SOFA", 3, 1, 2)]


# The reference's own bookkeeping


def test_allocating_lines_records_the_allocations_on_the_batches() -> None:
    stock, shipment = Batch("stock", "LAMP", 3), Batch("ship", "LAMP", 10, eta=TOMORROW)
    line = OrderLine("order1", "LAMP", 5)
    allocate_lines([line], [stock, shipment], Policy.SPLIT)
    assert (stock.quantity_for(line), shipment.quantity_for(line)) == (3, 2)
    assert (stock.available_quantity, shipment.available_quantity) == (0, 8)


def test_the_same_line_twice_in_one_pass_is_refused() -> None:
    line = OrderLine("order1", "LAMP", 1)
    with pytest.raises(AllocationError):
        allocate_lines([line, OrderLine("order1", "LAMP", 2)], [Batch("stock", "LAMP", 10)])
