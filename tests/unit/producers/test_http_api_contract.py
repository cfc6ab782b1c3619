"""The HTTP command API's own behaviour, with no services: a stub stands in for Kafka.

Only what cannot be provoked against a healthy Kafka lives here (Kafka refusing a
command, the exact command built from a request); the real round trips are in
``tests/integration/producers/test_http_api.py``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from concurrent.futures import Future
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from producers import http_api
from producers.client import CommandClient, DeliveryError
from producers.http_api import create_app
from producers.results import CommandResult
from schemas.config.settings import Settings

AUTH = {"Authorization": "Bearer unit-token"}


class _Listener:
    def forget(self, command_id: str) -> None:
        pass


class StubClient(CommandClient):
    """Answers every command with ``outcome``: a result, an exception, or nothing."""

    def __init__(self) -> None:  # no Kafka at all
        self.sent: list[Mapping[str, Any]] = []
        self.outcome: CommandResult | Exception | None = None
        self.kafka_acknowledges = True
        self.closed = False

    @property
    def listener(self) -> Any:
        return _Listener()

    def submit(
        self, command: Mapping[str, Any], acked: Future[None] | None = None
    ) -> Future[CommandResult]:
        self.sent.append(command)
        if acked is not None and self.kafka_acknowledges:
            acked.set_result(None)
        future: Future[CommandResult] = Future()
        if isinstance(self.outcome, Exception):
            future.set_exception(self.outcome)
        elif self.outcome is not None:
            future.set_result(self.outcome)
        return future

    def publish(self, command: Mapping[str, Any]) -> Future[None]:
        self.sent.append(command)
        acked: Future[None] = Future()
        if self.kafka_acknowledges:
            acked.set_result(None)
        return acked

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def stub() -> StubClient:
    return StubClient()


@pytest.fixture
def api(stub: StubClient) -> Iterator[TestClient]:
    settings = Settings(api_token=SecretStr("unit-token"), api_max_body_bytes=1024)
    with TestClient(create_app(settings, client=stub)) as client:
        yield client


def test_kafka_refusing_the_command_is_503_with_retry_after(
    api: TestClient, stub: StubClient
) -> None:
    stub.outcome = DeliveryError("Kafka did not take the command: broker down")
    response = api.post(
        "/commands/adjust-stock", json={"sku": "S-1", "data": {"delta": 1}}, headers=AUTH
    )
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) > 0
    assert "Traceback" not in response.text
    assert "broker down" not in response.text


def test_the_request_becomes_one_full_command(api: TestClient, stub: StubClient) -> None:
    stub.outcome = CommandResult(command_id="c-1", sku="S-1", status="accepted", version=4)
    body = {
        "sku": "S-1",
        "data": {"amount": "1.00", "currency": "EUR"},
        "command_id": "c-1",
        "expected_version": 3,
        "correlation_id": "corr",
        "causation_id": "cause",
    }
    response = api.post("/commands/change-price", json=body, headers=AUTH)
    assert response.status_code == 200
    assert response.json()["version"] == 4
    [sent] = stub.sent
    assert sent["type"] == "ChangePrice"
    assert sent["schema_version"] == 1
    assert {k: sent[k] for k in body} == body


def test_no_answer_in_time_is_202(api: TestClient, stub: StubClient) -> None:
    response = api.post(
        "/commands/discontinue-product",
        json={"sku": "S-1", "data": {}, "command_id": "c-2"},
        params={"timeout_s": 0.05},
        headers=AUTH,
    )
    assert response.status_code == 202
    assert response.json()["command_id"] == "c-2"


@pytest.mark.parametrize("wait", [True, False])
def test_no_acknowledgement_from_kafka_in_time_is_503_never_202(
    api: TestClient, stub: StubClient, wait: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 202 promises the command is in Kafka; without the broker's acknowledgement
    (Kafka unreachable) the client is told to resend instead."""
    stub.kafka_acknowledges = False
    monkeypatch.setattr(http_api, "ACK_WAIT_S", 0.1)
    response = api.post(
        "/commands/adjust-stock",
        json={"sku": "S-1", "data": {"delta": 1}, "command_id": "c-3"},
        params={"timeout_s": 0.05, "wait": wait},
        headers=AUTH,
    )
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) > 0
    assert "same command_id" in response.json()["detail"]


def test_auth_comes_before_the_body_is_validated(api: TestClient) -> None:
    response = api.post("/commands/adjust-stock", json={"nonsense": True})
    assert response.status_code == 401


def test_a_lying_content_length_is_refused(api: TestClient) -> None:
    response = api.post(
        "/commands/adjust-stock",
        content=b"{}",
        headers={**AUTH, "Content-Type": "application/json", "Content-Length": "999999"},
    )
    assert response.status_code == 413


def test_a_client_passed_in_is_not_closed(stub: StubClient) -> None:
    with TestClient(create_app(Settings(), client=stub)):
        pass
    assert not stub.closed


def test_set_stock_is_a_route_of_its_own(api: TestClient, stub: StubClient) -> None:
    stub.outcome = CommandResult(command_id="c-4", sku="S-1", status="accepted", version=2)
    data = {"quantity": 40, "counted_at": "2026-06-01T02:00:00Z"}
    response = api.post(
        "/commands/set-stock", json={"sku": "S-1", "data": data, "command_id": "c-4"}, headers=AUTH
    )
    assert response.status_code == 200
    [sent] = stub.sent
    assert (sent["type"], sent["schema_version"], sent["data"]) == ("SetStock", 1, data)
    body = api.get("/openapi.json").json()["paths"]["/commands/set-stock"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]["properties"]["data"]
    assert schema["required"] == ["quantity", "counted_at"]
    assert schema["properties"]["quantity"]["maximum"] == 2**53 - 1
