"""The bulk engine's own shortcuts: the radix sort of the demand key and the SKU-hash fallbacks.

The engine sorts the packed demand key with a radix sort and groups and names SKUs by their
64-bit hashes. Each shortcut must give what the plain way gives: the sort what a stable
argsort gives, and the hashes what the strings give even when two SKUs share a hash. Real
collisions are too rare to draw, so those tests swap in a hash that collides on purpose.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import numpy as np
import polars as pl
import pytest
from frames import allocate_with_engine

from allocation.domain import Batch, OrderLine, Policy, allocate_lines
from allocation.engine import bulk
from allocation.engine.first_fit import radix_order


def stable_order(keys: np.ndarray) -> np.ndarray:
    """What the radix sort must return: NumPy's stable argsort."""
    return np.argsort(keys, kind="stable")


@pytest.mark.parametrize("high", [1, 255, 256, 2**20, 2**40 + 7, 2**62])
def test_radix_order_sorts_keys_as_a_stable_argsort_does(high: int) -> None:
    keys = np.random.default_rng(high % 1000).integers(0, high, 5_000, dtype=np.int64)
    order, tie = radix_order(keys)
    np.testing.assert_array_equal(order, stable_order(keys))
    assert tie == (len(np.unique(keys)) < len(keys))


def test_radix_order_reports_no_tie_when_every_key_differs() -> None:
    keys = np.random.default_rng(7).permutation(10_000).astype(np.int64) * 3 + 2**33
    order, tie = radix_order(keys)
    np.testing.assert_array_equal(order, stable_order(keys))
    assert not tie


@pytest.mark.parametrize(
    "keys",
    [[], [5], [4, 4, 4], [0, 2**62, 0], [3, 1, 2]],
    ids=["empty", "one", "all-equal", "extremes", "three"],
)
def test_radix_order_handles_few_and_equal_keys(keys: list[int]) -> None:
    values = np.array(keys, dtype=np.int64)
    order, tie = radix_order(values)
    np.testing.assert_array_equal(order, stable_order(values))
    assert tie == (len(set(keys)) < len(keys))


def length_hash(skus: pl.Expr) -> pl.Expr:
    """A hash that collides for SKUs of the same length."""
    return skus.str.len_bytes().cast(pl.UInt64)


def constant_hash(skus: pl.Expr) -> pl.Expr:
    """A hash that collides for every SKU."""
    return skus.str.len_bytes().cast(pl.UInt64) * 0


SPRING = date(2025, 3, 3)


def batches() -> list[Batch]:
    """Fresh batches of three SKUs (the reference records its allocations on them)."""
    return [
        Batch("b1", "A", 5),
        Batch("b2", "BB", 4, eta=SPRING),
        Batch("b3", "A", 6, eta=SPRING),
        Batch("b4", "CCC", 3),
        Batch("b5", "BB", 2),
    ]


LINES = [
    OrderLine("o1", "A", 7, arrival=0),
    OrderLine("o2", "BB", 5, arrival=1),
    OrderLine("o3", "Z", 1, arrival=2),  # no batches; collides with "A" under `length_hash`
    OrderLine("o4", "CCC", 2, arrival=3),
    OrderLine("o5", "YY", 2, arrival=4),  # no batches; collides with "BB"
    OrderLine("o6", "A", 3, arrival=5),
]


@pytest.mark.parametrize("policy", list(Policy))
@pytest.mark.parametrize("sku_hash", [length_hash, constant_hash], ids=["some", "all"])
def test_skus_that_share_a_hash_are_told_apart_by_their_names(
    monkeypatch: pytest.MonkeyPatch, sku_hash: Callable[[pl.Expr], pl.Expr], policy: Policy
) -> None:
    monkeypatch.setattr(bulk, "_sku_hash", sku_hash)
    assert allocate_with_engine(LINES, batches(), policy) == allocate_lines(
        LINES, batches(), policy
    )


def test_a_line_whose_sku_shares_a_hash_with_one_in_stock_gets_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bulk, "_sku_hash", length_hash)
    result = allocate_with_engine([OrderLine("o1", "Z", 1)], [Batch("b1", "A", 5)])
    assert result.allocations == []
    assert [(s.order_id, s.sku, s.short_qty) for s in result.shortages] == [("o1", "Z", 1)]
