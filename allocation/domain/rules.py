"""The allocation's shared rules, each declared once, as data: the one place to read or change them.

Every other form is derived from these declarations:

- Python sort keys and tests: `forms.Ordering.sort_key`, `forms.IsMissing.holds_for`,
  `forms.Difference.of` (the domain's policy and model use them);
- Polars sorts and expressions: `allocation.engine.frames`;
- the packed integer sort key: `allocation.engine.packed_key`;
- SQL (`ORDER BY` text, predicates, arithmetic): `allocation.adapters.rules_sql`.
"""

from __future__ import annotations

from typing import Final

from allocation.domain.forms import Difference, IsMissing, Nulls, Ordering, SortKey

IN_STOCK: Final = IsMissing("eta")
"""A batch is in stock (in the warehouse) when it has no eta; a batch with an eta is inbound."""

BATCH_PREFERENCE: Final = Ordering(
    "batch preference",
    (
        SortKey(IN_STOCK.column, nulls=Nulls.FIRST),  # in stock first, then the earliest eta
        SortKey("reference"),
    ),
)
"""Which of a SKU's batches gives first: in stock, then inbound by earliest eta, then reference."""

DEMAND_ORDER: Final = Ordering(
    "demand order",
    (
        SortKey("priority", descending=True),
        SortKey("ordered_at", nulls=Nulls.LAST),
        SortKey("arrival"),
        # The line key closes the order, so that it is total even if two lines share an arrival.
        SortKey("order_id"),
        SortKey("sku"),
    ),
)
"""Which line is served first when lines compete for a SKU: higher priority, then earlier
ordered_at (missing last), then earlier arrival."""

PICK_LIST_ORDER: Final = Ordering(
    "pick list order",
    (SortKey("batch_ref"), SortKey("sku"), SortKey("order_id")),
)
"""The order of a night's pick list, and so its line numbers: by batch, then sku, then order
(a pick's key, so the order is total)."""

SHORT: Final = Difference("short", "qty", ("picked", "reserved"))
"""Units of an open line with no stock yet: ordered, less picked, less reserved."""
