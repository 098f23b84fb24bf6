"""`allocation run` as the scheduler runs it: a process of its own, no Prefect server set up."""

from __future__ import annotations

import json
from pathlib import Path

from executable import (
    allocation_run,
    prefect_records_of,
    prefect_servers_of,
    runs_recorded,
    task_runs_of,
)
from s3server import S3Env
from scenario import SUMMARY, write_inbox

from allocation.adapters.storage import open_storage


def test_a_run_starts_prefects_temporary_server_allocates_and_leaves_no_server_behind(
    tmp_path: Path,
) -> None:
    write_inbox(open_storage(str(tmp_path / "inbox")))
    # A working directory holding another `allocation` (another checkout, say) is not where
    # the run's code is loaded from.
    decoy = tmp_path / "allocation"
    decoy.mkdir()
    (decoy / "__init__.py").write_text("raise ImportError('the decoy package was imported')\n")

    done = allocation_run(tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # quiet: Prefect's log lines go to its API, not the terminal
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
    assert done.stderr.startswith("error: Prefect's temporary server did not start")
    assert "set PREFECT_API_URL" in done.stderr
    assert done.stderr.strip().count("\n") == 0
    assert prefect_servers_of(tmp_path / "prefect-home") == []
    assert runs_recorded(tmp_path / "w.duckdb") == 0


def test_a_prefect_api_set_but_not_answering_is_one_line_and_status_7(tmp_path: Path) -> None:
    write_inbox(open_storage(str(tmp_path / "inbox")))
    nobody = "http://127.0.0.1:9/api"  # the discard port: nothing serves Prefect there

    done = allocation_run(tmp_path, PREFECT_API_URL=nobody)

    assert done.returncode == 7, done.stderr
    assert done.stderr.startswith(f"error: the Prefect API at {nobody} did not answer")
    assert done.stderr.strip().count("\n") == 0
    assert runs_recorded(tmp_path / "w.duckdb") == 0


def test_a_mistyped_local_inbox_is_not_found_in_one_line_not_an_empty_night(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "no" / "such" / "inbox"

    done = allocation_run(tmp_path, inbox=str(missing))

    assert done.returncode == 3, done.stderr
    assert done.stderr == f"error: cannot find file://{missing}: no such folder\n"
    assert not missing.exists()


def test_a_missing_bucket_is_one_line_and_status_3_without_retrying(
    tmp_path: Path, s3_env: S3Env
) -> None:
    done = allocation_run(tmp_path, inbox="s3://nosuch-bucket/inbox")

    assert done.returncode == 3, done.stderr
    assert done.stderr.startswith("error: cannot find s3://nosuch-bucket/inbox/")
    assert done.stderr.endswith("the bucket does not exist\n")
    assert done.stderr.count("\n") == 1
    # Tried once, and given up within seconds: no retries (2 + 5 + 15 s apart) of a 404.
    ((task, state, times_run, seconds),) = task_runs_of(tmp_path / "prefect-home")
    assert (task, state, times_run) == ("discover inputs", "FAILED", 1)
    assert seconds < 5
    assert prefect_servers_of(tmp_path / "prefect-home") == []


def test_an_inbox_with_nothing_new_is_an_ordinary_night(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()

    done = allocation_run(tmp_path)

    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["status"], summary["files_read"], summary["rows_read"]) == ("committed", 0, 0)
