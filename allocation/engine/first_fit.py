"""The engine's compiled kernels (Numba): the two policies' passes and a hash lookup.

Both passes walk the lines once, in demand order, keeping per-SKU state, so the rows they
produce are already in the reference's order and nothing is sorted afterwards.

- `first_fit` (whole policy): each line goes to the first batch of its SKU, in preference
  order, that can hold it. A SKU with few batches is scanned; one with many keeps a
  max-segment-tree over its batches' available units, which finds that batch in
  O(log batches), so a SKU with 1,000 batches costs about as much per line as one with 10.
- `split_fill` (split policy): a SKU's batches are spent strictly one after another, so each
  SKU only needs to remember its current batch and what is left in it.
- `positions_of`: where each of many 64-bit hashes sits in a short list of distinct ones.

Codes are dense SKU numbers shared by lines and batches; a negative line code means the SKU
has no batch with stock, so the line gets nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

Int64Array = npt.NDArray[np.int64]
UInt64Array = npt.NDArray[np.uint64]

SCAN_LIMIT = 32
"""A SKU with at most this many batches is scanned (a few cache lines) rather than given a tree."""


def first_fit(
    line_sku: Int64Array, line_qty: Int64Array, batch_sku: Int64Array, batch_available: Int64Array
) -> Int64Array:
    """Return, per line, the index of the batch it goes to, or -1 when no batch can hold it.

    Lines come in demand order (SKUs may interleave). Batches are grouped by SKU code, codes
    ascending, and in preference order within a SKU. Batch indexes refer to the batch arrays.
    """
    starts = _sku_starts(line_sku, batch_sku)
    return _first_fit(  # type: ignore[no-any-return]
        np.ascontiguousarray(line_sku, dtype=np.int64),
        np.ascontiguousarray(line_qty, dtype=np.int64),
        starts,
        np.ascontiguousarray(batch_available, dtype=np.int64),
    )


def split_fill(
    line_sku: Int64Array, line_qty: Int64Array, batch_sku: Int64Array, batch_available: Int64Array
) -> tuple[Int64Array, Int64Array, Int64Array, Int64Array]:
    """Fill each line from its SKU's batches in turn; return its pieces and what each line got.

    Inputs are laid out as for `first_fit`. The pieces come as three arrays (line index, batch
    index, units), ordered by line, then by batch: the order the reference makes them in.
    """
    starts = _sku_starts(line_sku, batch_sku)
    return _split_fill(  # type: ignore[no-any-return]
        np.ascontiguousarray(line_sku, dtype=np.int64),
        np.ascontiguousarray(line_qty, dtype=np.int64),
        starts,
        np.ascontiguousarray(batch_available, dtype=np.int64),
    )


def positions_of(hashes: UInt64Array, distinct: UInt64Array) -> Int64Array:
    """Return, per hash, its position in `distinct` (whose values must differ), or -1."""
    return _positions_of(  # type: ignore[no-any-return]
        np.ascontiguousarray(hashes, dtype=np.uint64),
        np.ascontiguousarray(distinct, dtype=np.uint64),
    )


def warm_up() -> None:
    """Load the compiled kernels now (from Numba's disk cache, or compile them).

    A process's first call of each kernel pays it: about 0.5-1.3 s on this 2-core machine.
    `allocation run` calls this while Prefect's server boots, so the night does not pay it.
    """
    one = np.ones(1, dtype=np.int64)
    positions_of(one.astype(np.uint64), one.astype(np.uint64))
    split_fill(one - 1, one, one - 1, one)
    first_fit(one - 1, one, one - 1, one)


def _sku_starts(line_sku: Int64Array, batch_sku: Int64Array) -> Int64Array:
    """Where each SKU code's batches start; code k's batches are starts[k] to starts[k + 1]."""
    n_codes = 1 + max(
        int(line_sku.max()) if line_sku.size else -1,
        int(batch_sku.max()) if batch_sku.size else -1,
    )
    return np.searchsorted(batch_sku, np.arange(n_codes + 1)).astype(np.int64)


@njit(cache=True, nogil=True)
def _first_fit(line_sku: Any, line_qty: Any, starts: Any, available: Any) -> Any:
    n_skus = starts.shape[0] - 1
    left = available.copy()  # per batch: units not yet given (scanned SKUs only)
    # SKUs with many batches get a max-segment-tree, all in one array. SKU k's tree has
    # `leaves[k]` leaves (a power of two); its node n, numbered as in a heap (root 1, children
    # 2n and 2n + 1, leaf j at leaves[k] + j, node 0 unused), lives at tree[bases[k] + n].
    # SKUs with few batches have none (bases[k] == -1): scanning a few adjacent numbers is
    # cheaper than walking a tree, whose nodes are further apart.
    leaves = np.ones(n_skus, dtype=np.int64)
    bases = np.full(n_skus, -1, dtype=np.int64)
    total = 0
    for k in range(n_skus):
        count = starts[k + 1] - starts[k]
        if count > SCAN_LIMIT:
            while leaves[k] < count:
                leaves[k] *= 2
            bases[k] = total
            total += 2 * leaves[k]
    tree = np.zeros(total, dtype=np.int64)
    for k in range(n_skus):
        base, size = bases[k], leaves[k]
        if base >= 0:
            tree[base + size : base + size + starts[k + 1] - starts[k]] = left[
                starts[k] : starts[k + 1]
            ]
            for node in range(size - 1, 0, -1):
                tree[base + node] = max(tree[base + 2 * node], tree[base + 2 * node + 1])

    chosen = np.full(line_sku.shape[0], -1, dtype=np.int64)
    for i in range(line_sku.shape[0]):
        k = line_sku[i]
        qty = line_qty[i]
        if k < 0 or k >= n_skus or qty <= 0:
            continue
        base, size = bases[k], leaves[k]
        if base < 0:
            for b in range(starts[k], starts[k + 1]):
                if left[b] >= qty:
                    left[b] -= qty
                    chosen[i] = b
                    break
            continue
        if tree[base + 1] < qty:
            continue
        node = 1
        while node < size:  # descend to the leftmost leaf that holds at least qty
            node = 2 * node if tree[base + 2 * node] >= qty else 2 * node + 1
        chosen[i] = starts[k] + node - size
        tree[base + node] -= qty
        node //= 2
        while node >= 1:
            tree[base + node] = max(tree[base + 2 * node], tree[base + 2 * node + 1])
            node //= 2
    return chosen


@njit(cache=True, nogil=True)
def _split_fill(line_sku: Any, line_qty: Any, starts: Any, available: Any) -> Any:
    n_lines = line_sku.shape[0]
    n_skus = starts.shape[0] - 1
    current = starts[:-1].copy()  # per SKU: the batch that still has stock
    left = available.copy()  # per batch: units not yet given (all > 0 at the start)
    # A piece either finishes its line or empties its batch, so there are at most this many.
    capacity = n_lines + available.shape[0]
    piece_line = np.empty(capacity, dtype=np.int64)
    piece_batch = np.empty(capacity, dtype=np.int64)
    piece_qty = np.empty(capacity, dtype=np.int64)
    filled = np.zeros(n_lines, dtype=np.int64)
    pieces = 0
    for i in range(n_lines):
        k = line_sku[i]
        need = line_qty[i]
        if k < 0 or k >= n_skus or need <= 0:
            continue
        b = current[k]
        end = starts[k + 1]
        while need > 0 and b < end:
            take = min(need, left[b])
            piece_line[pieces] = i
            piece_batch[pieces] = b
            piece_qty[pieces] = take
            pieces += 1
            need -= take
            left[b] -= take
            if left[b] == 0:
                b += 1
        current[k] = b
        filled[i] = line_qty[i] - need
    # Views, not copies: the unused tail is at most one slot per batch and per unserved line.
    return piece_line[:pieces], piece_batch[:pieces], piece_qty[:pieces], filled


@njit(cache=True, nogil=True)
def _positions_of(hashes: Any, distinct: Any) -> Any:
    # An open-addressing hash table, at most half full, keyed by the hashes themselves (they
    # are already well mixed, so their low bits pick the slot).
    size = 1
    while size < 2 * distinct.shape[0]:
        size *= 2
    mask = np.uint64(size - 1)
    keys = np.zeros(size, dtype=np.uint64)
    positions = np.full(size, -1, dtype=np.int64)  # -1: an empty slot
    for position in range(distinct.shape[0]):
        slot = distinct[position] & mask
        while positions[slot] >= 0:
            slot = (slot + np.uint64(1)) & mask
        keys[slot] = distinct[position]
        positions[slot] = position
    found = np.empty(hashes.shape[0], dtype=np.int64)
    for i in range(hashes.shape[0]):
        slot = hashes[i] & mask
        while positions[slot] >= 0 and keys[slot] != hashes[i]:
            slot = (slot + np.uint64(1)) & mask
        found[i] = positions[slot]
    return found
