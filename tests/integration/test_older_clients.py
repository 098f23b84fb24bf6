"""The analysts' file opens in the DuckDB releases analysts' tools embed (1.4 LTS and newer).

Installs real older clients with pip into a temporary folder (so it needs the package
registry, and is slow): the `duckdb` 1.4.3 Python package and the DuckDB 1.5.6 command line
(the `duckdb-cli` package), then reads every table and view of a warehouse two nights old.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest
from warehouses import nights_into

from allocation.adapters import views

pytestmark = pytest.mark.slow

NIGHTS = (
    {
        "batches/n1.csv": (
            "reference,sku,purchased_quantity,eta\nst,CHAIR,6,\nship,CHAIR,20,2026-12-01\n"
        ),
        "order_lines/n1.csv": "order_id,sku,qty,priority\no1,CHAIR,4,0\no2,CHAIR,5,1\n",
    },
    {
        "batches/n2.csv": "reference,sku,purchased_quantity,eta\nlamp,LAMP,2,\n",
        "order_lines/n2.csv": "order_id,sku,qty\no3,LAMP,3\nbad,LAMP,0\n",
        "cancellations/n2.csv": "order_id,sku\no1,\n",
    },
)

READ_ALL = """
import json, sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print(json.dumps({"version": duckdb.__version__, "rows": {
    name: [[str(value) for value in row]
           for row in con.sql(f"SELECT * FROM {name} ORDER BY ALL").fetchall()]
    for name in sys.argv[2:]}}))
"""


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse two nights old, written by this release."""
    return nights_into(tmp_path_factory.mktemp("older-clients"), NIGHTS, date(2026, 11, 26))


def installed(target: Path, requirement: str) -> Path:
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps"]
    subprocess.run(
        [*pip, "--target", str(target), requirement],
        check=True,
        timeout=600,
    )
    return target


def names(db: Path) -> list[str]:
    with duckdb.connect(str(db), read_only=True) as con:
        tables = [name for (name,) in con.sql("SELECT table_name FROM duckdb_tables()").fetchall()]
    return sorted(tables) + [view.name for view in views.VIEWS]


def test_duckdb_1_4_reads_every_table_and_view_as_this_release_does(
    warehouse: Path, tmp_path: Path
) -> None:
    older = installed(tmp_path / "duckdb-1.4", "duckdb==1.4.3")
    everything = names(warehouse)

    def read_with(pythonpath: str | None) -> dict[str, object]:
        environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        if pythonpath:
            environment["PYTHONPATH"] = pythonpath
        done = subprocess.run(
            [sys.executable, "-c", READ_ALL, str(warehouse), *everything],
            capture_output=True,
            text=True,
            timeout=120,
            env=environment,
            check=True,
        )
        result: dict[str, object] = json.loads(done.stdout)
        return result

    theirs, ours = read_with(str(older)), read_with(None)
    assert theirs["version"] == "1.4.3"
    assert theirs["rows"] == ours["rows"]
    assert len(ours["rows"]) == len(everything)  # type: ignore[arg-type]


def test_the_duckdb_1_5_command_line_reads_every_table_and_view(
    warehouse: Path, tmp_path: Path
) -> None:
    cli = installed(tmp_path / "duckdb-cli", "duckdb-cli==1.5.6") / "duckdb_cli" / "duckdb"
    cli.chmod(0o755)
    for name in names(warehouse):
        done = subprocess.run(
            [str(cli), "-readonly", "-csv", str(warehouse), "-c", f"SELECT * FROM {name}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        with duckdb.connect(str(warehouse), read_only=True) as con:
            (expected,) = con.sql(f"SELECT count(*) FROM {name}").fetchall()[0]
        assert len(done.stdout.splitlines()) == expected + 1, name  # a header, then the rows
