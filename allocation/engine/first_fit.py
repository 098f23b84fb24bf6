"""The whole policy's sequential pass: each line goes to the first batch of its SKU that fits it.

Compiled with Numba. Per SKU, a max-segment-tree over the batches' available units finds the
leftmost batch (in preference order) that can hold a line in O(log batches), so a SKU with
1,000 batches costs about as much per line as one with 10.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

Int64Array = npt.NDArray[np.int64]


def first_fit(
    line_sku: Int64Array, line_qty: Int64Array, batch_sku: Int64Array, batch_available: Int64Array
) -> Int64Array:
    """Return, per line, the index of the batch it goes to, or -1 when no batch can hold it.

    Lines must be grouped by SKU code and in demand order within a SKU; batches grouped by SKU
    code and in preference order within a SKU. Batch indexes refer to the batch arrays.
    """
    return _first_fit(  # type: ignore[no-any-return]
        np.ascontiguousarray(line_sku, dtype=np.int64),
        np.ascontiguousarray(line_qty, dtype=np.int64),
        np.ascontiguousarray(batch_sku, dtype=np.int64),
        np.array(batch_available, dtype=np.int64),  # a copy: the pass spends it
    )


@njit(cache=True, nogil=True)  # type: ignore[misc]
def _first_fit(line_sku: Any, line_qty: Any, batch_sku: Any, available: Any) -> Any:
    chosen = np.full(line_sku.shape[0], -1, dtype=np.int64)
    n_lines = line_sku.shape[0]
    n_batches = batch_sku.shape[0]
    line = 0
    batch_start = 0
    tree = np.zeros(2, dtype=np.int64)
    while line < n_lines:
        sku = line_sku[line]
        while batch_start < n_batches and batch_sku[batch_start] < sku:
            batch_start += 1
        batch_end = batch_start
        while batch_end < n_batches and batch_sku[batch_end] == sku:
            batch_end += 1
        count = batch_end - batch_start
        line_end = line
        while line_end < n_lines and line_sku[line_end] == sku:
            line_end += 1
        if count == 0:
            line = line_end
            continue
        # A max-segment tree over this SKU's batches: leaf k holds batch k's available units.
        size = 1
        while size < count:
            size *= 2
        if tree.shape[0] < 2 * size:
            tree = np.zeros(2 * size, dtype=np.int64)
        tree[: 2 * size] = 0
        for k in range(count):
            tree[size + k] = available[batch_start + k]
        for node in range(size - 1, 0, -1):
            tree[node] = max(tree[2 * node], tree[2 * node + 1])
        for i in range(line, line_end):
            qty = line_qty[i]
            if tree[1] < qty:
                continue
            node = 1
            while node < size:  # descend to the leftmost leaf that holds at least qty
                node = 2 * node if tree[2 * node] >= qty else 2 * node + 1
            k = node - size
            chosen[i] = batch_start + k
            available[batch_start + k] -= qty
            tree[node] -= qty
            node //= 2
            while node >= 1:
                tree[node] = max(tree[2 * node], tree[2 * node + 1])
                node //= 2
        line = line_end
        batch_start = batch_end
    return chosen
