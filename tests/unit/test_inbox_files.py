"""Parsing inbox files: bytes in; typed good rows, rejects with reasons and the accounting out."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from allocation.contracts.inputs import CONTRACTS
from allocation.parsing import REJECT_SCHEMA, InputKind, ParsedFile, parse_inbox_file

SAMPLE_INBOX = Path(__file__).parents[2] / "data" / "inbox"


def parse(data: bytes, kind: InputKind = "order_lines", name: str = "") -> ParsedFile:
    result = parse_inbox_file(kind, name or f"{kind}/2026-11-25.csv", data)
    assert_accounted(result)
    return result


def assert_accounted(result: ParsedFile) -> None:
    """Every row read is loaded or rejected, and each rejected row appears in rejects."""
    assert result.rejects.schema == REJECT_SCHEMA
    assert result.rows.schema == CONTRACTS[result.kind].schema
    assert result.rows_read == result.rows.height + result.rows_rejected
    if result.file_error is None:
        rejected = result.rejects.filter(pl.col("row_number").is_not_null())
        assert rejected["row_number"].n_unique() == result.rows_rejected
        assert set(rejected["row_number"]).isdisjoint(result.rows["row_number"])
        assert rejected.height == result.rejects.height
    else:
        assert result.rows.height == 0
        assert result.rejects.height == 1
        assert result.rejects["row_number"].to_list() == [None]
        assert result.rejects["reason"].to_list() == [result.file_error]


def parquet(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def lines(*rows: tuple[str, str, int, int, datetime | None, int]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=CONTRACTS["order_lines"].schema, orient="row")


def reasons(result: ParsedFile) -> list[str]:
    return result.rejects["reason"].to_list()


GOOD_LINES = lines(
    ("ORD-100001", "RED-CHAIR", 2, 1, utc(2026, 11, 25, 9, 30), 1),
    ("ORD-100001", "OAK-TABLE-140", 1, 0, None, 2),
    ("ORD-100002", "RED-CHAIR", 5, 0, utc(2026, 11, 25), 3),
)


# --- good files ------------------------------------------------------------------------------


def test_a_good_order_lines_csv_parses_to_typed_rows() -> None:
    result = parse(
        b"order_id,sku,qty,priority,ordered_at\n"
        b"ORD-100001,RED-CHAIR,2,1,2026-11-25T09:30:00Z\n"
        b"ORD-100001,OAK-TABLE-140,1,,\n"
        b"ORD-100002,RED-CHAIR,5,0,2026-11-25\n"
    )
    assert_frame_equal(result.rows, GOOD_LINES)
    assert (result.rows_read, result.rows_rejected, result.warnings) == (3, 0, ())


def test_a_good_order_lines_parquet_parses_to_the_same_typed_rows() -> None:
    frame = pl.DataFrame(
        {
            "order_id": ["ORD-100001", "ORD-100001", "ORD-100002"],
            "sku": ["RED-CHAIR", "OAK-TABLE-140", "RED-CHAIR"],
            "qty": [2, 1, 5],
            "priority": [1, None, 0],
            "ordered_at": [utc(2026, 11, 25, 9, 30), None, utc(2026, 11, 25)],
        }
    )
    result = parse(parquet(frame), name="order_lines/marketplace.parquet")
    assert_frame_equal(result.rows, GOOD_LINES)
    assert result.warnings == ()


def test_a_good_batches_csv_parses_with_a_blank_eta_meaning_in_stock() -> None:
    result = parse(
        b"reference,sku,purchased_quantity,eta\n"
        b"batch-2026-0001,RED-CHAIR,20,\n"
        b"batch-2026-0002,RED-CHAIR,0,2026-12-03\n",
        kind="batches",
    )
    expected = pl.DataFrame(
        [
            ("batch-2026-0001", "RED-CHAIR", 20, None, 1),
            ("batch-2026-0002", "RED-CHAIR", 0, date(2026, 12, 3), 2),
        ],
        schema=CONTRACTS["batches"].schema,
        orient="row",
    )
    assert_frame_equal(result.rows, expected)


def test_a_cancellation_with_a_blank_sku_cancels_the_whole_order() -> None:
    result = parse(b"order_id,sku\nORD-100001,\nORD-100002,RED-CHAIR\n", kind="cancellations")
    expected = pl.DataFrame(
        [("ORD-100001", None, 1), ("ORD-100002", "RED-CHAIR", 2)],
        schema=CONTRACTS["cancellations"].schema,
        orient="row",
    )
    assert_frame_equal(result.rows, expected)


def test_cancellations_may_leave_out_the_sku_column() -> None:
    result = parse(b"order_id\nORD-100001\n", kind="cancellations")
    assert result.rows["sku"].to_list() == [None]


def test_missing_optional_columns_take_their_defaults() -> None:
    result = parse(b"order_id,sku,qty\nORD-1,RED-CHAIR,2\n")
    assert result.rows.select("priority", "ordered_at").row(0) == (0, None)


def test_timestamps_with_a_zone_are_converted_to_utc_and_without_one_are_utc() -> None:
    result = parse(
        b"order_id,sku,qty,ordered_at\n"
        b"A,X,1,2026-11-25T10:00:00+01:00\n"
        b"B,X,1,2026-11-25T10:00:00.250-0530\n"
        b"C,X,1,2026-11-25 10:00\n"
        b"D,X,1,2026-11-25T10:00:00.123Z\n"
    )
    assert result.rows["ordered_at"].to_list() == [
        utc(2026, 11, 25, 9),
        datetime(2026, 11, 25, 15, 30, 0, 250_000, tzinfo=UTC),
        utc(2026, 11, 25, 10),
        datetime(2026, 11, 25, 10, 0, 0, 123_000, tzinfo=UTC),
    ]


def test_parquet_timestamps_in_another_zone_are_converted_to_utc() -> None:
    frame = pl.DataFrame(
        {"order_id": ["A"], "sku": ["X"], "qty": [1], "ordered_at": [datetime(2026, 11, 25, 10)]}
    ).with_columns(pl.col("ordered_at").dt.replace_time_zone("Europe/Paris"))
    result = parse(parquet(frame), name="order_lines/m.parquet")
    assert result.rows["ordered_at"].to_list() == [utc(2026, 11, 25, 9)]


def test_duplicate_batch_references_are_left_to_the_caller() -> None:
    result = parse(
        b"reference,sku,purchased_quantity,eta\nb-1,RED-CHAIR,5,\nb-1,RED-CHAIR,7,\n",
        kind="batches",
    )
    assert result.rows["reference"].to_list() == ["b-1", "b-1"]


# --- rejects ---------------------------------------------------------------------------------


def test_a_bad_quantity_is_rejected_with_a_reason_a_person_can_act_on() -> None:
    result = parse(b"order_id,sku,qty\nORD-1,RED-CHAIR,2.5\nORD-2,RED-CHAIR,3\n")
    expected = pl.DataFrame(
        [
            (
                "order_lines/2026-11-25.csv",
                1,
                "qty",
                "whole_number_greater_than_0",
                "2.5",
                "qty must be a whole number greater than 0, got '2.5'",
            )
        ],
        schema=REJECT_SCHEMA,
        orient="row",
    )
    assert_frame_equal(result.rejects, expected)
    assert result.rows["order_id"].to_list() == ["ORD-2"]


def test_a_row_failing_two_checks_has_two_rejects_but_counts_once() -> None:
    result = parse(b"order_id,sku,qty\nORD-1,,0\n")
    assert reasons(result) == [
        "sku must not be blank",
        "qty must be a whole number greater than 0, got '0'",
    ]
    assert (result.rows_read, result.rows_rejected) == (1, 1)


def test_row_numbers_count_records_after_the_header_including_blank_lines() -> None:
    result = parse(b"order_id,sku,qty\nA,X,1\n\nB,X,0\n")
    assert result.rejects["row_number"].to_list() == [3]
    assert result.rows["row_number"].to_list() == [1]


def test_a_rejected_file_has_one_file_level_reject_and_no_rows() -> None:
    result = parse(b"order_id,sku,qtty\nA,X,1\nB,X,2\n")
    assert result.file_error == "missing required column 'qty' (found: order_id, sku, qtty)"
    assert result.rejects.row(0) == (
        "order_lines/2026-11-25.csv",
        None,
        "qty",
        "required_column",
        None,
        result.file_error,
    )
    assert (result.rows_read, result.rows_rejected) == (2, 2)


@dataclass(frozen=True)
class Case:
    """A file and what parsing it must give: counts, and words the reason or warning holds."""

    data: bytes
    rows_read: int
    loaded: int
    says: str | None = None  # in the file error, else in some reject reason
    warns: str | None = None
    kind: InputKind = "order_lines"
    name: str = "order_lines/2026-11-25.csv"
    file_error: bool = False


HEADER = b"order_id,sku,qty\n"
BATCHES = b"reference,sku,purchased_quantity,eta\n"
TRUNCATED = parquet(pl.DataFrame({"order_id": ["A"] * 50, "sku": ["X"] * 50, "qty": [1] * 50}))

CASES = {
    "empty file": Case(b"", 0, 0, "file is empty (0 bytes)", file_error=True),
    "zero-byte parquet": Case(
        b"", 0, 0, "file is empty (0 bytes)", name="o/x.parquet", file_error=True
    ),
    "only a newline": Case(b"\n", 0, 0, "no header line", file_error=True),
    "header only": Case(HEADER, 0, 0),
    "header only, no final newline": Case(b"order_id,sku,qty", 0, 0),
    "missing column": Case(
        b"order_id,sku\nA,X\n",
        1,
        0,
        "missing required column 'qty' (found: order_id, sku)",
        file_error=True,
    ),
    "misspelled header": Case(
        b"order_id,sku,qtty\nA,X,1\n", 1, 0, "(found: order_id, sku, qtty)", file_error=True
    ),
    "header in other case": Case(
        b"order_id,sku,QTY\nA,X,1\n", 1, 0, "names are case-sensitive", file_error=True
    ),
    "semicolon delimiter": Case(
        b"order_id;sku;qty\nA;X;1\n", 1, 0, "separated by ';'", file_error=True
    ),
    "repeated column": Case(
        b"order_id,sku,qty,qty\nA,X,1,2\n",
        1,
        0,
        "column 'qty' appears 2 times",
        file_error=True,
    ),
    "extra columns": Case(
        b"order_id,colour,sku,qty\nA,red,X,1\n", 1, 1, warns="ignored unknown column(s): colour"
    ),
    "other column order": Case(b"qty,sku,order_id\n1,X,A\n", 1, 1),
    "UTF-8 byte-order mark": Case(b"\xef\xbb\xbf" + HEADER + b"A,X,1\n", 1, 1),
    "Latin-1 bytes": Case(HEADER + b"A,CAF\xc9-TABLE,1\n", 1, 1, warns="not UTF-8 (byte 0xC9"),
    "CRLF line ends": Case(b"order_id,sku,qty\r\nA,X,1\r\nB,X,2\r\n", 2, 2),
    "CR-only line ends": Case(b"order_id,sku,qty\rA,X,1\r", 0, 0, "CR-only", file_error=True),
    "quoted comma and newline": Case(HEADER + b'"A,1","X\nY",1\n', 1, 1),
    "unclosed quote": Case(HEADER + b'"A,X,1\nB,X,2\n', 0, 0, "unclosed quote", file_error=True),
    "trailing delimiter": Case(HEADER + b"A,X,1,\nB,X,2,\n", 2, 2),
    "trailing delimiter on the header too": Case(
        b"order_id,sku,qty,\nA,X,1,\n", 1, 1, warns="blank header"
    ),
    "too many fields": Case(
        HEADER + b"A,X,1\nA,Chair, red,2\n", 2, 1, "more fields than the header's 3"
    ),
    "too few fields": Case(HEADER + b"A,X\n", 1, 0, "qty must not be blank"),
    "whitespace around values": Case(b" order_id , sku ,qty\n  A ,\tX , 1 \n", 1, 1),
    "blank lines": Case(HEADER + b"\nA,X,1\n   \n,,\nB,X,2\n\n", 2, 2, warns="skipped 4 blank"),
    "qty 0": Case(HEADER + b"A,X,0\n", 1, 0, "qty must be a whole number greater than 0, got '0'"),
    "qty negative": Case(HEADER + b"A,X,-3\n", 1, 0, "got '-3'"),
    "qty decimal": Case(HEADER + b"A,X,2.5\n", 1, 0, "got '2.5'"),
    "qty beyond int64": Case(HEADER + b"A,X,99999999999999999999\n", 1, 0, "99999999999999999999"),
    "qty not a number": Case(HEADER + b"A,X,abc\n", 1, 0, "got 'abc'"),
    "blank order_id": Case(HEADER + b",X,1\n", 1, 0, "order_id must not be blank"),
    "whitespace-only sku": Case(HEADER + b"A,   ,1\n", 1, 0, "sku must not be blank"),
    "priority not a number": Case(
        b"order_id,sku,qty,priority\nA,X,1,high\n", 1, 0, "priority must be a whole number"
    ),
    "timestamp with zone": Case(
        b"order_id,sku,qty,ordered_at\nA,X,1,2026-11-25T10:00:00+01:00\n", 1, 1
    ),
    "timestamp without zone": Case(b"order_id,sku,qty,ordered_at\nA,X,1,2026-11-25T10:00\n", 1, 1),
    "timestamp in another format": Case(
        b"order_id,sku,qty,ordered_at\nA,X,1,25/11/2026 10:00\n",
        1,
        0,
        "ordered_at must be an ISO-8601 timestamp",
    ),
    "impossible timestamp": Case(
        b"order_id,sku,qty,ordered_at\nA,X,1,2026-11-25T25:00:00Z\n", 1, 0, "25:00:00"
    ),
    "purchased quantity 0": Case(BATCHES + b"b-1,X,0,\n", 1, 1, kind="batches"),
    "purchased quantity negative": Case(
        BATCHES + b"b-1,X,-1,\n", 1, 0, "whole number of at least 0, got '-1'", kind="batches"
    ),
    "date in another format": Case(
        BATCHES + b"b-1,X,5,26/11/2026\n",
        1,
        0,
        "eta must be a real date written YYYY-MM-DD",
        kind="batches",
    ),
    "impossible date": Case(
        BATCHES + b"b-1,X,5,2026-02-30\n", 1, 0, "'2026-02-30'", kind="batches"
    ),
    "blank cancellation order_id": Case(
        b"order_id,sku\n,X\n", 1, 0, "order_id must not be blank", kind="cancellations"
    ),
    "truncated parquet": Case(
        TRUNCATED[: len(TRUNCATED) // 2],
        0,
        0,
        "truncated or corrupt",
        name="o/x.parquet",
        file_error=True,
    ),
    "corrupt parquet footer": Case(
        TRUNCATED[:-12] + b"\x00" * 8 + b"PAR1",
        0,
        0,
        "truncated or corrupt",
        name="o/x.parquet",
        file_error=True,
    ),
    "CSV under a .parquet name": Case(
        HEADER + b"A,X,1\n", 0, 0, "not Parquet", name="o/x.parquet", file_error=True
    ),
    "Parquet under a .csv name": Case(TRUNCATED, 0, 0, "name it .parquet", file_error=True),
    "unsupported file type": Case(
        HEADER, 0, 0, "unsupported file type '.xlsx'", name="o/x.xlsx", file_error=True
    ),
    "wrong parquet types": Case(
        parquet(pl.DataFrame({"order_id": ["A", "B"], "sku": ["X", "X"], "qty": [2.0, 2.5]})),
        2,
        0,
        "got '2.5'",
        warns="column 'qty' has Parquet type Float64",
        name="o/x.parquet",
    ),
    "nested parquet column": Case(
        parquet(pl.DataFrame({"order_id": ["A"], "sku": [["X", "Y"]], "qty": [1]})),
        1,
        0,
        "column 'sku' has the nested Parquet type List(String)",
        name="o/x.parquet",
        file_error=True,
    ),
    "nested extra parquet column": Case(
        parquet(pl.DataFrame({"order_id": ["A"], "sku": ["X"], "qty": [1], "tags": [["a"]]})),
        1,
        1,
        warns="ignored unknown column(s): tags",
        name="o/x.parquet",
    ),
    "parquet missing column": Case(
        parquet(pl.DataFrame({"order_id": ["A"], "sku": ["X"]})),
        1,
        0,
        "missing required column 'qty'",
        name="o/x.parquet",
        file_error=True,
    ),
    "parquet with no contract columns": Case(
        parquet(pl.DataFrame({"other": [1, 2]})),
        2,
        0,
        "(found: other)",
        name="o/x.parquet",
        file_error=True,
    ),
    "parquet blank values": Case(
        parquet(pl.DataFrame({"order_id": ["A", " "], "sku": ["X", "X"], "qty": [1, 1]})),
        2,
        1,
        "order_id must not be blank",
        name="o/x.parquet",
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_each_kind_of_bad_file_gives_its_documented_outcome(case: Case) -> None:
    result = parse(case.data, kind=case.kind, name=case.name)
    assert (result.rows_read, result.rows.height) == (case.rows_read, case.loaded)
    assert (result.file_error is not None) == case.file_error
    if case.says is not None:
        said = [result.file_error] if case.file_error else reasons(result)
        assert any(case.says in reason for reason in said if reason), said
    if case.warns is not None:
        assert any(case.warns in warning for warning in result.warnings), result.warnings


def test_a_value_with_a_quoted_comma_and_newline_is_kept_whole() -> None:
    result = parse(HEADER + b'"A,1","X\nY",1\n')
    assert result.rows.select("order_id", "sku").row(0) == ("A,1", "X\nY")


def test_values_and_header_names_are_trimmed() -> None:
    result = parse(b" order_id , sku ,qty\n  A ,\tX , 1 \n")
    assert result.rows.select("order_id", "sku", "qty").row(0) == ("A", "X", 1)


def test_latin_1_text_is_read_as_its_characters() -> None:
    result = parse(HEADER + b"A,CAF\xc9-TABLE,1\n")
    assert result.rows["sku"].to_list() == ["CAFÉ-TABLE"]


# --- the committed sample inbox ------------------------------------------------------------------


@pytest.fixture
def sample_inbox() -> Path:
    """The sample inbox committed under data/inbox (made by data/make_sample.py)."""
    return SAMPLE_INBOX


def test_the_sample_inbox_parses_with_only_its_deliberate_bad_rows_rejected(
    sample_inbox: Path,
) -> None:
    outcomes = {}
    for path in sorted(sample_inbox.rglob("*")):
        if path.suffix in (".csv", ".parquet"):
            kind: InputKind = path.parent.name  # type: ignore[assignment]
            key = path.relative_to(sample_inbox).as_posix()
            result = parse_inbox_file(kind, key, path.read_bytes())
            assert_accounted(result)
            assert result.file_error is None and result.warnings == ()
            outcomes[key] = sorted(set(result.rejects["check"]))
    assert outcomes == {
        "batches/2026-11-25.csv": ["iso_date"],
        "cancellations/2026-11-25.csv": [],
        "order_lines/2026-11-25-marketplace.parquet": [],
        "order_lines/2026-11-25.csv": ["not_blank", "whole_number_greater_than_0"],
    }
