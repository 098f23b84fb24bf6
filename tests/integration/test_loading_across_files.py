"""The rules that span files, now that a night is loaded file by file: as if read at once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from inboxes import FIRST_NIGHT, Site, assert_accounted

BATCHES = b"reference,sku,purchased_quantity,eta\n"
LINES = b"order_id,sku,qty\n"
SECOND_NIGHT = FIRST_NIGHT + timedelta(days=1)


def csv(header: bytes, *rows: bytes) -> bytes:
    """A CSV file: the header line, then one line per row."""
    return header + b"".join(row + b"\n" for row in rows)


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path)


def test_a_line_sent_again_in_a_later_file_of_the_night_is_a_duplicate_or_a_conflict(
    site: Site,
) -> None:
    site.drop(
        {
            "batches/b.csv": csv(BATCHES, b"st,CHAIR,10,"),
            "order_lines/1.csv": csv(LINES, b"o1,CHAIR,1", b"o2,CHAIR,2"),
            "order_lines/2.csv": csv(LINES, b"o1,CHAIR,1", b"o2,CHAIR,3", b"o3,CHAIR,1"),
        }
    )

    result = site.night()

    assert_accounted(site, result)
    assert result.load.duplicate_lines == 1
    lines = site.query("SELECT order_id, qty, source_file, arrival FROM order_lines ORDER BY 4")
    assert lines.rows() == [
        ("o1", 1, "order_lines/1.csv", 1),
        ("o2", 2, "order_lines/1.csv", 2),
        ("o3", 1, "order_lines/2.csv", 3),
    ]
    rejects = site.query("SELECT file, row_number, reason FROM rejects")
    assert rejects.rows() == [
        (
            "order_lines/2.csv",
            2,
            "conflicts with existing line o2/CHAIR of qty 2: to change a line, cancel it and "
            "send a new one",
        )
    ]


def test_a_batch_refused_for_its_sku_is_still_the_first_of_its_reference_for_later_files(
    site: Site,
) -> None:
    site.drop({"batches/1.csv": csv(BATCHES, b"b1,CHAIR,5,")})
    site.night()
    site.drop(
        {
            "batches/2.csv": csv(BATCHES, b"b1,LAMP,5,"),
            "batches/3.csv": csv(BATCHES, b"b1,CHAIR,7,", b"b1,CHAIR,8,"),
        }
    )

    result = site.night(SECOND_NIGHT)

    assert_accounted(site, result)
    assert site.query("SELECT sku, purchased_quantity FROM batches").rows() == [("CHAIR", 5)]
    rejects = site.query(
        "SELECT file, row_number, reason FROM rejects WHERE run_id = ?", [result.summary.run_id]
    )
    first = "first in batches/2.csv row 1"
    assert rejects.rows() == [
        (
            "batches/3.csv",
            1,
            f"batch reference b1 appears more than once in this run ({first}); "
            "send one row per batch",
        ),
        (
            "batches/3.csv",
            2,
            f"batch reference b1 appears more than once in this run ({first}); "
            "send one row per batch",
        ),
        (
            "batches/2.csv",
            1,
            "batch b1 is of sku CHAIR, not LAMP: a batch cannot change sku; "
            "send a new batch reference",
        ),
    ]


def test_a_line_cancelled_by_two_files_of_the_night_is_cancelled_once_without_a_reject(
    site: Site,
) -> None:
    site.drop(
        {
            "batches/b.csv": csv(BATCHES, b"st,CHAIR,10,"),
            "order_lines/1.csv": csv(LINES, b"o1,CHAIR,1", b"o2,CHAIR,2"),
        }
    )
    site.night()
    header = b"order_id,sku\n"
    site.drop(
        {
            "cancellations/1.csv": csv(header, b"o1,CHAIR"),
            "cancellations/2.csv": csv(header, b"o1,"),
        }
    )

    result = site.night(SECOND_NIGHT)

    assert_accounted(site, result)
    assert result.load.cancelled_lines == 1
    assert site.query("SELECT count(*) FROM rejects").item() == 0
    assert site.query("SELECT order_id, status FROM order_lines ORDER BY 1").rows() == [
        ("o1", "cancelled"),
        ("o2", "open"),
    ]
