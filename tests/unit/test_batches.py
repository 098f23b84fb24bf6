"""A batch's own rules: how much it can give, to which lines, and what it refuses."""

from __future__ import annotations

import pytest
from builders import TOMORROW, make_batch_and_line

from allocation.domain import (
    Batch,
    InvalidQuantity,
    LineKey,
    OrderLine,
    OutOfStock,
    SkuMismatch,
)


def test_allocating_to_a_batch_reduces_the_available_quantity() -> None:
    batch, line = make_batch_and_line("SMALL-TABLE", 20, 2)
    batch.allocate(line)
    assert batch.available_quantity == 18
    assert batch.quantity_for(line) == 2


def test_can_allocate_if_available_greater_than_required() -> None:
    batch, line = make_batch_and_line("ELEGANT-LAMP", 20, 2)
    assert batch.can_allocate(line)


def test_can_allocate_if_available_equal_to_required() -> None:
    batch, line = make_batch_and_line("ELEGANT-LAMP", 2, 2)
    assert batch.can_allocate(line)
    batch.allocate(line)
    assert batch.available_quantity == 0


def test_cannot_allocate_if_available_smaller_than_required() -> None:
    batch, line = make_batch_and_line("ELEGANT-LAMP", 2, 20)
    assert not batch.can_allocate(line)


def test_cannot_allocate_if_skus_do_not_match() -> None:
    batch = Batch("batch-001", "UNCOMFORTABLE-CHAIR", 100)
    line = OrderLine("order-123", "EXPENSIVE-TOASTER", 10)
    assert not batch.can_allocate(line)
    with pytest.raises(SkuMismatch):
        batch.allocate(line)
    with pytest.raises(SkuMismatch):
        batch.allocate_part(line, 1)
    assert batch.available_quantity == 100


def test_allocating_the_same_line_twice_counts_once() -> None:
    batch, line = make_batch_and_line("ANGULAR-DESK", 20, 2)
    batch.allocate(line)
    batch.allocate(line)
    assert batch.available_quantity == 18


def test_an_equal_line_is_the_same_line() -> None:
    batch, line = make_batch_and_line("ANGULAR-DESK", 20, 2)
    batch.allocate(line)
    batch.allocate(OrderLine("order-123", "ANGULAR-DESK", 2))
    assert batch.available_quantity == 18


def test_can_only_deallocate_allocated_lines() -> None:
    batch, unallocated_line = make_batch_and_line("DECORATIVE-TRINKET", 20, 2)
    assert batch.deallocate(unallocated_line) == 0
    assert batch.available_quantity == 20


def test_deallocating_releases_all_of_the_lines_units() -> None:
    batch, line = make_batch_and_line("DECORATIVE-TRINKET", 20, 5)
    batch.allocate_part(line, 2)
    batch.allocate_part(line, 1)
    assert batch.deallocate(line.key) == 3
    assert batch.available_quantity == 20


@pytest.mark.parametrize("qty", [0, -1, -5])
def test_an_order_line_must_ask_for_a_positive_quantity(qty: int) -> None:
    with pytest.raises(InvalidQuantity):
        OrderLine("order-123", "SMALL-TABLE", qty)


@pytest.mark.parametrize("qty", [0, -3])
def test_allocating_part_of_a_line_refuses_zero_or_negative_and_never_adds_stock(qty: int) -> None:
    batch, line = make_batch_and_line("SMALL-TABLE", 10, 5)
    batch.allocate_part(line, 2)
    with pytest.raises(InvalidQuantity):
        batch.allocate_part(line, qty)
    assert batch.available_quantity == 8
    assert batch.quantity_for(line) == 2


@pytest.mark.parametrize("qty", [0, -2])
def test_a_batch_refuses_prior_allocations_that_are_not_positive(qty: int) -> None:
    with pytest.raises(InvalidQuantity):
        Batch("batch-001", "SMALL-TABLE", 10, allocations={LineKey("order-1", "SMALL-TABLE"): qty})


def test_a_batch_never_allocates_more_than_it_has() -> None:
    batch, line = make_batch_and_line("SMALL-TABLE", 5, 6)
    with pytest.raises(OutOfStock):
        batch.allocate(line)
    with pytest.raises(OutOfStock):
        batch.allocate_part(line, 6)
    assert batch.available_quantity == 5
    assert batch.quantity_for(line) == 0


def test_a_batch_cannot_be_bought_in_a_negative_quantity() -> None:
    with pytest.raises(InvalidQuantity):
        Batch("batch-001", "SMALL-TABLE", -1)


def test_a_batch_cannot_start_with_more_allocated_than_purchased() -> None:
    with pytest.raises(InvalidQuantity):
        Batch(
            "batch-001",
            "SMALL-TABLE",
            5,
            allocations={
                LineKey("order-1", "SMALL-TABLE"): 3,
                LineKey("order-2", "SMALL-TABLE"): 3,
            },
        )


def test_a_batch_never_gives_a_line_more_than_it_ordered() -> None:
    batch, line = make_batch_and_line("SMALL-TABLE", 10, 3)
    batch.allocate_part(line, 2)
    with pytest.raises(InvalidQuantity):
        batch.allocate_part(line, 2)
    assert batch.quantity_for(line) == 2


def test_allocating_a_partly_allocated_line_only_takes_its_remainder() -> None:
    batch, line = make_batch_and_line("SMALL-TABLE", 4, 3)
    batch.allocate_part(line, 2)
    assert batch.can_allocate(line)
    batch.allocate(line)
    assert batch.quantity_for(line) == 3
    assert batch.available_quantity == 1


def test_out_of_stock_names_the_sku() -> None:
    batch, line = make_batch_and_line("BLUE-VASE", 1, 2)
    with pytest.raises(OutOfStock, match="BLUE-VASE") as error:
        batch.allocate(line)
    assert error.value.sku == "BLUE-VASE"


def test_a_batch_without_eta_is_in_stock_and_one_with_eta_is_inbound() -> None:
    assert Batch("in-stock", "SOFA", 1).in_stock
    assert not Batch("shipment", "SOFA", 1, eta=TOMORROW).in_stock


def test_batches_are_equal_by_reference() -> None:
    assert Batch("batch-001", "SOFA", 1) == Batch("batch-001", "LAMP", 9, eta=TOMORROW)
    assert Batch("batch-001", "SOFA", 1) != Batch("batch-002", "SOFA", 1)
