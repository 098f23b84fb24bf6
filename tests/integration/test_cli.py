"""The operators' commands, driven through the real CLI against a DuckDB file and a local outbox.

Checked here: exit statuses, `--json` output that parses, and failures told in one line on
stderr, never with a traceback. What the operations do is checked in the unit tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner, Result

from allocation.adapters import snapshot
from allocation.adapters.schema import SchemaTooNew
from allocation.adapters.storage import (
    StorageAccessDenied,
    StorageError,
    StorageNotFound,
    StorageUnavailable,
)
from allocation.adapters.warehouse import DuckDBWarehouse, WarehouseBusy
from allocation.domain.model import InvalidQuantity, OutOfStock, UnknownSku
from allocation.entrypoints.cli import Exit, app
from allocation.entrypoints.exits import InvalidOption, PrefectUnavailable, exit_status
from allocation.service_layer import operations
from allocation.service_layer.errors import Conflict, InvalidInput, NotFound


class Cli:
    """The `allocation` command on one warehouse file and outbox folder."""

    def __init__(self, folder: Path) -> None:
        self.db = folder / "warehouse.duckdb"
        self.outbox = folder / "outbox"
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        """Run a command with this warehouse (and outbox, for commands that publish)."""
        publishes = args[0] in ("allocate", "deallocate") or args[:2] in (
            ("batches", "add"),
            ("batches", "delete"),
        )
        where = ["--db", str(self.db)] + (["--outbox", str(self.outbox)] if publishes else [])
        return self.runner.invoke(app, [*args, *where])

    def json(self, *args: str) -> Any:
        """Run a command with `--json`; it must succeed and print one JSON document."""
        result = self(*args, "--json")
        assert result.exit_code == Exit.OK, result.output
        return json.loads(result.stdout)


@pytest.fixture(autouse=True)
def no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for setting in ("DB", "OUTBOX", "POLICY", "BUSY_TIMEOUT"):
        monkeypatch.delenv(f"ALLOCATION_{setting}", raising=False)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """The command on a fresh folder: no warehouse file yet."""
    return Cli(tmp_path)


@pytest.fixture(scope="module")
def refusing_cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """The command on an empty warehouse shared by tests whose commands all fail."""
    cli = Cli(tmp_path_factory.mktemp("refusals"))
    with DuckDBWarehouse(cli.db) as warehouse:
        warehouse.commit()
    return cli


def assert_fails(result: Result, status: Exit, says: str) -> None:
    """The command failed with `status`, one line on stderr saying `says`, no traceback."""
    assert result.exit_code == status, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    assert says in result.stderr
    assert "Traceback" not in result.output


def test_a_batch_added_is_listed_and_shown_in_json(cli: Cli) -> None:
    added = cli.json("batches", "add", "b-ship", "CHAIR", "5", "--eta", "2026-12-01")
    assert added["batch"]["eta"] == "2026-12-01"
    assert added["published"][-1].endswith(f"{added['run_id']}.json")

    assert [b["reference"] for b in cli.json("batches", "list", "--inbound")] == ["b-ship"]
    assert cli.json("batches", "list", "--in-stock") == []
    assert cli.json("batches", "show", "b-ship")["available"] == 5


def test_a_line_is_allocated_shown_and_released_in_json(cli: Cli) -> None:
    cli("batches", "add", "b-stock", "CHAIR", "10")
    allocated = cli.json("allocate", "o1", "CHAIR", "4", "--priority", "-1")
    assert allocated["allocations"] == [
        {"order_id": "o1", "sku": "CHAIR", "batch_ref": "b-stock", "qty": 4, "status": "picked"}
    ]
    assert list(cli.outbox.glob(f"pick_lists/run_date=*/{allocated['run_id']}.parquet"))

    released = cli.json("deallocate", "o1")
    assert [h["qty"] for h in released["withdrawn"]] == [4]
    (line,) = cli.json("lines", "show", "o1")
    assert (line["status"], line["picked"], line["short"]) == ("open", 0, 4)
    assert cli.json("runs", "list", "--limit", "1")[0]["run_id"] == released["run_id"]
    assert cli.json("runs", "show", released["run_id"])["status"] == "committed"
    assert cli.json("check") == {"violations": []}


def test_a_partial_fill_is_told_as_a_backorder(cli: Cli) -> None:
    cli("batches", "add", "b-stock", "CHAIR", "3")
    result = cli("allocate", "o1", "CHAIR", "5")
    assert result.exit_code == Exit.OK, result.output
    assert "Short 2 units" in result.stdout
    assert "pick_lists/run_date=" in result.stdout  # where it was published


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("batches", "add", "b1", "CHAIR", "-5"), "purchased_quantity must be a whole number"),
        (("batches", "add", "b1", "CHAIR", "5", "--eta", "2026-13-01"), "eta must be a real"),
        (("batches", "add", "b1", "CHAIR", "five"), "Invalid value for 'qty'"),
        (("allocate", "o1", "CHAIR", "0"), "qty must be a whole number greater than 0"),
        (("allocate", "o1", "CHAIR", "1", "--policy", "best"), "Invalid value for '--policy'"),
        (("batches", "list", "--in-stock", "--inbound"), "not both"),
    ],
)
def test_invalid_input_exits_2(refusing_cli: Cli, args: tuple[str, ...], says: str) -> None:
    assert_fails(refusing_cli(*args), Exit.INVALID, says)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("batches", "show", "b-none"), "no batch b-none"),
        (("batches", "delete", "b-none"), "no batch b-none"),
        (("allocate", "o1", "SOFA", "1"), "Unknown sku SOFA"),
        (("deallocate", "o1"), "order o1 has nothing allocated"),
        (("lines", "show", "o1"), "no order o1"),
        (("runs", "show", "r1"), "no run r1"),
    ],
)
def test_what_does_not_exist_exits_3(refusing_cli: Cli, args: tuple[str, ...], says: str) -> None:
    assert_fails(refusing_cli(*args), Exit.NOT_FOUND, says)


def test_only_adding_a_batch_starts_a_warehouse_file(cli: Cli) -> None:
    assert_fails(cli("batches", "list"), Exit.NOT_FOUND, "no warehouse at")
    assert_fails(cli("allocate", "o1", "CHAIR", "1"), Exit.NOT_FOUND, "no warehouse at")
    assert not cli.db.exists()
    assert cli("batches", "add", "b-stock", "CHAIR", "10").exit_code == Exit.OK
    assert cli.db.exists()


def test_the_warehouse_defaults_to_the_allocation_db_setting(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli("batches", "add", "b-stock", "CHAIR", "10")
    monkeypatch.setenv("ALLOCATION_DB", str(cli.db))
    result = cli.runner.invoke(app, ["batches", "list", "--json"])
    assert [b["reference"] for b in json.loads(result.stdout)] == ["b-stock"]


def test_conflicts_exit_4(cli: Cli) -> None:
    cli("batches", "add", "b-stock", "CHAIR", "2")
    cli("allocate", "o1", "CHAIR", "2")
    assert_fails(cli("batches", "add", "b-stock", "LAMP", "1"), Exit.CONFLICT, "already exists")
    assert_fails(cli("allocate", "o2", "CHAIR", "1"), Exit.CONFLICT, "Out of stock for sku CHAIR")
    assert_fails(cli("allocate", "o1", "CHAIR", "3"), Exit.CONFLICT, "conflicts with existing line")
    assert_fails(cli("batches", "delete", "b-stock"), Exit.CONFLICT, "2 units picked")
    assert cli("batches", "delete", "b-stock", "--force").exit_code == Exit.OK


def test_check_names_every_violation_and_exits_4(cli: Cli) -> None:
    cli("batches", "add", "b-stock", "CHAIR", "2")
    cli("allocate", "o1", "CHAIR", "2")
    master = str(snapshot.Layout(cli.db).master)  # the writers' file, not the analysts' copy
    with duckdb.connect(master) as connection:  # break two rules behind the CLI's back
        connection.execute("UPDATE batches SET purchased_quantity = 1")
        connection.execute("UPDATE allocations SET sku = 'LAMP'")
        connection.execute("INSERT INTO order_lines SELECT * FROM order_lines")  # no key holds it
    result = cli("check")
    assert_fails(result, Exit.CONFLICT, "invariant violation(s) found")
    assert "batch allocated beyond its purchased quantity" in result.stdout
    assert "allocation to a batch of another sku" in result.stdout
    assert "order line stored more than once: order_id=o1, sku=CHAIR, times=2" in result.stdout


def test_a_busy_warehouse_refuses_changes_with_5_naming_its_holder_and_still_answers_look_ups(
    cli: Cli,
) -> None:
    cli("batches", "add", "b-stock", "CHAIR", "10")
    holder = subprocess.Popen(  # another process holding the file, as a running night would
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(snapshot.Layout(cli.db).master)!r}); "
            "print('ready', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        for args in (("batches", "add", "b-2", "CHAIR", "1"), ("allocate", "o1", "CHAIR", "1")):
            busy = cli(*args)
            assert_fails(busy, Exit.BUSY, f"held by process {holder.pid}")
            assert "retry later" in busy.stderr
        listed = cli.json("batches", "list")  # look-ups read the published snapshot: no wait
        assert [batch["reference"] for batch in listed] == ["b-stock"]
    finally:
        holder.kill()
        holder.communicate()
    assert cli("lines", "show", "o1").exit_code == Exit.NOT_FOUND  # nothing was recorded


def test_the_command_in_a_process_of_its_own_prints_json(cli: Cli) -> None:
    cli("batches", "add", "b-stock", "CHAIR", "10")
    command = [sys.executable, "-m", "allocation.entrypoints.cli", "allocate", "o1", "CHAIR"]
    where = ["--db", str(cli.db), "--outbox", str(cli.outbox)]
    done = subprocess.run(
        [*command, "3", "--json", *where], capture_output=True, text=True, check=False
    )
    assert done.returncode == Exit.OK, done.stderr
    assert json.loads(done.stdout)["line"]["picked"] == 3


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidInput("qty must be a whole number"), Exit.INVALID),
        (InvalidQuantity("qty 0"), Exit.INVALID),
        (InvalidOption("--run-date must be YYYY-MM-DD"), Exit.INVALID),
        (NotFound("no batch b1"), Exit.NOT_FOUND),
        (UnknownSku("SOFA"), Exit.NOT_FOUND),
        (StorageNotFound("no bucket"), Exit.NOT_FOUND),
        (Conflict("already exists"), Exit.CONFLICT),
        (OutOfStock("CHAIR", 2, 0), Exit.CONFLICT),
        (SchemaTooNew("version 9"), Exit.CONFLICT),
        (WarehouseBusy("busy"), Exit.BUSY),
        (StorageAccessDenied("denied"), Exit.STORAGE),
        (StorageUnavailable("refused"), Exit.STORAGE),
        (StorageError("failed"), Exit.STORAGE),
        (PrefectUnavailable("did not start"), Exit.PREFECT),
        (ValueError("a bug"), None),
        (KeyError("a bug"), None),
        (RuntimeError("a bug"), None),
    ],
)
def test_only_the_products_own_errors_have_an_exit_status(
    error: Exception, status: Exit | None
) -> None:
    assert exit_status(error) == status


def test_a_plain_value_error_from_inside_is_a_bug_status_1_not_invalid_input(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli("batches", "add", "b-stock", "CHAIR", "10")

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("a bug deep inside")

    monkeypatch.setattr(operations, "list_batches", broken)
    result = cli("batches", "list")

    assert result.exit_code == Exit.UNEXPECTED
    assert isinstance(result.exception, ValueError)  # raised on, so Python prints its traceback
    assert "error: " not in result.stderr


def test_a_setting_from_the_environment_that_is_not_a_number_is_invalid_input(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLOCATION_BUSY_TIMEOUT", "soon")
    assert_fails(cli("batches", "list"), Exit.INVALID, "ALLOCATION_BUSY_TIMEOUT: ")
