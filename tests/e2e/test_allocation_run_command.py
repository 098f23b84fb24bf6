"""`allocation run` as the scheduler runs it: a process of its own, no Prefect server set up."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import duckdb
from scenario import RUN_DATE, SUMMARY, write_inbox

from allocation.adapters.storage import open_storage


def allocation_run(root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `allocation run` from `root` as the working directory, as a console script would.

    `-P` keeps the working directory off the module path, as for the `allocation` script.
    """
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    return subprocess.run(
        [
            sys.executable,
            "-P",
            "-m",
            "allocation.entrypoints.main",
            "run",
            "--inbox",
            str(root / "inbox"),
            "--outbox",
            str(root / "outbox"),
            "--db",
            str(root / "w.duckdb"),
            "--run-date",
            RUN_DATE.isoformat(),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=root,
        env={**environment, "PREFECT_HOME": str(root / "prefect-home"), **env},
    )


def prefect_servers_of(prefect_home: Path) -> list[int]:
    """Processes still serving Prefect's API for this Prefect home."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes()
            environment = (proc / "environ").read_bytes()
        except (OSError, ValueError):
            continue
        if (
            b"uvicorn" in command
            and b"create_app" in command
            and (f"PREFECT_HOME={prefect_home}".encode() in environment.split(b"\0"))
        ):
            found.append(int(proc.name))
    return found


def prefect_records_of(
    prefect_home: Path,
) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
    """Flow runs (flow, state), task runs (task, state) and artifacts in Prefect's database."""
    with contextlib.closing(sqlite3.connect(prefect_home / "prefect.db")) as database:
        flow_runs = database.execute(
            "SELECT flow.name, flow_run.state_type FROM flow_run JOIN flow ON flow.id = flow_id"
        ).fetchall()
        task_runs = database.execute(
            "SELECT name, state_type FROM task_run ORDER BY start_time"
        ).fetchall()
        artifacts = database.execute("SELECT key, type FROM artifact").fetchall()
    return flow_runs, [(name.rsplit("-", 1)[0], state) for name, state in task_runs], artifacts


def test_a_run_starts_its_own_prefect_server_allocates_and_leaves_no_server_behind(
    tmp_path: Path,
) -> None:
    write_inbox(open_storage(str(tmp_path / "inbox")))
    # A working directory holding another `allocation` (another checkout, say) is not where
    # the server's code is loaded from.
    decoy = tmp_path / "allocation"
    decoy.mkdir()
    (decoy / "__init__.py").write_text("raise ImportError('the decoy package was imported')\n")

    done = allocation_run(tmp_path)

    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert {k: v for k, v in summary.items() if k in SUMMARY} == SUMMARY
    assert (tmp_path / "outbox" / summary["report"].rsplit("outbox/", 1)[1]).exists()
    assert prefect_servers_of(tmp_path / "prefect-home") == []
    # What an operator looks for in Prefect afterwards was recorded by the temporary server.
    flow_runs, task_runs, artifacts = prefect_records_of(tmp_path / "prefect-home")
    assert flow_runs == [("nightly-allocation", "COMPLETED")]
    assert task_runs == [
        (task, "COMPLETED")
        for task in [
            "discover inputs",
            "fetch inputs",
            "validate and load",
            "allocate",
            "commit",
            "publish",
            "publish report",
        ]
    ]
    assert artifacts == [("nightly-allocation", "markdown")]


def test_a_prefect_server_that_does_not_start_in_time_is_one_line_and_status_7(
    tmp_path: Path,
) -> None:
    write_inbox(open_storage(str(tmp_path / "inbox")))

    done = allocation_run(tmp_path, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="1")

    assert done.returncode == 7, done.stderr
    assert done.stderr.startswith("error: Prefect's temporary server did not answer within 1 s")
    assert "set PREFECT_API_URL" in done.stderr
    assert done.stderr.strip().count("\n") == 0
    assert prefect_servers_of(tmp_path / "prefect-home") == []
    assert runs_recorded(tmp_path / "w.duckdb") == 0


def runs_recorded(db: Path) -> int:
    with duckdb.connect(str(db), read_only=True) as connection:
        if not connection.sql("SELECT 1 FROM duckdb_tables() WHERE table_name = 'runs'").fetchall():
            return 0
        row = connection.execute("SELECT count(*) FROM runs").fetchone()
        return int(row[0]) if row else 0
