"""The engine's compiled kernels (Numba): the demand sort, the two policies' passes, a lookup.

Both passes walk the lines once, in demand order, keeping per-SKU state, so the rows they
produce are already in the reference's order and nothing is sorted afterwards.

- `radix_order`: row numbers that sort a packed demand key (`packed_key.py`), by a
  least-significant-digit radix sort: a few linear passes instead of a comparison sort.
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

from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from numba import njit

Int64Array = npt.NDArray[np.int64]
UInt64Array = npt.NDArray[np.uint64]
RowArray = npt.NDArray[np.signedinteger[Any]]
"""Row numbers: 32-bit when the rows allow it (half the memory traffic), else 64-bit."""

SCAN_LIMIT = 32
"""A SKU with at most this many batches is scanned (a few cache lines) rather than given a tree."""

DIGIT_BITS = 8
"""The radix sort's digit: 256 buckets per pass keep its scattered writes few enough to stream.
(Measured at 10M keys of 48 bits: 8 bits, 6 passes, 0.46 s; 11 or 16 bits, fewer passes, 0.9 s.)"""


class Handout(NamedTuple):
    """What a policy's pass gives out: pieces and short lines, both in the reference's order.

    A piece is (the line's place in the pass, batch index, units); a short line is (its place,
    units it got). Places count lines in the order the pass took them: demand order.
    """

    piece_line: RowArray
    piece_batch: Int64Array
    piece_qty: Int64Array
    short_line: RowArray
    short_got: Int64Array


def row_dtype(rows: int) -> type[np.int32] | type[np.int64]:
    """The narrowest signed integer type that numbers `rows` rows."""
    return np.int32 if rows < 2**31 else np.int64


def as_rows(values: npt.NDArray[Any]) -> RowArray:
    """Row numbers as the kernels take them (see `row_dtype`)."""
    return values.astype(row_dtype(values.shape[0]), copy=False)


def radix_order(keys: Int64Array) -> tuple[RowArray, bool]:
    """Row numbers that put non-negative keys in ascending order, and whether two keys tie.

    The sort is stable (tied keys keep their row order).
    """
    keys = _read_only(keys, np.int64)
    order = np.empty(keys.shape[0], dtype=row_dtype(keys.shape[0]))
    tie = _radix_order(keys, order, np.empty_like(order), DIGIT_BITS)
    return order, bool(tie)


def first_fit(
    line_sku: Int64Array, line_qty: Int64Array, batch_sku: Int64Array, batch_available: Int64Array
) -> Handout:
    """Give each line, in turn, to the first batch of its SKU that can hold it whole.

    Lines come in demand order (SKUs may interleave), with their missing units. Batches are
    grouped by SKU code, codes ascending, and in preference order within a SKU. Batch indexes
    refer to the batch arrays.
    """
    return _run(_first_fit, line_sku, line_qty, batch_sku, batch_available, pieces=len(line_sku))


def split_fill(
    line_sku: Int64Array, line_qty: Int64Array, batch_sku: Int64Array, batch_available: Int64Array
) -> Handout:
    """Fill each line, in turn, from its SKU's batches, one after another, as far as they go.

    Inputs are laid out as for `first_fit`. Pieces come by line, then by batch: the order the
    reference makes them in.
    """
    # A piece either finishes its line or empties its batch, so there are at most this many.
    pieces = len(line_sku) + len(batch_available)
    return _run(_split_fill, line_sku, line_qty, batch_sku, batch_available, pieces=pieces)


def _run(
    kernel: Any,
    line_sku: Int64Array,
    line_qty: Int64Array,
    batch_sku: Int64Array,
    batch_available: Int64Array,
    pieces: int,
) -> Handout:
    """Run a pass kernel into arrays made here, and cut them to what it wrote.

    NumPy allocates them (the kernels would make them through Numba's allocator) and asks for
    huge pages on big arrays, which makes the gathers that follow cheaper. Untouched slots cost
    no memory: only the pages written are mapped.
    """
    rows = row_dtype(max(len(line_sku), 1))
    out = Handout(
        np.empty(pieces, dtype=rows),
        np.empty(pieces, dtype=np.int64),
        np.empty(pieces, dtype=np.int64),
        np.empty(len(line_sku), dtype=rows),
        np.empty(len(line_sku), dtype=np.int64),
    )
    made, short = kernel(
        _read_only(line_sku, np.int64),
        _read_only(line_qty, np.int64),
        _read_only(_sku_starts(line_sku, batch_sku), np.int64),
        _read_only(batch_available, np.int64),
        *out,
    )
    return Handout(
        out.piece_line[:made],
        out.piece_batch[:made],
        out.piece_qty[:made],
        out.short_line[:short],
        out.short_got[:short],
    )


def positions_of(hashes: UInt64Array, distinct: UInt64Array) -> Int64Array:
    """Return, per hash, its position in `distinct` (whose values must differ), or -1."""
    found = np.empty(len(hashes), dtype=np.int64)  # from NumPy, for huge pages (see `_run`)
    _positions_of(
        _read_only(hashes, np.uint64),
        _read_only(distinct, np.uint64),
        found,
    )
    return found


def warm_up() -> None:
    """Load the compiled kernels now (from Numba's disk cache, or compile them).

    A process's first call of each kernel pays it: about 0.5-1.3 s on this 2-core machine.
    `allocation run` calls this while Prefect's server boots, so the night does not pay it.
    """
    one = np.ones(1, dtype=np.int64)
    positions_of(one.astype(np.uint64), one.astype(np.uint64))
    radix_order(one)
    split_fill(one - 1, one, one - 1, one)
    first_fit(one - 1, one, one - 1, one)


def _read_only(values: npt.NDArray[Any], dtype: type[np.generic]) -> npt.NDArray[Any]:
    """The values as a contiguous read-only array of `dtype`, without a copy where possible.

    Numba compiles (and caches) one version of a kernel per kind of array it is given, and
    Polars hands out read-only arrays: giving every kernel read-only inputs keeps it to one
    version, the one `warm_up` loads.
    """
    frozen = np.ascontiguousarray(values, dtype=dtype).view()
    frozen.flags.writeable = False
    return frozen


def _sku_starts(line_sku: Int64Array, batch_sku: Int64Array) -> Int64Array:
    """Where each SKU code's batches start; code k's batches are starts[k] to starts[k + 1]."""
    n_codes = 1 + max(
        int(line_sku.max()) if line_sku.size else -1,
        int(batch_sku.max()) if batch_sku.size else -1,
    )
    return np.searchsorted(batch_sku, np.arange(n_codes + 1)).astype(np.int64)


@njit(cache=True, nogil=True)
def _radix_order(keys: Any, order: Any, spare: Any, digit_bits: int) -> Any:
    n = keys.shape[0]
    high = 0
    for i in range(n):
        high = max(high, keys[i])
    bits = 0
    while bits < 63 and (high >> bits) > 0:
        bits += 1
    passes = max(1, (bits + digit_bits - 1) // digit_bits)
    mask = (1 << digit_bits) - 1
    # Every pass's bucket counts in one read of the keys.
    counts = np.zeros((passes, mask + 1), dtype=np.int64)
    for i in range(n):
        key = keys[i]
        for p in range(passes):
            counts[p, (key >> (p * digit_bits)) & mask] += 1
    # Each pass scatters (key, row) from one pair of buffers to the other, by its digit; the
    # first reads the keys themselves, with rows 0, 1, 2, ...
    key_from = np.empty(n, dtype=np.int64)
    key_to = np.empty(n, dtype=np.int64)
    row_from, row_to = spare, order
    done = 0
    for p in range(passes):
        bucket = counts[p]
        if bucket.max() == n:  # every key has the same digit here: nothing moves
            continue
        total = 0
        for d in range(mask + 1):  # bucket d's first slot
            count = bucket[d]
            bucket[d] = total
            total += count
        shift = p * digit_bits
        for i in range(n):
            key = keys[i] if done == 0 else key_from[i]
            slot = bucket[(key >> shift) & mask]
            bucket[(key >> shift) & mask] = slot + 1
            key_to[slot] = key
            row_to[slot] = i if done == 0 else row_from[i]
        key_from, key_to = key_to, key_from
        row_from, row_to = row_to, row_from
        done += 1
    if done == 0:  # one key for all: the rows stay as they are
        for i in range(n):
            order[i] = i
        key_from[:] = keys
    elif done % 2 == 0:  # the last pass wrote the spare buffer
        order[:] = spare
    tie = False
    for i in range(1, n):  # the keys are sorted now: a tie sits next to its twin
        if key_from[i] == key_from[i - 1]:
            tie = True
            break
    return tie


@njit(cache=True, nogil=True)
def _first_fit(
    line_sku: Any,
    line_qty: Any,
    starts: Any,
    available: Any,
    piece_line: Any,
    piece_batch: Any,
    piece_qty: Any,
    short_line: Any,
    short_got: Any,
) -> Any:
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

    n_lines = line_sku.shape[0]
    pieces = shorts = 0
    for i in range(n_lines):
        k = line_sku[i]
        qty = line_qty[i]
        if qty <= 0:
            continue
        chosen = -1
        if 0 <= k < n_skus:
            base, size = bases[k], leaves[k]
            if base < 0:
                for b in range(starts[k], starts[k + 1]):
                    if left[b] >= qty:
                        left[b] -= qty
                        chosen = b
                        break
            elif tree[base + 1] >= qty:
                node = 1
                while node < size:  # descend to the leftmost leaf that holds at least qty
                    node = 2 * node if tree[base + 2 * node] >= qty else 2 * node + 1
                chosen = starts[k] + node - size
                tree[base + node] -= qty
                node //= 2
                while node >= 1:
                    tree[base + node] = max(tree[base + 2 * node], tree[base + 2 * node + 1])
                    node //= 2
        if chosen >= 0:
            piece_line[pieces] = i
            piece_batch[pieces] = chosen
            piece_qty[pieces] = qty
            pieces += 1
        else:
            short_line[shorts] = i
            short_got[shorts] = 0  # a line either fits whole or gets nothing
            shorts += 1
    return pieces, shorts


@njit(cache=True, nogil=True)
def _split_fill(
    line_sku: Any,
    line_qty: Any,
    starts: Any,
    available: Any,
    piece_line: Any,
    piece_batch: Any,
    piece_qty: Any,
    short_line: Any,
    short_got: Any,
) -> Any:
    n_lines = line_sku.shape[0]
    n_skus = starts.shape[0] - 1
    current = starts[:-1].copy()  # per SKU: the batch that still has stock
    left = available.copy()  # per batch: units not yet given (all > 0 at the start)
    pieces = shorts = 0
    for i in range(n_lines):
        k = line_sku[i]
        need = line_qty[i]
        if need <= 0:
            continue
        if 0 <= k < n_skus:
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
        if need > 0:
            short_line[shorts] = i
            short_got[shorts] = line_qty[i] - need
            shorts += 1
    return pieces, shorts


@njit(cache=True, nogil=True)
def _positions_of(hashes: Any, distinct: Any, found: Any) -> None:
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
    for i in range(hashes.shape[0]):
        slot = hashes[i] & mask
        while positions[slot] >= 0 and keys[slot] != hashes[i]:
            slot = (slot + np.uint64(1)) & mask
        found[i] = positions[slot]
