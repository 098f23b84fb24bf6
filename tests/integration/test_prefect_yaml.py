"""prefect.yaml deploys the flow that exists, on the schedule it says, with valid parameters."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML (a Prefect dependency) ships no hints
from prefect.client.schemas.schedules import CronSchedule
from prefect.flows import Flow, load_flow_from_entrypoint

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
    assert validated["policy"] == "split"
    assert validated["busy_timeout"] == 600


def test_the_nightly_deployment_uses_a_process_work_pool(
    nightly_deployment: dict[str, object],
) -> None:
    work_pool = nightly_deployment["work_pool"]
    assert isinstance(work_pool, dict)
    assert work_pool["name"] == "warehouse-process"
