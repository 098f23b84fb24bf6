"""The invariants that hold after every run, checked against the warehouse.

The warehouse returns, for each rule, the rows that break it; an empty result means the rule
holds. Operators run them with `allocation check`; the tests run them after every night.
"""

from __future__ import annotations

from typing import Final

from allocation.adapters.warehouse import Warehouse

SHOWN_PER_RULE: Final = 20
"""Offending rows listed per rule; the rest are counted."""


def check_invariants(warehouse: Warehouse) -> list[str]:
    """Every violation found, one line each, naming the rule and the offending rows."""
    violations = []
    for rule, rows in warehouse.invariant_breaches().items():
        for row in rows.head(SHOWN_PER_RULE).iter_rows(named=True):
            details = ", ".join(f"{k}={v}" for k, v in row.items())
            violations.append(f"{rule}: {details}")
        if rows.height > SHOWN_PER_RULE:
            violations.append(f"{rule}: ... and {rows.height - SHOWN_PER_RULE} more")
    return violations
