"""The HTTP service fuzzed from its own OpenAPI schema (Schemathesis), on a real server.

Every operation gets requests generated from its declared parameters and bodies, with the
write token; no answer may be a 500 or break the schema the app declares for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from http_server import WRITE, serving
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from allocation.config import Settings
from allocation.entrypoints.http.app import create_app

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    root: Path = tmp_path_factory.mktemp("fuzz")
    with serving(root) as served:
        batch = {"reference": "b-seed", "sku": "SEED", "purchased_quantity": 5}
        assert served.post("/batch", json=batch, headers=WRITE).status_code == 201
        yield served


# The schema the server serves is the app's own; building the app connects to nothing.
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi())


@schema.include(method="GET").parametrize()
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_read_earns_a_500_or_an_answer_outside_the_schema(
    case: schemathesis.Case[Any], client: httpx.Client
) -> None:
    case.call_and_validate(base_url=str(client.base_url), checks=CHECKS)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_earns_a_500_or_an_answer_outside_the_schema(
    case: schemathesis.Case[Any], client: httpx.Client
) -> None:
    case.call_and_validate(base_url=str(client.base_url), headers=WRITE, checks=CHECKS)
