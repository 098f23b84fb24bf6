"""The bad-input catalogue at run level: a bad file never stops the night, and nothing is lost.

Each case puts one good batches file and one bad file (or a bad situation) in a fresh inbox
and runs a whole night with `run_night`. The night commits; the bad file, or each bad row of
it, is rejected with a reason that names what to fix; and every row read is accounted for
once: loaded into `batches` or `order_lines`, or kept in `rejects`, with rows read = loaded +
rejected per file, both in the night's result and in `ingested_files`. The parser's own
tests (`tests/unit/test_inbox_files.py`) pin the exact wording; these pin the whole night.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
from inboxes import FIRST_NIGHT, Site, assert_accounted, parquet_bytes

from allocation.adapters.storage import StorageError
from allocation.domain.policy import Policy
from allocation.service_layer.nightly import run_night

BATCHES = b"reference,sku,purchased_quantity,eta\n"
LINES = b"order_id,sku,qty\n"
TIMED_LINES = b"order_id,sku,qty,priority,ordered_at\n"
GOOD_BATCHES = BATCHES + b"b-chair,CHAIR,10,\nb-chair-ship,CHAIR,20,2026-12-10\nb-lamp,LAMP,5,\n"
GOOD = {"batches/good.csv": GOOD_BATCHES}
BAD_CSV = "order_lines/bad.csv"
BAD_BATCHES = "batches/resent.csv"  # sorts after batches/good.csv, so it is read second
BAD_PARQUET = "order_lines/bad.parquet"

LINES_FRAME = pl.DataFrame({"order_id": ["o1"] * 40, "sku": ["CHAIR"] * 40, "qty": [1] * 40})
A_PARQUET = parquet_bytes(LINES_FRAME)


def utc(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


@dataclass(frozen=True)
class Case:
    """A bad file dropped beside the good batches, and what the night must make of it.

    `says`: words that one reason for the file must all hold (the file's reason when it is
    rejected whole, else a reject row's reason); `warns`: words one warning must hold;
    `stored`: column values of the lines loaded from the file, in row order.
    """

    key: str
    data: bytes
    status: str  # loaded, rejected, or ignored (not read at all)
    rows_read: int
    rows_loaded: int
    says: tuple[str, ...] = ()
    warns: tuple[str, ...] = ()
    stored: dict[str, list[object]] = field(default_factory=dict)


def csv(*rows: bytes, header: bytes = LINES) -> bytes:
    """A CSV file: the header line, then one line per row."""
    return header + b"".join(row + b"\n" for row in rows)


def line(row: bytes, says: tuple[str, ...], header: bytes = LINES) -> Case:
    """One order line rejected for one bad value."""
    return Case(BAD_CSV, csv(row, header=header), "loaded", 1, 0, says)


def batch(row: bytes, says: tuple[str, ...]) -> Case:
    """One batch row rejected for one bad value."""
    return Case(BAD_BATCHES, csv(row, header=BATCHES), "loaded", 1, 0, says)


CASES: dict[str, Case] = {
    # --- CSV shape -------------------------------------------------------------------------
    "csv: empty file": Case(
        BAD_CSV, b"", "rejected", 0, 0, ("file is empty (0 bytes)", "order_id, sku, qty")
    ),
    "csv: header only": Case(BAD_CSV, csv(), "loaded", 0, 0),
    "csv: missing required column": Case(
        BAD_CSV,
        csv(b"o1,CHAIR", header=b"order_id,sku\n"),
        "rejected",
        1,
        0,
        ("missing required column 'qty'", "found: order_id, sku"),
    ),
    "csv: misspelled header": Case(
        BAD_CSV,
        csv(b"o1,CHAIR,1", header=b"order_id,skuu,qty\n"),
        "rejected",
        1,
        0,
        ("missing required column 'sku'", "skuu"),
    ),
    "csv: header in another case": Case(
        BAD_CSV,
        csv(b"o1,CHAIR,1", header=b"order_id,sku,QTY\n"),
        "rejected",
        1,
        0,
        ("'qty'", "QTY", "names are case-sensitive"),
    ),
    "csv: semicolon-separated": Case(
        BAD_CSV,
        csv(b"o1;CHAIR;1", header=b"order_id;sku;qty\n"),
        "rejected",
        1,
        0,
        ("separated by ';'", "send comma-separated values"),
    ),
    "csv: extra columns are ignored with a warning": Case(
        BAD_CSV,
        csv(b"o1,red,CHAIR,1", header=b"order_id,colour,sku,qty\n"),
        "loaded",
        1,
        1,
        warns=(BAD_CSV, "ignored unknown column(s): colour"),
        stored={"sku": ["CHAIR"]},
    ),
    "csv: columns in another order": Case(
        BAD_CSV,
        csv(b"2,CHAIR,o1", header=b"qty,sku,order_id\n"),
        "loaded",
        1,
        1,
        stored={"order_id": ["o1"], "sku": ["CHAIR"], "qty": [2]},
    ),
    "csv: UTF-8 byte-order mark": Case(
        BAD_CSV,
        b"\xef\xbb\xbf" + LINES + b"o1,CHAIR,1\n",
        "loaded",
        1,
        1,
        stored={"order_id": ["o1"]},
    ),
    "csv: Latin-1 bytes": Case(
        BAD_CSV,
        csv(b"o1,CAF\xc9-TABLE,1"),
        "loaded",
        1,
        1,
        warns=(BAD_CSV, "not UTF-8 (byte 0xC9 on line 2)", "check accented text"),
        stored={"sku": ["CAFÉ-TABLE"]},
    ),
    "csv: CRLF line ends": Case(
        BAD_CSV,
        b"order_id,sku,qty\r\no1,CHAIR,1\r\no2,LAMP,2\r\n",
        "loaded",
        2,
        2,
        stored={"sku": ["CHAIR", "LAMP"], "qty": [1, 2]},
    ),
    "csv: quoted fields with commas and newlines": Case(
        BAD_CSV,
        csv(b'"o1,a",CHAIR,1', b'"o2\nb","LAMP",2', b'"o""3",CHAIR,"3"'),
        "loaded",
        3,
        3,
        stored={"order_id": ["o1,a", "o2\nb", 'o"3'], "qty": [1, 2, 3]},
    ),
    "csv: unclosed quote": Case(
        BAD_CSV, csv(b'"o1,CHAIR,1', b"o2,CHAIR,2"), "rejected", 0, 0, ("unclosed quote",)
    ),
    "csv: trailing delimiter": Case(
        BAD_CSV, csv(b"o1,CHAIR,1,", b"o2,CHAIR,2,"), "loaded", 2, 2, stored={"qty": [1, 2]}
    ),
    "csv: ragged row with too many fields": Case(
        BAD_CSV,
        csv(b"o1,CHAIR,1", b"o2,Chair, red,2"),
        "loaded",
        2,
        1,
        ("more fields than the header's 3", "first extra value '2'", "quote values"),
    ),
    "csv: ragged row with too few fields": Case(
        BAD_CSV, csv(b"o1,CHAIR", b"o2,CHAIR,2"), "loaded", 2, 1, ("qty must not be blank",)
    ),
    "csv: whitespace around names and values": Case(
        BAD_CSV,
        b" order_id , sku ,qty\n  o1 ,\tCHAIR , 1 \n",
        "loaded",
        1,
        1,
        stored={"order_id": ["o1"], "sku": ["CHAIR"], "qty": [1]},
    ),
    "csv: blank lines": Case(
        BAD_CSV,
        csv(b"", b"o1,CHAIR,1", b"   ", b",,", b"o2,CHAIR,2", b""),
        "loaded",
        2,
        2,
        warns=(BAD_CSV, "skipped 4 blank line(s)"),
    ),
    "csv: CR-only line ends": Case(
        BAD_CSV, b"order_id,sku,qty\ro1,CHAIR,1\r", "rejected", 0, 0, ("CR-only line ends",)
    ),
    # --- values ----------------------------------------------------------------------------
    "qty 0": line(b"o1,CHAIR,0", ("qty must be a whole number greater than 0", "got '0'")),
    "qty negative": line(b"o1,CHAIR,-3", ("qty must be", "got '-3'")),
    "qty decimal": line(b"o1,CHAIR,2.5", ("qty must be a whole number", "got '2.5'")),
    "qty beyond int64": line(
        b"o1,CHAIR,99999999999999999999", ("qty must be", "got '99999999999999999999'")
    ),
    "qty not a number": line(b"o1,CHAIR,two", ("qty must be", "got 'two'")),
    "qty above the most a line may hold": line(
        b"o1,CHAIR,9223372036854775807",
        ("qty must be at most 1000000000", "got '9223372036854775807'"),
    ),
    "qty at the most a line may hold": Case(
        BAD_CSV,
        csv(b"o1,CHAIR,1000000000", b"o2,CHAIR,1000000000"),
        "loaded",
        2,
        2,
        stored={"qty": [1_000_000_000] * 2},
    ),
    "blank order_id": line(b",CHAIR,1", ("order_id must not be blank",)),
    "whitespace-only order_id": line(b" \t ,CHAIR,1", ("order_id must not be blank",)),
    "blank sku": line(b"o1,,1", ("sku must not be blank",)),
    "whitespace-only sku": line(b"o1,   ,1", ("sku must not be blank",)),
    "blank batch reference": batch(b",CHAIR,5,", ("reference must not be blank",)),
    "whitespace-only batch sku": batch(b"b-new,  ,5,", ("sku must not be blank",)),
    "purchased quantity negative": batch(
        b"b-new,CHAIR,-1,", ("purchased_quantity must be a whole number of at least 0", "'-1'")
    ),
    "purchased quantity above the most a batch may hold": batch(
        b"b-new,CHAIR,1000000001,",
        ("purchased_quantity must be at most 1000000000", "'1000000001'"),
    ),
    "eta in another format": batch(
        b"b-new,CHAIR,5,10/12/2026",
        ("eta must be a real date written YYYY-MM-DD", "got '10/12/2026'"),
    ),
    "eta an impossible date": batch(b"b-new,CHAIR,5,2026-02-30", ("eta must be", "'2026-02-30'")),
    "ordered_at in another format": line(
        b"o1,CHAIR,1,0,25/11/2026 10:00",
        ("ordered_at must be an ISO-8601 timestamp", "got '25/11/2026 10:00'"),
        header=TIMED_LINES,
    ),
    "ordered_at an impossible date": line(
        b"o1,CHAIR,1,0,2026-02-30T10:00:00Z",
        ("ordered_at must be", "'2026-02-30T10:00:00Z'"),
        header=TIMED_LINES,
    ),
    "ordered_at with a zone": Case(
        BAD_CSV,
        csv(b"o1,CHAIR,1,0,2026-11-25T10:00:00+01:00", header=TIMED_LINES),
        "loaded",
        1,
        1,
        stored={"ordered_at": [utc(25, 9)]},
    ),
    "ordered_at without a zone is UTC": Case(
        BAD_CSV,
        csv(b"o1,CHAIR,1,0,2026-11-25T10:00", b"o2,CHAIR,1,0,2026-11-25", header=TIMED_LINES),
        "loaded",
        2,
        2,
        stored={"ordered_at": [utc(25, 10), utc(25)]},
    ),
    "priority not a number": line(
        b"o1,CHAIR,1,high,", ("priority must be a whole number", "got 'high'"), header=TIMED_LINES
    ),
    "duplicate batch reference within a file": Case(
        BAD_BATCHES,
        BATCHES + b"b-new,CHAIR,5,\nb-new,CHAIR,7,\n",
        "loaded",
        2,
        1,
        ("batch reference b-new appears more than once", f"first in {BAD_BATCHES} row 1"),
    ),
    "duplicate batch reference across files of one run": Case(
        BAD_BATCHES,
        BATCHES + b"b-new,LAMP,1,\nb-chair,CHAIR,99,\n",
        "loaded",
        2,
        1,
        ("batch reference b-chair appears more than once", "first in batches/good.csv row 1"),
    ),
    "cancellation of an order with no open line": Case(
        "cancellations/bad.csv",
        csv(b"o9,", b"o9,CHAIR", header=b"order_id,sku\n"),
        "loaded",
        2,
        0,
        ("order o9 has no open line to cancel",),
    ),
    # --- Parquet ---------------------------------------------------------------------------
    "parquet: truncated": Case(
        BAD_PARQUET,
        A_PARQUET[: len(A_PARQUET) // 2],
        "rejected",
        0,
        0,
        ("Parquet file is truncated or corrupt",),
    ),
    "parquet: corrupt footer": Case(
        BAD_PARQUET,
        A_PARQUET[:-12] + b"\x00" * 8 + b"PAR1",
        "rejected",
        0,
        0,
        ("Parquet file is truncated or corrupt",),
    ),
    "parquet: qty as text": Case(
        BAD_PARQUET,
        parquet_bytes(
            pl.DataFrame({"order_id": ["o1", "o2"], "sku": ["CHAIR"] * 2, "qty": ["2", "2.5"]})
        ),
        "loaded",
        2,
        1,
        ("qty must be a whole number", "got '2.5'"),
        stored={"qty": [2]},
    ),
    "parquet: qty as float": Case(
        BAD_PARQUET,
        parquet_bytes(pl.DataFrame({"order_id": ["o1"], "sku": ["CHAIR"], "qty": [2.0]})),
        "loaded",
        1,
        0,
        ("qty must be a whole number", "got '2.0'"),
        warns=("column 'qty' has Parquet type Float64", "write the column as Int64"),
    ),
    "parquet: eta as text": Case(
        "batches/resent.parquet",
        parquet_bytes(
            pl.DataFrame(
                {
                    "reference": ["b-new", "b-new-2"],
                    "sku": ["CHAIR"] * 2,
                    "purchased_quantity": [5, 5],
                    "eta": ["2026-12-01", "01/12/2026"],
                }
            )
        ),
        "loaded",
        2,
        1,
        ("eta must be a real date", "got '01/12/2026'"),
    ),
    "parquet: nested column": Case(
        BAD_PARQUET,
        parquet_bytes(pl.DataFrame({"order_id": ["o1"], "sku": [["CHAIR", "LAMP"]], "qty": [1]})),
        "rejected",
        1,
        0,
        ("column 'sku' has the nested Parquet type List(String)", "one plain value"),
    ),
    "parquet: nested extra column is ignored": Case(
        BAD_PARQUET,
        parquet_bytes(
            pl.DataFrame({"order_id": ["o1"], "sku": ["CHAIR"], "qty": [1], "tags": [{"a": 1}]})
        ),
        "loaded",
        1,
        1,
        warns=("ignored unknown column(s): tags",),
    ),
    "parquet: not Parquet under a .parquet name": Case(
        BAD_PARQUET,
        LINES + b"o1,CHAIR,1\n",
        "rejected",
        0,
        0,
        ("file is not Parquet", "name a CSV file .csv"),
    ),
    "parquet: Parquet under a .csv name": Case(
        BAD_CSV, A_PARQUET, "rejected", 0, 0, ("file is Parquet, not CSV", "name it .parquet")
    ),
    "parquet: zero-byte object": Case(
        BAD_PARQUET, b"", "rejected", 0, 0, ("file is empty (0 bytes)",)
    ),
    # --- names -----------------------------------------------------------------------------
    "name with spaces": Case(
        "order_lines/night of 25 nov (copy).csv",
        csv(b"o1,CHAIR,1"),
        "loaded",
        1,
        1,
        stored={"order_id": ["o1"]},
    ),
    "name with unicode": Case(
        "order_lines/commandes-été-Ünïcode-注文.csv",
        csv(b"o1,CHAIR,1"),
        "loaded",
        1,
        1,
        stored={"order_id": ["o1"]},
    ),
    "name with an upper-case extension": Case(
        "order_lines/ORDERS.CSV", csv(b"o1,CHAIR,1"), "loaded", 1, 1
    ),
    "unknown extension is ignored with a warning": Case(
        "order_lines/orders.xlsx",
        csv(b"o1,CHAIR,1"),
        "ignored",
        0,
        0,
        warns=("order_lines/orders.xlsx", "not a .csv or .parquet file"),
    ),
    "hidden and marker files are passed over": Case(
        "order_lines/_SUCCESS", csv(b"o1,CHAIR,1"), "ignored", 0, 0
    ),
}


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path)


def one_of(texts: list[str], words: tuple[str, ...]) -> bool:
    """Tell whether one of the texts holds every word."""
    return any(all(word in text for word in words) for text in texts)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_bad_input_is_rejected_with_a_reason_and_the_night_goes_on(
    case: Case, site: Site
) -> None:
    site.drop({**GOOD, case.key: case.data})

    result = site.night()

    assert result.summary.status == "committed"
    accounts = {site.key_of(f.location): f for f in result.load.files}
    good = accounts.pop("batches/good.csv")
    assert (good.status, good.rows_loaded) == ("loaded", 3)
    if case.status == "ignored":
        assert accounts == {}
    else:
        bad = accounts.pop(case.key)
        assert (bad.status, bad.rows_read, bad.rows_loaded) == (
            case.status,
            case.rows_read,
            case.rows_loaded,
        )
        assert accounts == {}
    assert one_of(result.load.warnings, case.warns) if case.warns else not result.load.warnings
    with site.reading() as query:
        assert_accounted(site, result, query)
        if case.says:
            said = query(
                "SELECT reason FROM rejects WHERE file = ? AND run_id = ?",
                [case.key, result.summary.run_id],
            )["reason"].to_list()
            assert one_of(said, case.says), said
        if case.stored:
            stored = query(
                "SELECT * FROM order_lines WHERE source_file = ? ORDER BY row_number", [case.key]
            )
            assert {column: stored[column].to_list() for column in case.stored} == case.stored


# --- nights of their own -------------------------------------------------------------------


def test_an_order_line_for_a_sku_with_no_batches_is_loaded_and_reported_short(
    site: Site,
) -> None:
    site.drop({**GOOD, BAD_CSV: csv(b"o1,SOFA,2", b"o2,CHAIR,1")})

    result = site.night()

    assert_accounted(site, result)
    assert (result.summary.rows_loaded, result.summary.rows_rejected) == (5, 0)
    shortages = site.query(
        "SELECT order_id, sku, ordered_qty, allocated_qty, short_qty FROM run_shortages "
        "WHERE run_id = ?",
        [result.summary.run_id],
    )
    assert shortages.rows() == [("o1", "SOFA", 2, 0, 2)]
    assert result.summary.units_short == 2


def test_an_empty_inbox_is_a_night_with_nothing_to_do(site: Site) -> None:
    Path(site.inbox).mkdir()  # an inbox folder that does not exist is "not found"
    result = site.night()

    assert result.summary.status == "committed"
    assert result.load.files == [] and result.load.warnings == []
    assert (result.summary.files_read, result.summary.rows_read) == (0, 0)
    assert_accounted(site, result)


def test_an_inbox_of_empty_folders_is_a_night_with_nothing_to_do(site: Site) -> None:
    for kind in ("batches", "order_lines", "cancellations"):
        (Path(site.inbox) / kind).mkdir(parents=True)

    result = site.night()

    assert result.summary.status == "committed"
    assert result.load.files == [] and result.load.warnings == []


def test_the_same_content_under_a_second_name_is_skipped_as_already_ingested(
    site: Site,
) -> None:
    site.drop({**GOOD, BAD_CSV: csv(b"o1,CHAIR,1")})
    site.night()
    site.drop({"order_lines/bad (sent again).csv": csv(b"o1,CHAIR,1")})

    result = site.night(date(2026, 11, 27))

    assert_accounted(site, result)
    accounts = {site.key_of(f.location): (f.status, f.reason) for f in result.load.files}
    assert accounts == {
        "batches/good.csv": ("skipped", "already ingested"),
        BAD_CSV: ("skipped", "already ingested"),
        "order_lines/bad (sent again).csv": ("skipped", "already ingested"),
    }
    assert (result.summary.files_skipped, result.summary.rows_read) == (3, 0)
    assert site.query("SELECT count(*) AS n FROM order_lines")["n"].item() == 1


def test_the_same_content_twice_in_one_night_is_read_once(site: Site) -> None:
    site.drop({**GOOD, "batches/copy of good.csv": GOOD_BATCHES})

    result = site.night()

    assert_accounted(site, result)
    accounts = {site.key_of(f.location): (f.status, f.rows_read) for f in result.load.files}
    assert accounts == {
        "batches/copy of good.csv": ("loaded", 3),
        "batches/good.csv": ("skipped", 0),
    }


def test_a_changed_file_under_the_same_name_is_ingested_as_new(site: Site) -> None:
    site.drop({**GOOD, BAD_CSV: csv(b"o1,CHAIR,1")})
    site.night()
    site.drop({BAD_CSV: csv(b"o1,CHAIR,1", b"o2,LAMP,2")})

    result = site.night(date(2026, 11, 27))

    assert_accounted(site, result)
    accounts = {site.key_of(f.location): (f.status, f.rows_read) for f in result.load.files}
    assert accounts == {"batches/good.csv": ("skipped", 0), BAD_CSV: ("loaded", 2)}
    # o1 comes again with the same qty: a repeat, counted as loaded, not a second line.
    assert result.load.duplicate_lines == 1
    lines = site.query("SELECT order_id, run_id FROM order_lines ORDER BY arrival")
    assert lines["order_id"].to_list() == ["o1", "o2"]
    assert lines["run_id"][1] == result.summary.run_id


def test_a_line_sent_again_with_another_qty_is_rejected_naming_the_line_it_conflicts_with(
    site: Site,
) -> None:
    site.drop({**GOOD, BAD_CSV: csv(b"o1,CHAIR,1", b"o2,CHAIR,2", b"o2,CHAIR,3")})
    site.night()
    site.drop({"order_lines/later.csv": csv(b"o1,CHAIR,4")})

    result = site.night(date(2026, 11, 27))

    assert_accounted(site, result)
    reasons = site.query("SELECT file, row_number, reason FROM rejects ORDER BY file", None)
    assert reasons.rows() == [
        (
            "order_lines/bad.csv",
            3,
            "conflicts with existing line o2/CHAIR of qty 2: to change a line, cancel it and "
            "send a new one",
        ),
        (
            "order_lines/later.csv",
            1,
            "conflicts with existing line o1/CHAIR of qty 1: to change a line, cancel it and "
            "send a new one",
        ),
    ]


def test_an_inbox_that_cannot_be_opened_stops_the_night_with_a_one_line_error(
    site: Site,
) -> None:
    with pytest.raises(StorageError) as stopped:
        run_night(
            inbox_url="ftp://example.com/inbox",
            outbox_url=site.outbox,
            db=site.db,
            policy=Policy.SPLIT,
            run_date=FIRST_NIGHT,
        )

    message = str(stopped.value)
    assert "\n" not in message and "ftp://example.com/inbox" in message
    assert site.query("SELECT status, reason FROM runs", None).rows() == [("failed", message)]
