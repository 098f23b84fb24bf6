"""Random sequences of nights: the invariants hold after every run, and a replay is identical.

Each night drops random batch, order-line and cancellation files into one inbox (new
batches and changes to known ones, new lines, repeated and conflicting lines, cancellations
of known and unknown orders) and runs the night's stages as the flow does, without Prefect.
"""

from __future__ import annotations

import io
import tempfile
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from allocation.adapters.storage import open_storage
from allocation.adapters.warehouse import DuckDBWarehouse
from allocation.domain.policy import Policy
from allocation.service_layer.invariants import check_invariants
from allocation.service_layer.nightly import run_night

SKUS = ["CHAIR", "LAMP", "SOFA"]
REFS = [f"b{i}" for i in range(8)]
ORDERS = [f"o{i}" for i in range(12)]
FIRST_NIGHT = date(2026, 11, 26)
ETAS = [None, None, FIRST_NIGHT + timedelta(days=5), FIRST_NIGHT + timedelta(days=20)]

batch_rows = st.lists(
    st.tuples(
        st.sampled_from(REFS),
        st.sampled_from(SKUS),
        st.integers(0, 12),
        st.sampled_from(ETAS),
    ),
    max_size=4,
)
line_rows = st.lists(
    st.tuples(st.sampled_from(ORDERS), st.sampled_from(SKUS), st.integers(1, 6), st.integers(0, 2)),
    max_size=6,
)
cancel_rows = st.lists(
    st.tuples(st.sampled_from(ORDERS), st.sampled_from([None, *SKUS])), max_size=2
)
night = st.tuples(batch_rows, line_rows, cancel_rows)


BatchRow = tuple[str, str, int, date | None]
LineRow = tuple[str, str, int, int]
CancelRow = tuple[str, str | None]
Night = tuple[list[BatchRow], list[LineRow], list[CancelRow]]


def night_files(
    index: int, batches: list[BatchRow], lines: list[LineRow], cancels: list[CancelRow]
) -> dict[str, bytes]:
    """The night's inbox files as CSV bytes (a file per kind, when it has rows)."""
    files: dict[str, list[str]] = {}
    if batches:
        rows = [f"{r},{s},{q},{e.isoformat() if e else ''}" for r, s, q, e in batches]
        files[f"batches/n{index:02d}.csv"] = rows
    if lines:
        files[f"order_lines/n{index:02d}.csv"] = [f"{o},{s},{q},{p}," for o, s, q, p in lines]
    if cancels:
        files[f"cancellations/n{index:02d}.csv"] = [f"{o},{s or ''}" for o, s in cancels]
    headers = {
        "batches": "reference,sku,purchased_quantity,eta",
        "order_lines": "order_id,sku,qty,priority,ordered_at",
        "cancellations": "order_id,sku",
    }
    return {
        key: "\n".join([headers[key.split("/")[0]], *rows]).encode() + b"\n"
        for key, rows in files.items()
    }


def play(root: Path, nights: list[dict[str, bytes]], policy: Policy) -> list[dict[str, object]]:
    """Run the nights in order into a fresh warehouse; return each night's outputs."""
    inbox, outbox = open_storage(str(root / "inbox")), open_storage(str(root / "outbox"))
    (root / "inbox").mkdir(exist_ok=True)  # a night with no files still has its inbox folder
    db = str(root / "warehouse.duckdb")
    results = []
    for index, files in enumerate(nights):
        for key, data in files.items():
            inbox.write(key, data)
        result = run_night(
            inbox_url=str(root / "inbox"),
            outbox_url=str(root / "outbox"),
            db=db,
            policy=policy,
            run_date=FIRST_NIGHT + timedelta(days=index),
        )
        with DuckDBWarehouse(db) as warehouse:
            assert check_invariants(warehouse) == [], f"after night {index}"
        summary = result.summary
        outputs: dict[str, object] = {
            "figures": {k: v for k, v in vars(summary).items() if k != "run_id"}
        }
        for name in ("allocations", "pick_lists", "shortages", "rejects", "withdrawals"):
            key = f"{name}/run_date={summary.run_date.isoformat()}/{summary.run_id}.parquet"
            frame = pl.read_parquet(io.BytesIO(outbox.read(key)))
            outputs[name] = frame.drop("run_id", "pick_list_id", strict=False)
        results.append(outputs)
    return results


def check_sequence(nights: list[Night], policy: Policy) -> None:
    files = [night_files(i, *n) for i, n in enumerate(nights)]
    with tempfile.TemporaryDirectory() as first, tempfile.TemporaryDirectory() as second:
        played = play(Path(first), files, policy)
        replayed = play(Path(second), files, policy)
    for index, (a, b) in enumerate(zip(played, replayed, strict=True)):
        assert a["figures"] == b["figures"], f"night {index}"
        for name in a:
            left, right = a[name], b[name]
            if isinstance(left, pl.DataFrame) and isinstance(right, pl.DataFrame):
                assert_frame_equal(left, right)


@pytest.mark.parametrize("policy", list(Policy))
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nights=st.lists(night, min_size=1, max_size=3))
def test_invariants_hold_after_every_night_and_a_replay_gives_the_same_outputs(
    policy: Policy, nights: list[Night]
) -> None:
    check_sequence(nights, policy)


@pytest.mark.slow
@pytest.mark.parametrize("policy", list(Policy))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nights=st.lists(night, min_size=1, max_size=6))
def test_invariants_and_replay_hold_over_many_random_sequences_of_nights(
    policy: Policy, nights: list[Night]
) -> None:
    check_sequence(nights, policy)
