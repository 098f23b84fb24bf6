"""The floor benchmark's table: each sum adds its own steps, and the ratio is to Polars alone."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
import floor

COMPACT = "floor, compact (1 + 2 + 3b + 4 + 5b + 6)"


def _repeat(wall: float) -> dict[str, tuple[float, float]]:
    """Every step at `wall` seconds and half that of CPU; 3a' and start-up at 100 s."""
    seconds = {step: (wall, wall / 2) for step in floor.STEPS}
    seconds["store.parquet"] = seconds["startup"] = (100.0, 100.0)
    return seconds


def test_a_sum_adds_only_the_steps_it_names() -> None:
    seconds = _repeat(1.0)

    assert floor.summed(seconds, floor.SUMS[COMPACT]) == (10.0, 5.0)


def test_the_table_shows_a_sums_best_and_median_and_its_ratios_to_polars_alone() -> None:
    repeats = [_repeat(1.0), _repeat(2.0), _repeat(3.0)]
    baselines = [{"read_s": 1.0, "write_s": 1.0}, {"read_s": 2.0, "write_s": 2.0}] * 2

    printed = floor.table(repeats, baselines[:3])

    rows = [row.split(" | ") for row in printed.splitlines()]
    compact = next(i for i, row in enumerate(rows) if row[0].strip("| *") == COMPACT)
    assert rows[compact][1:] == ["10.00 / 20.00", "5.00 / 10.00 |"]
    # Against Polars alone: the baseline's wall (2 best, 2 median); the CPU of steps 1 and
    # 6's write (0.5 + 0.5 best, 1 + 1 median).
    assert rows[compact + 1][1:] == ["5.0x / 10.0x", "5.0x / 5.0x |"]
    # With start-up (100 s in every repeat): 110 best, 120 median.
    assert rows[compact + 2][1] == "110.00 / 120.00: 55.0x / 60.0x"
