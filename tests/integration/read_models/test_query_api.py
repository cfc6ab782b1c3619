"""The query API over the real read models: search, prices, bounds, errors, read-your-writes."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from producers import commands as c
from producers.client import CommandClient
from read_models.query_api import create_app
from schemas.config.settings import Settings
from tests.fixtures.read_models import wait_for_versions
from tests.fixtures.workers import run_cli


@pytest.fixture(scope="module")
def client(module_settings: Settings, system_client: CommandClient) -> Iterator[CommandClient]:
    client = system_client
    for sku, name, brand, price in [
        ("Q-1", "Red running shoe", "Acme", "59.90"),
        ("Q-2", "Blue trail shoe", "Trailco", "89.00"),
        ("Q-3", "Green kettle", "Potter", "25.00"),
    ]:
        client.send(c.register_product(sku, name, brand=brand, category_path=["Shop"]))
        client.send(c.change_price(sku, price, "EUR"))
        client.send(c.adjust_stock(sku, 5))
    wait_for_versions(module_settings, {"Q-1": 3, "Q-2": 3, "Q-3": 3})
    yield client


@pytest.fixture(scope="module")
def api(module_settings: Settings, client: CommandClient) -> Iterator[TestClient]:
    with TestClient(create_app(module_settings)) as api:
        yield api


def test_search_and_product(api: TestClient) -> None:
    found = api.get("/search", params={"q": "runing shoe", "min_position": "0:0"}).json()
    assert found["hits"][0]["sku"] == "Q-1"
    shoes = api.get("/search", params={"q": "shoe", "sort": "price_desc"}).json()
    assert [h["sku"] for h in shoes["hits"]] == ["Q-2", "Q-1"]
    assert {b["key"] for b in shoes["facets"]["brands"]} == {"Acme", "Trailco"}
    assert api.get("/products/Q-3").json()["name"] == "Green kettle"
    assert api.get("/products/NOPE").status_code == 404
    assert "Red running shoe" in api.get("/suggest", params={"prefix": "red"}).json()["suggestions"]


def test_prices(api: TestClient) -> None:
    current = api.get("/prices/Q-1").json()
    assert Decimal(current["prices"]["EUR"]["amount"]) == Decimal("59.90")
    bulk = api.post("/prices:bulk", json={"skus": ["Q-1", "Q-2", "NOPE"], "currency": "EUR"}).json()
    assert set(bulk) == {"Q-1", "Q-2"}
    history = api.get("/prices/Q-2/history").json()
    assert len(history) == 1 and history[0]["valid_to"] is None


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/search", {"size": 1000}),
        ("/search", {"q": "x" * 500}),
        ("/search", {"currency": "euro"}),
        ("/search", {"page": 500}),
        ("/search", {"cursor": "not-a-cursor"}),
        ("/search", {"min_position": "yesterday"}),
        ("/search", {"attr": "no-colon"}),
        ("/search", {"facet_size": 5000}),
        ("/suggest", {"prefix": "x" * 80}),
        ("/prices/Q-1/as-of", {"at": "not a time"}),
        ("/prices/Q-1", {"wait_ms": 999999}),
    ],
)
def test_bad_parameters_are_4xx(api: TestClient, path: str, params: dict[str, object]) -> None:
    answer = api.get(path, params=params)
    assert 400 <= answer.status_code < 500, answer.text
    assert "detail" in answer.json()


def test_bulk_over_1000_is_refused(api: TestClient) -> None:
    answer = api.post("/prices:bulk", json={"skus": [f"S{i}" for i in range(1001)]})
    assert answer.status_code == 422


def test_read_your_writes_under_concurrent_writes(api: TestClient, client: CommandClient) -> None:
    def change_and_read(i: int) -> tuple[int, int, str]:
        amount = f"{10 + i}.{i % 100:02d}"
        result = client.send(c.change_price("Q-3", amount, "USD"))
        assert result.accepted
        seen = api.get(
            "/prices/Q-3",
            headers={"X-Min-Position": result.position_token},
            params={"wait_ms": 10000},
        )
        assert seen.status_code == 200, seen.text
        body = seen.json()
        return int(result.version or 0), int(body["version"]), str(body)

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(change_and_read, range(20)))
    # Every read saw at least its own write (its version, or a later one).
    for written, read, body in outcomes:
        assert read >= written, body
    last = client.send(c.change_price("Q-3", "77.77", "USD"))
    assert "77.77" in api.get("/prices/Q-3", params={"min_position": last.position_token}).text

    renamed = client.send(c.update_product_details("Q-2", name="Violet summit boot"))
    hits = api.get("/search", params={"q": "violet", "min_position": renamed.position_token}).json()
    assert [h["sku"] for h in hits["hits"]] == ["Q-2"]


def test_not_yet_consistent_is_said_not_served(api: TestClient) -> None:
    answer = api.get("/prices/Q-1", params={"min_position": "0:999999999", "wait_ms": 100})
    assert answer.status_code == 409
    assert answer.json()["status"] == "not_yet_consistent"
    assert answer.headers["Retry-After"]


def test_store_down_is_a_clean_503(module_settings: Settings, client: CommandClient) -> None:
    broken = module_settings.model_copy(update={"elasticsearch_url": "http://127.0.0.1:1"})
    with TestClient(create_app(broken)) as api:
        answer = api.get("/search", params={"q": "shoe"})
    assert answer.status_code == 503
    assert answer.headers["Retry-After"]
    assert "Traceback" not in answer.text


def test_reserved_characters_in_a_suggest_prefix_are_dropped(api: TestClient) -> None:
    # Found by schemathesis: the completion suggester answers 400 to U+001E.
    answer = api.get("/suggest", params={"prefix": "red\x1e\x1f"})
    assert answer.status_code == 200


def test_search_and_price_from_the_shell(module_settings: Settings, client: CommandClient) -> None:
    assert "Q-1" in run_cli(module_settings, "search", "runing shoe", "--max-price", "100")
    assert "59.9" in run_cli(module_settings, "price", "Q-1")
    assert "valid from" in run_cli(module_settings, "price", "Q-1", "--history")
    assert "Q-1 as of" in run_cli(
        module_settings, "price", "Q-1", "--at", "2999-01-01T00:00:00+00:00"
    )
    assert "EU Omnibus" in run_cli(module_settings, "price", "Q-1", "--lowest-30-days")
