"""The HTTP command API against real Kafka and a real command-processor process.

The app runs in-process (``TestClient``) with its own ``CommandClient``; the
processor is an `eventcart worker` OS process on this module's own topics, so
every 200 here is an answer the real processor published.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from producers.http_api import create_app
from producers.http_models import CommandName
from schemas.config.settings import Settings
from tests.fixtures.workers import Worker

TOKEN = "test-" + uuid.uuid4().hex
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def api_settings(module_settings: Settings) -> Settings:
    return module_settings.model_copy(
        update={"api_token": SecretStr(TOKEN), "api_max_body_bytes": 4096}
    )


@pytest.fixture(scope="module")
def api(api_settings: Settings, make_worker: Callable[[str], Worker]) -> Iterator[TestClient]:
    make_worker("command-processor")
    with TestClient(create_app(api_settings)) as client:
        # The first answer proves the worker has joined its group and recovered. The
        # probe is resent with the same command_id after a 202: that is safe by design.
        probe = {"sku": "PROBE", "data": {"name": "probe"}, "command_id": "probe-" + TOKEN}
        for _ in range(4):
            response = client.post(
                "/commands/register-product", json=probe, params={"timeout_s": 60}, headers=AUTH
            )
            if response.status_code == 200:
                break
            assert response.status_code == 202, response.text
        assert response.status_code == 200, "the command processor never answered"
        yield client


def post(api: TestClient, name: str, body: dict[str, Any], **params: Any) -> httpx.Response:
    return api.post(f"/commands/{name}", json=body, params=params, headers=AUTH)


def register(api: TestClient, sku: str) -> dict[str, Any]:
    response = post(api, "register-product", {"sku": sku, "data": {"name": "Trail shoe"}})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# --- authentication ------------------------------------------------------------------
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {TOKEN}"}],
    ids=["missing", "wrong", "not-bearer"],
)
def test_commands_need_the_bearer_token(api: TestClient, headers: dict[str, str]) -> None:
    response = api.post(
        "/commands/register-product",
        json={"sku": "AUTH-1", "data": {"name": "p"}},
        headers=headers,
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "token" in response.json()["detail"]


def test_healthz_needs_no_token(api: TestClient) -> None:
    response = api.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


# --- answers of the processor ----------------------------------------------------------
def test_register_then_change_price_is_accepted(api: TestClient, unique: str) -> None:
    sku = f"HTTP-{unique}"
    registered = register(api, sku)
    assert (registered["status"], registered["sku"], registered["version"]) == (
        "accepted",
        sku,
        1,
    )
    priced = post(
        api,
        "change-price",
        {"sku": sku, "data": {"amount": "19.99", "currency": "EUR"}, "expected_version": 1},
    )
    assert priced.status_code == 200, priced.text
    result = priced.json()
    assert (result["status"], result["version"], result["reason"]) == ("accepted", 2, None)
    assert len(result["event_ids"]) == len(result["positions"]) == 1
    first, second = registered["positions"][0], result["positions"][0]
    assert first["partition"] == second["partition"]  # one SKU, one partition
    assert second["offset"] > first["offset"]


def test_a_domain_rejection_is_a_200(api: TestClient, unique: str) -> None:
    sku = f"HTTP-REJ-{unique}"
    register(api, sku)
    response = post(api, "adjust-stock", {"sku": sku, "data": {"delta": -5}})
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["status"], result["reason"], result["version"]) == (
        "rejected",
        "insufficient_stock",
        1,
    )
    assert result["message"]


def test_a_version_conflict_is_a_200(api: TestClient, unique: str) -> None:
    sku = f"HTTP-VER-{unique}"
    register(api, sku)
    response = post(api, "adjust-stock", {"sku": sku, "data": {"delta": 3}, "expected_version": 9})
    assert (response.status_code, response.json()["reason"]) == (200, "version_conflict")


def test_retrying_a_command_id_returns_the_same_result(api: TestClient, unique: str) -> None:
    sku = f"HTTP-IDEM-{unique}"
    register(api, sku)
    body = {"sku": sku, "data": {"delta": 4}, "command_id": f"idem-{unique}"}
    first, second = post(api, "adjust-stock", body), post(api, "adjust-stock", body)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first.json()["command_id"] == f"idem-{unique}"
    assert first.json()["version"] == 2
    # Nothing new was decided: the next command is version 3, not 4.
    after = post(api, "adjust-stock", {"sku": sku, "data": {"delta": 1}})
    assert after.json()["version"] == 3


def test_wait_false_answers_202_and_a_resend_gets_the_result(api: TestClient, unique: str) -> None:
    sku = f"HTTP-NOWAIT-{unique}"
    body = {"sku": sku, "data": {"name": "p"}, "command_id": f"nowait-{unique}"}
    pending = post(api, "register-product", body, wait=False)
    assert pending.status_code == 202, pending.text
    assert pending.json()["command_id"] == f"nowait-{unique}"
    assert pending.json()["status"] == "pending"
    assert "safe" in pending.json()["message"]
    result = post(api, "register-product", body)
    assert result.status_code == 200
    assert (result.json()["status"], result.json()["version"]) == ("accepted", 1)


def test_a_wait_that_times_out_answers_202_and_a_resend_gets_the_result(
    api: TestClient, unique: str
) -> None:
    body = {"sku": f"HTTP-SLOW-{unique}", "data": {"name": "p"}, "command_id": f"slow-{unique}"}
    pending = post(api, "register-product", body, timeout_s=0.001)
    assert pending.status_code == 202, pending.text
    assert pending.json()["command_id"] == f"slow-{unique}"
    result = post(api, "register-product", body)
    assert (result.status_code, result.json()["version"]) == (200, 1)


def test_a_generated_command_id_is_returned(api: TestClient, unique: str) -> None:
    response = post(api, "register-product", {"sku": f"GEN-{unique}", "data": {"name": "p"}})
    assert response.status_code == 200
    assert uuid.UUID(response.json()["command_id"])


# --- invalid input -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "field", "rule"),
    [
        ({"amount": 12.5, "currency": "EUR"}, "data.amount", "type"),
        ({"amount": "12.34567", "currency": "EUR"}, "data.amount", "pattern"),
        ({"amount": "12.50", "currency": "EURO"}, "data.currency", "enum"),
        ({"amount": "12.50"}, "data.currency", "required"),
        ({"amount": "12.50", "currency": "EUR", "tax": "1"}, "data.tax", "additionalProperties"),
    ],
)
def test_schema_violations_are_422_with_field_and_rule(
    api: TestClient, data: dict[str, Any], field: str, rule: str
) -> None:
    response = post(api, "change-price", {"sku": "SKU-422", "data": data})
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert (error["field"], error["rule"]) == (field, rule)
    assert field in error["message"]


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({"data": {"name": "p"}}, "sku", "required"),
        ({"sku": "SKU-1"}, "data", "required"),
        ({"sku": "SKU-1", "data": ["name"]}, "data", "type"),
        ({"sku": "SKU-1", "data": {"name": "p"}, "type": "X"}, "type", "additionalProperties"),
        ({"sku": "bad sku!", "data": {"name": "p"}}, "sku", "pattern"),
        (
            {"sku": "SKU-1", "data": {"name": "p"}, "expected_version": -1},
            "expected_version",
            "minimum",
        ),
    ],
)
def test_malformed_requests_are_422_in_the_same_shape(
    api: TestClient, body: dict[str, Any], field: str, rule: str
) -> None:
    response = post(api, "register-product", body)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert (errors[0]["field"], errors[0]["rule"]) == (field, rule)
    assert set(errors[0]) == {"field", "rule", "message"}


def test_body_that_is_not_json_is_422(api: TestClient) -> None:
    response = api.post(
        "/commands/register-product",
        content=b'{"sku": ',
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "$"
    assert response.json()["detail"][0]["rule"] == "json"


def test_an_unknown_command_type_is_404_and_a_bad_query_422(api: TestClient) -> None:
    unknown = post(api, "delete-product", {"sku": "SKU-1", "data": {}})
    assert unknown.status_code == 404  # one route per command type: no such route
    too_long = post(api, "discontinue-product", {"sku": "SKU-1", "data": {}}, timeout_s=3600)
    assert too_long.status_code == 422
    assert too_long.json()["detail"][0]["field"] == "query.timeout_s"


def test_oversized_body_is_413(api: TestClient) -> None:
    big = {"sku": "SKU-BIG", "data": {"name": "p", "description": "x" * 10_000}}
    response = post(api, "register-product", big)
    assert response.status_code == 413
    assert response.json()["detail"][0]["rule"] == "size"


def test_oversized_body_without_content_length_is_413(api: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"sku": "SKU-BIG", "data": {"description": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}}'

    response = api.post("/commands/register-product", content=chunks(), headers=AUTH)
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert response.status_code == 413


# --- documentation -------------------------------------------------------------------
def test_openapi_documents_each_command_with_its_contract_and_the_bearer_scheme(
    api: TestClient,
) -> None:
    document = api.get("/openapi.json").json()
    assert document["info"]["title"] == "eventcart command API"
    paths = {f"/commands/{name.value}" for name in CommandName}
    assert paths == {
        "/commands/register-product",
        "/commands/update-product-details",
        "/commands/change-price",
        "/commands/adjust-stock",
        "/commands/discontinue-product",
        "/commands/schedule-price-change",
        "/commands/cancel-scheduled-price-change",
        "/commands/set-stock",
    }
    for path in paths:
        operation = document["paths"][path]["post"]
        body = operation["requestBody"]["content"]["application/json"]
        # the body is the contract's: its data schema, and an example it accepts
        assert set(body["schema"]["required"]) == {"sku", "data"}
        assert body["schema"]["additionalProperties"] is False
        assert set(body["example"]) <= set(body["schema"]["properties"])
        assert {"200", "202", "401", "413", "422", "503"} <= set(operation["responses"])
        assert operation["security"] == [{"bearerAuth": []}]
    price = document["paths"]["/commands/change-price"]["post"]["requestBody"]
    data = price["content"]["application/json"]["schema"]["properties"]["data"]
    assert data["required"] == ["amount", "currency"]
    assert "EUR" in data["properties"]["currency"]["enum"]
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert api.get("/docs").status_code == 200
