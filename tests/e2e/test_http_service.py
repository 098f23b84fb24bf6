"""The allocation service over HTTP, through a real `allocation serve` on a real warehouse.

One server per module; each test names its own SKUs, batches and orders.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from executable import ALLOCATION
from http_server import TOKEN, WRITE, serving, unique

from allocation.adapters import schema
from allocation.adapters.warehouse import DuckDBWarehouse


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("http")


@pytest.fixture(scope="module")
def client(root: Path) -> Iterator[httpx.Client]:
    with serving(root, ALLOCATION_HTTP_BUSY_TIMEOUT="1") as served:
        add_batch(served, unique("b-first"), unique("SKU"), 1)  # the warehouse now exists
        yield served


def add_batch(
    client: httpx.Client, reference: str, sku: str, qty: int, eta: str | None = None
) -> dict[str, Any]:
    answer = client.post(
        "/batch",
        json={"reference": reference, "sku": sku, "purchased_quantity": qty, "eta": eta},
        headers=WRITE,
    )
    assert answer.status_code == 201, answer.text
    added: dict[str, Any] = answer.json()
    return added


def allocate(
    client: httpx.Client, order_id: str, sku: str, qty: int | str, **more: Any
) -> httpx.Response:
    return client.post(
        "/allocations", json={"order_id": order_id, "sku": sku, "qty": qty, **more}, headers=WRITE
    )


def held(answer: httpx.Response) -> list[tuple[str, int, str]]:
    return sorted((a["batch_ref"], a["qty"], a["status"]) for a in answer.json()["allocations"])


def assert_error(answer: httpx.Response, status: int, *words: str) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert list(body) == ["detail"]
    assert "\n" not in body["detail"] and "Traceback" not in body["detail"]
    for word in words:
        assert word in body["detail"]


# --- the reference design's scenarios ------------------------------------------------------


def test_prefers_in_stock_batches_to_inbound_ones(client: httpx.Client) -> None:
    sku, in_stock, inbound = unique("CLOCK"), unique("b-stock"), unique("b-ship")
    add_batch(client, inbound, sku, 100, "2030-01-01")
    add_batch(client, in_stock, sku, 100)

    answer = allocate(client, unique("o"), sku, 10)

    assert answer.status_code == 201
    assert held(answer) == [(in_stock, 10, "picked")]
    stock = {b["reference"]: b["available"] for b in client.get(f"/batch?sku={sku}").json()}
    assert stock == {in_stock: 90, inbound: 100}


def test_prefers_the_earliest_inbound_batch(client: httpx.Client) -> None:
    sku = unique("SPOON")
    late, early, middle = unique("b-late"), unique("b-early"), unique("b-middle")
    add_batch(client, late, sku, 100, "2030-03-01")
    add_batch(client, early, sku, 100, "2030-01-01")
    add_batch(client, middle, sku, 100, "2030-02-01")

    answer = allocate(client, unique("o"), sku, 10)

    assert held(answer) == [(early, 10, "reserved")]
    listed = [b["reference"] for b in client.get("/batch", params={"sku": sku}).json()]
    assert listed == [early, middle, late]


def test_refuses_a_line_out_of_stock_and_records_nothing(client: httpx.Client) -> None:
    sku, order_id = unique("TABLE"), unique("o")
    add_batch(client, unique("b"), sku, 5)
    assert allocate(client, unique("o"), sku, 5).status_code == 201

    assert_error(allocate(client, order_id, sku, 1), 409, "Out of stock")

    assert_error(client.get(f"/orders/{order_id}"), 404)
    assert len(client.get("/allocations", params={"sku": sku}).json()) == 1


def test_answers_404_for_an_sku_no_batch_holds(client: httpx.Client) -> None:
    assert_error(allocate(client, unique("o"), unique("NOSUCH"), 1), 404, "no batch of it")


def test_the_same_line_again_is_unchanged_and_another_qty_conflicts(client: httpx.Client) -> None:
    sku, order_id = unique("LAMP"), unique("o")
    add_batch(client, unique("b"), sku, 10)
    first = allocate(client, order_id, sku, 3)

    again = allocate(client, order_id, sku, 3)
    other = allocate(client, order_id, sku, 4)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["run_id"] is None and held(again) == held(first)
    assert_error(other, 409, "conflicts")
    assert client.get(f"/batch?sku={sku}").json()[0]["available"] == 7


def test_deallocating_releases_the_order_and_keeps_its_lines_open(client: httpx.Client) -> None:
    sku, order_id = unique("CHAIR"), unique("o")
    batch = unique("b")
    add_batch(client, batch, sku, 10)
    allocate(client, order_id, sku, 4)

    gone = client.delete(f"/allocations/{order_id}", headers=WRITE)

    assert gone.status_code == 204 and gone.content == b""
    (line,) = client.get(f"/orders/{order_id}").json()
    assert (line["status"], line["picked"], line["short"]) == ("open", 0, 4)
    assert client.get(f"/batch/{batch}").json()["available"] == 10
    assert_error(client.delete(f"/allocations/{order_id}", headers=WRITE), 404)


def test_deallocating_one_batch_keeps_what_the_order_holds_on_others(client: httpx.Client) -> None:
    sku, order_id = unique("DESK"), unique("o")
    first, second = unique("b-1"), unique("b-2")
    add_batch(client, first, sku, 3)
    add_batch(client, second, sku, 10, "2030-01-01")
    allocate(client, order_id, sku, 5)

    gone = client.delete(f"/allocations/{order_id}/batch/{first}", headers=WRITE)

    assert gone.status_code == 204
    still = client.get("/allocations", params={"order_id": order_id}).json()
    assert [(a["batch_ref"], a["qty"], a["status"]) for a in still] == [(second, 2, "reserved")]
    assert_error(client.delete(f"/allocations/{order_id}/batch/{first}", headers=WRITE), 404)


def test_refuses_a_batch_reference_already_in_use(client: httpx.Client) -> None:
    reference = unique("b")
    add_batch(client, reference, unique("SOFA"), 1)

    answer = client.post(
        "/batch",
        json={"reference": reference, "sku": unique("OTHER"), "purchased_quantity": 2},
        headers=WRITE,
    )

    assert_error(answer, 409, "already exists")


def test_deletes_an_allocated_batch_only_by_force_reopening_its_lines(
    client: httpx.Client,
) -> None:
    sku, order_id, batch = unique("RUG"), unique("o"), unique("b")
    add_batch(client, batch, sku, 10)
    allocate(client, order_id, sku, 6)

    refused = client.delete(f"/batch/{batch}", headers=WRITE)
    forced = client.delete(f"/batch/{batch}", params={"force": "true"}, headers=WRITE)

    assert_error(refused, 409, "deallocate them first")
    assert forced.status_code == 204
    assert_error(client.get(f"/batch/{batch}"), 404)
    (line,) = client.get(f"/orders/{order_id}").json()
    assert (line["status"], line["picked"], line["short"]) == ("open", 0, 6)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("split", [("stock", 5, "picked"), ("ship", 3, "reserved")]),
        ("whole", [("ship", 8, "reserved")]),
    ],
)
def test_split_takes_units_from_several_batches_and_whole_from_one(
    client: httpx.Client, policy: str, expected: list[tuple[str, int, str]]
) -> None:
    sku = unique("VASE")
    names = {"stock": unique("b-stock"), "ship": unique("b-ship")}
    add_batch(client, names["stock"], sku, 5)
    add_batch(client, names["ship"], sku, 10, "2030-01-01")

    answer = allocate(client, unique("o"), sku, 8, policy=policy)

    assert answer.status_code == 201
    assert held(answer) == sorted((names[b], q, s) for b, q, s in expected)


def test_a_partial_fill_answers_the_short_qty(client: httpx.Client) -> None:
    sku = unique("BOWL")
    add_batch(client, unique("b"), sku, 2)

    answer = allocate(client, unique("o"), sku, 5)

    assert answer.status_code == 201
    assert answer.json()["line"]["short"] == 3


# --- each endpoint's statuses ----------------------------------------------------------------


def test_writes_without_the_token_are_refused_with_401(client: httpx.Client) -> None:
    body = {"reference": unique("b"), "sku": unique("S"), "purchased_quantity": 1}
    wrong = {"Authorization": "Bearer " + TOKEN[::-1]}

    assert_error(client.post("/batch", json=body), 401, "ALLOCATION_API_TOKEN")
    assert_error(client.post("/batch", json=body, headers=wrong), 401)
    assert_error(client.delete(f"/batch/{body['reference']}"), 401)
    assert_error(client.post("/allocations", json={}), 401)
    assert_error(client.delete("/allocations/o"), 401)
    assert_error(client.delete("/allocations/o/batch/b"), 401)
    assert_error(client.get(f"/batch/{body['reference']}"), 404)  # so nothing was added


def test_an_invalid_value_is_a_400_with_the_contract_s_reason(client: httpx.Client) -> None:
    body = {"reference": unique("b"), "sku": unique("S"), "purchased_quantity": -1}

    assert_error(client.post("/batch", json=body, headers=WRITE), 400, "purchased_quantity")
    assert_error(allocate(client, unique("o"), unique("S"), 0), 400, "qty")


def test_a_request_fastapi_cannot_read_is_a_400_naming_the_field(client: httpx.Client) -> None:
    missing = client.post("/batch", json={"reference": "b", "sku": "S"}, headers=WRITE)
    wrong_type = allocate(client, "o", "S", "many")
    json_type = {**WRITE, "Content-Type": "application/json"}
    not_json = client.post("/allocations", content=b"{", headers=json_type)
    no_type = client.post("/allocations", content=b'{"order_id": "o"}', headers=WRITE)

    assert_error(missing, 400, "purchased_quantity")
    assert_error(wrong_type, 400, "qty")
    assert_error(not_json, 400, "body: JSON decode error")
    assert_error(no_type, 400, "Content-Type: application/json")
    assert_error(client.get("/runs", params={"limit": 0}), 400, "limit")


def test_shows_a_batch_with_its_allocations_or_404(client: httpx.Client) -> None:
    sku, batch, order_id = unique("MUG"), unique("b"), unique("o")
    add_batch(client, batch, sku, 10)
    allocate(client, order_id, sku, 4)

    shown = client.get(f"/batch/{batch}").json()

    assert (shown["purchased_quantity"], shown["picked"], shown["available"]) == (10, 4, 6)
    assert [(a["order_id"], a["qty"]) for a in shown["allocations"]] == [(order_id, 4)]
    assert_error(client.get(f"/batch/{unique('nope')}"), 404)
    assert_error(client.delete(f"/batch/{unique('nope')}", headers=WRITE), 404)


def test_lists_allocations_by_order_sku_and_batch(client: httpx.Client) -> None:
    sku, first, second = unique("PEN"), unique("b-1"), unique("b-2")
    add_batch(client, first, sku, 2)
    add_batch(client, second, sku, 10)
    one, two = unique("o"), unique("o")
    allocate(client, one, sku, 3)
    allocate(client, two, sku, 1)

    def listed(**filters: str) -> list[tuple[str, str, int]]:
        rows = client.get("/allocations", params=filters).json()
        return sorted((a["order_id"], a["batch_ref"], a["qty"]) for a in rows)

    assert listed(sku=sku) == sorted([(one, first, 2), (one, second, 1), (two, second, 1)])
    assert listed(order_id=one) == sorted([(one, first, 2), (one, second, 1)])
    assert listed(batch_ref=second) == sorted([(one, second, 1), (two, second, 1)])
    assert listed(order_id=one, batch_ref=second) == [(one, second, 1)]


def test_shows_an_order_s_lines_or_404(client: httpx.Client) -> None:
    sku, order_id = unique("CUP"), unique("o")
    add_batch(client, unique("b"), sku, 2)
    allocate(client, order_id, sku, 3)

    (line,) = client.get(f"/orders/{order_id}").json()

    assert line == {
        "order_id": order_id,
        "sku": sku,
        "qty": 3,
        "status": "open",
        "picked": 2,
        "reserved": 0,
        "short": 1,
    }
    assert_error(client.get(f"/orders/{unique('nope')}"), 404)


def test_lists_runs_and_shows_one_or_404(client: httpx.Client) -> None:
    added = add_batch(client, unique("b"), unique("S"), 1)

    latest = client.get("/runs", params={"limit": 1}).json()
    shown = client.get(f"/runs/{added['run_id']}")

    assert [r["run_id"] for r in latest] == [added["run_id"]]
    assert shown.status_code == 200 and shown.json()["status"] == "committed"
    assert_error(client.get("/runs/no-such-run"), 404, "no run")


def test_health_names_the_schema_version_and_last_committed_run(client: httpx.Client) -> None:
    added = add_batch(client, unique("b"), unique("S"), 1)

    health = client.get("/health").json()

    assert health["status"] == "ok" and health["schema_version"] == schema.SCHEMA_VERSION
    assert health["last_committed_run"]["run_id"] == added["run_id"]


def test_a_write_while_another_process_holds_the_warehouse_is_a_503(
    client: httpx.Client, root: Path
) -> None:
    with DuckDBWarehouse(root / "w.duckdb"):  # held for writing, as a night holds it
        answer = allocate(client, unique("o"), unique("S"), 1)

    assert_error(answer, 503, "busy", "retry later")
    assert answer.headers["Retry-After"] == "5"


def test_openapi_is_served_with_an_example_for_each_body(client: httpx.Client) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]

    assert client.get("/docs").status_code == 200
    assert schemas["NewBatch"]["examples"] and schemas["NewLine"]["examples"]


# --- security --------------------------------------------------------------------------------


def test_can_require_the_token_for_reads_too(tmp_path: Path) -> None:
    with serving(tmp_path, ALLOCATION_API_TOKEN_FOR_READS="true") as guarded:
        add_batch(guarded, "b-1", "S", 1)

        assert_error(guarded.get("/batch"), 401)
        assert guarded.get("/batch", headers=WRITE).status_code == 200


def test_refuses_to_serve_beyond_loopback_without_a_token(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(ALLOCATION), "serve", "--host", "0.0.0.0", "--db", str(tmp_path / "w.duckdb")],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )

    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: refusing to serve on 0.0.0.0, beyond this machine, without a token: "
        "set ALLOCATION_API_TOKEN"
    ]
