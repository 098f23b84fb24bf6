"""The `allocation` executable run as a process of its own, and what it leaves in Prefect's home."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
from scenario import RUN_DATE

ALLOCATION = Path(sys.executable).with_name("allocation")
"""The console script `pip install` made, as an operator or a scheduler runs it."""


def allocation_run(
    root: Path, *options: str, inbox: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run `allocation run --json` from `root` (inbox, outbox, warehouse and Prefect home there).

    No Prefect API is set (Prefect starts its temporary server), unless `env` sets one.
    """
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_API", "ALLOCATION_", "PREFECT_SERVER_EPHEMERAL"))
    }
    command = [
        str(ALLOCATION),
        "run",
        "--inbox",
        inbox or str(root / "inbox"),
        "--outbox",
        str(root / "outbox"),
        "--db",
        str(root / "w.duckdb"),
        "--run-date",
        RUN_DATE.isoformat(),
        "--json",
        *options,
    ]
    # Output goes to files, not pipes: a run killed by SIGKILL leaves Prefect's temporary server
    # behind, holding the run's stdout and stderr open, and a pipe would never reach its end.
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        done = subprocess.run(
            command,
            stdout=stdout,
            stderr=stderr,
            timeout=300,
            cwd=root,
            env={**environment, "PREFECT_HOME": str(root / "prefect-home"), **env},
        )
        stdout.seek(0)
        stderr.seek(0)
        return subprocess.CompletedProcess(
            command, done.returncode, stdout.read().decode(), stderr.read().decode()
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


def stop_prefect_servers_of(prefect_home: Path) -> None:
    """Stop the temporary servers a killed run left behind (nothing stops them for it)."""
    for pid in prefect_servers_of(prefect_home):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


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


def task_runs_of(prefect_home: Path) -> list[tuple[str, str, int, float]]:
    """Task runs in Prefect's database: task, state, times run, seconds from start to end."""
    with contextlib.closing(sqlite3.connect(prefect_home / "prefect.db")) as database:
        rows = database.execute(
            "SELECT name, state_type, run_count, "
            "(julianday(end_time) - julianday(start_time)) * 86400 "
            "FROM task_run ORDER BY start_time"
        ).fetchall()
    return [(name.rsplit("-", 1)[0], state, count, seconds) for name, state, count, seconds in rows]


def runs_recorded(db: Path) -> int:
    """Runs the warehouse file records (0 if it has no `runs` table yet)."""
    with duckdb.connect(str(db), read_only=True) as connection:
        if not connection.sql("SELECT 1 FROM duckdb_tables() WHERE table_name = 'runs'").fetchall():
            return 0
        row = connection.execute("SELECT count(*) FROM runs").fetchone()
        return int(row[0]) if row else 0
