"""`prefect.yaml` deployed for real: a Prefect server, a process work pool, a worker, a run.

The README's "Schedule it" steps, on 127.0.0.1 with a temporary Prefect home and temporary data
folders: `prefect server start`, `prefect work-pool create --type process`, `prefect deploy`
of this checkout's `prefect.yaml`, `prefect worker start`, then a run of the deployment that
completes and writes the pick list.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from executable import prefect_records_of
from polars.testing import assert_frame_equal
from s3server import free_port
from scenario import PICK_LIST, RUN_DATE, write_inbox

from allocation.adapters.storage import open_storage

ROOT = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).with_name("prefect"))

pytestmark = pytest.mark.slow


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def started(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(command, env=env, cwd=ROOT, stdout=output, stderr=output)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def prefect(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [PREFECT, "--no-prompt", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture
def prefect_server(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A real `prefect server start` on a free port; the environment that talks to it."""
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ALLOCATION_"))}
    base |= {
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "INFO",
    }
    server = started(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        {**base, "PREFECT_UI_ENABLED": "false"},
        tmp_path / "server.log",
    )
    try:
        deadline = time.monotonic() + 180
        while not answers(f"{api}/health"):
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, "the Prefect server did not start in 180 s"
            time.sleep(0.5)
        yield {**base, "PREFECT_API_URL": api}
    finally:
        stop(server)


def test_the_deployment_runs_on_a_process_worker_and_writes_the_pick_list(
    tmp_path: Path, prefect_server: dict[str, str]
) -> None:
    env = {**prefect_server, "ALLOCATION_HOME": str(ROOT), "PREFECT_WORKER_QUERY_SECONDS": "1"}
    write_inbox(open_storage(str(tmp_path / "inbox")))
    where = {
        "inbox_url": str(tmp_path / "inbox"),
        "outbox_url": str(tmp_path / "outbox"),
        "db": str(tmp_path / "warehouse.duckdb"),
        "run_date": RUN_DATE.isoformat(),
    }

    prefect("work-pool", "create", "warehouse-process", "--type", "process", env=env)
    prefect("deploy", "--name", "nightly", env=env)
    worker = started(
        [PREFECT, "worker", "start", "--pool", "warehouse-process"], env, tmp_path / "worker.log"
    )
    try:
        prefect(
            "deployment",
            "run",
            "nightly-allocation/nightly",
            "--params",
            json.dumps(where),
            "--watch",
            "--watch-timeout",
            "240",
            env=env,
        )
    finally:
        stop(worker)

    pool = prefect("work-pool", "inspect", "warehouse-process", env=env)
    assert "type='process'" in pool
    deployment = prefect("deployment", "inspect", "nightly-allocation/nightly", env=env)
    assert "'busy_timeout': 600" in deployment
    flow_runs, task_runs, _ = prefect_records_of(tmp_path / "prefect-home")
    # The run asked for completed; the schedule has put the next nights' runs in line.
    assert [run for run in flow_runs if run[1] != "SCHEDULED"] == [
        ("nightly-allocation", "COMPLETED")
    ]
    assert ("nightly-allocation", "SCHEDULED") in flow_runs
    assert ("publish", "COMPLETED") in task_runs
    (pick_list,) = (tmp_path / "outbox").glob(f"pick_lists/run_date={RUN_DATE}/*.parquet")
    assert_frame_equal(pl.read_parquet(pick_list).drop("pick_list_id"), PICK_LIST)
