"""Commands in through the client; the product shows up in Elasticsearch and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from elasticsearch import Elasticsearch

from producers import commands as c
from producers.client import CommandClient
from schemas.config.settings import Settings
from tests.fixtures.read_models import pricing_rows, search_docs, wait_for_versions


@pytest.fixture(scope="module")
def client(module_settings: Settings, system_client: CommandClient) -> Iterator[CommandClient]:
    client = system_client
    yield client


def test_a_product_reaches_search_and_pricing(
    client: CommandClient, module_settings: Settings, es: Elasticsearch
) -> None:
    sku = "E2E-1"
    steps = [
        c.register_product(
            sku,
            "Red running shoe",
            brand="Acme",
            category_path=["Shoes", "Running"],
            attributes={"colour": "red"},
            tags=["running"],
        ),
        c.change_price(sku, "59.90", "EUR"),
        c.change_price(sku, "64.00", "USD"),
        c.change_price(sku, "49.90", "EUR", price_type="sale"),
        c.adjust_stock(sku, 12),
        c.update_product_details(sku, description="Light and fast"),
    ]
    results = [client.send(step) for step in steps]
    assert all(r.accepted for r in results)
    wait_for_versions(module_settings, {sku: 6})

    doc = search_docs(module_settings, [sku])[sku]
    assert doc["status"] == "active" and doc["stock"] == 12 and doc["in_stock"] is True
    assert doc["prices"]["EUR"]["amount_text"] == "49.90"
    assert doc["prices"]["EUR"]["price_type"] == "sale"
    assert doc["prices"]["USD"]["amount_text"] == "64.00"
    es.indices.refresh(index=module_settings.search_index)
    hits = es.search(
        index=module_settings.search_index,
        query={
            "bool": {
                "must": {"match": {"name": {"query": "runing shoe", "fuzziness": "AUTO"}}},
                "filter": [{"term": {"status": "active"}}],
            }
        },
    )["hits"]["hits"]
    assert [h["_id"] for h in hits] == [sku]

    current = {r["currency"]: r for r in pricing_rows(module_settings, "current_price", [sku])}
    assert current["EUR"]["amount"] == Decimal("49.90") and current["EUR"]["price_type"] == "sale"
    assert current["USD"]["amount"] == Decimal("64.00")
    history = sorted(
        pricing_rows(module_settings, "price_history", [sku]), key=lambda r: r["version"]
    )
    eur = [r for r in history if r["currency"] == "EUR"]
    assert [r["amount"] for r in eur] == [Decimal("59.90"), Decimal("49.90")]
    assert eur[0]["valid_to"] == eur[1]["valid_from"] and eur[1]["valid_to"] is None
    assert pricing_rows(module_settings, "stock", [sku])[0]["quantity"] == 12


def test_a_discontinued_product_leaves_search_and_closes_its_prices(
    client: CommandClient, module_settings: Settings, es: Elasticsearch
) -> None:
    sku = "E2E-GONE"
    for step in (
        c.register_product(sku, "Vanishing kettle"),
        c.change_price(sku, "30.00", "EUR"),
        c.change_price(sku, "25.00", "GBP"),
        c.discontinue_product(sku, reason="end of line"),
    ):
        assert client.send(step).accepted
    wait_for_versions(module_settings, {sku: 4})
    es.indices.refresh(index=module_settings.search_index)
    active = es.search(
        index=module_settings.search_index,
        query={
            "bool": {
                "must": {"match": {"name": "kettle"}},
                "filter": [{"term": {"status": "active"}}],
            }
        },
    )["hits"]["hits"]
    assert active == []
    assert pricing_rows(module_settings, "current_price", [sku]) == []
    history = pricing_rows(module_settings, "price_history", [sku])
    assert len(history) == 2 and all(r["valid_to"] is not None for r in history)
    assert pricing_rows(module_settings, "product", [sku])[0]["status"] == "discontinued"
