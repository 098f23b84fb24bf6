"""prefect.yaml deploys the flow that exists, on the schedule it says, with valid parameters.

`tests/e2e/test_prefect_deployment.py` (slow) deploys it for real on a Prefect server.
"""

from __future__ import annotations

import inspect
import os
import re
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML (a Prefect dependency) ships no hints
from prefect.client.schemas.schedules import CronSchedule
from prefect.flows import Flow, load_flow_from_entrypoint

from allocation.config import Settings
from flows.nightly import nightly

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def nightly_deployment() -> dict[str, object]:
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    (deployment,) = [d for d in config["deployments"] if d["name"] == "nightly"]
    return dict(deployment)


def test_the_nightly_deployment_points_at_the_nightly_flow(
    nightly_deployment: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    flow: Flow[..., object] = load_flow_from_entrypoint(str(nightly_deployment["entrypoint"]))
    assert flow.name == "nightly-allocation"


def test_the_nightly_deployment_runs_at_two_every_morning_in_an_explicit_timezone(
    nightly_deployment: dict[str, object],
) -> None:
    schedules = nightly_deployment["schedules"]
    assert isinstance(schedules, list)
    (schedule,) = schedules
    cron = CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])
    assert (cron.cron, cron.timezone) == ("0 2 * * *", "Europe/London")


def test_the_nightly_deployment_parameters_validate_against_the_flow_signature(
    nightly_deployment: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    flow: Flow[..., object] = load_flow_from_entrypoint(str(nightly_deployment["entrypoint"]))
    parameters = nightly_deployment["parameters"]
    assert isinstance(parameters, dict)
    validated = flow.validate_parameters(parameters)
    assert validated["busy_timeout"] == 600


def test_the_nightly_deployment_uses_the_process_work_pool_the_readme_creates(
    nightly_deployment: dict[str, object],
) -> None:
    # A deployment names its pool; the pool's type is given when it is created (README).
    work_pool = nightly_deployment["work_pool"]
    assert isinstance(work_pool, dict)
    readme = (ROOT / "README.md").read_text()
    created = re.findall(r"prefect work-pool create (\S+) --type (\S+)", readme)
    assert created == [(work_pool["name"], "process")]


def test_the_flows_parameter_defaults_are_the_settings_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [name for name in os.environ if name.startswith("ALLOCATION_")]:
        monkeypatch.delenv(name)
    settings = Settings()
    parameters = inspect.signature(nightly.fn).parameters
    defaults = {name: parameter.default for name, parameter in parameters.items()}
    assert defaults == {
        "inbox_url": settings.inbox,
        "outbox_url": settings.outbox,
        "db": settings.db,
        "policy": settings.policy,
        "run_date": settings.run_date,
        "busy_timeout": settings.busy_timeout,
        "shards": settings.shards,
        "dask_address": settings.dask_address,
        "dask_timeout": settings.dask_timeout,
        "duckdb_memory_limit": settings.duckdb_memory_limit,
    }


def test_the_deployment_states_only_what_differs_from_the_flows_defaults(
    nightly_deployment: dict[str, object],
) -> None:
    parameters = nightly_deployment["parameters"]
    assert isinstance(parameters, dict)
    defaults = inspect.signature(nightly.fn).parameters
    assert all(defaults[name].default != value for name, value in parameters.items())
    assert parameters == {"busy_timeout": 600}  # a night waits for an operator's command
