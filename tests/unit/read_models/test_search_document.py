"""The search projection (pure): every event type, duplicates, discontinuation, prices."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from read_models.search.document import (
    ACTIVE,
    DISCONTINUED,
    INCOMPLETE,
    category_prefixes,
    fold,
    project,
)
from schemas.registry import CURRENT_EVENT_VERSIONS


def event(type_: str, version: int, data: dict[str, Any], *, sku: str = "SKU-1") -> dict[str, Any]:
    return {
        "event_id": f"00000000-0000-0000-0000-{version:012d}",
        "type": type_,
        "schema_version": CURRENT_EVENT_VERSIONS.get(type_, 1),
        "sku": sku,
        "version": version,
        "occurred_at": f"2025-06-01T12:00:{version:02d}Z",
        "command_id": f"cmd-{version}",
        "correlation_id": f"cmd-{version}",
        "causation_id": f"cmd-{version}",
        "data": data,
    }


REGISTERED = event(
    "ProductRegistered",
    1,
    {
        "name": "Trail runner",
        "description": "A light trail running shoe.",
        "brand": "Acme",
        "category_path": ["Shoes", "Running", "Trail"],
        "attributes": {"colour": "red", "size": "42"},
        "tags": ["trail", "light"],
    },
)


def test_registration_builds_an_active_document() -> None:
    doc = project(None, REGISTERED)
    assert doc == {
        "sku": "SKU-1",
        "status": ACTIVE,
        "version": 1,
        "updated_at": "2025-06-01T12:00:01.000000Z",
        "name": "Trail runner",
        "description": "A light trail running shoe.",
        "brand": "Acme",
        "category_path": ["Shoes", "Running", "Trail"],
        "category_paths": ["Shoes", "Shoes/Running", "Shoes/Running/Trail"],
        "category": "Trail",
        "attributes": {"colour": "red", "size": "42"},
        "tags": ["trail", "light"],
        "prices": {},
        "stock": 0,
        "in_stock": False,
        "availability": "out_of_stock",
        "suggest": {"input": ["Trail runner", "Acme"]},
    }
    json.dumps(doc)  # plain JSON: it round-trips through _source


def test_registration_without_category_or_brand() -> None:
    data = {**REGISTERED["data"], "category_path": [], "brand": ""}
    doc = project(None, {**REGISTERED, "data": data})
    assert doc["category_path"] == [] and doc["category_paths"] == []
    assert doc["category"] is None
    assert doc["suggest"] == {"input": ["Trail runner"]}


def test_details_update_changes_only_the_given_fields() -> None:
    doc = fold(
        [
            REGISTERED,
            event(
                "ProductDetailsUpdated",
                2,
                {"name": "Trail runner 2", "category_path": ["Shoes", "Hiking"], "tags": []},
            ),
        ]
    )
    assert doc is not None
    assert doc["name"] == "Trail runner 2"
    assert doc["category_paths"] == ["Shoes", "Shoes/Hiking"]
    assert doc["category"] == "Hiking"
    assert doc["tags"] == []
    assert doc["brand"] == "Acme"
    assert doc["attributes"] == {"colour": "red", "size": "42"}
    assert doc["suggest"] == {"input": ["Trail runner 2", "Acme"]}
    assert (doc["version"], doc["updated_at"]) == (2, "2025-06-01T12:00:02.000000Z")


def test_prices_are_kept_per_currency_with_the_exact_text() -> None:
    doc = fold(
        [
            REGISTERED,
            event(
                "PriceChanged", 2, {"amount": "49.90", "currency": "EUR", "price_type": "regular"}
            ),
            event("PriceChanged", 3, {"amount": "54", "currency": "USD", "price_type": "regular"}),
            event(
                "PriceChanged", 4, {"amount": "39.9900", "currency": "EUR", "price_type": "sale"}
            ),
        ]
    )
    assert doc is not None
    assert doc["prices"] == {
        "EUR": {"amount": 39.99, "amount_text": "39.9900", "price_type": "sale"},
        "USD": {"amount": 54.0, "amount_text": "54", "price_type": "regular"},
    }
    assert doc["version"] == 4


@pytest.mark.parametrize(
    ("quantity", "in_stock", "availability"),
    [(7, True, "in_stock"), (0, False, "out_of_stock")],
)
def test_stock_is_the_absolute_quantity(quantity: int, in_stock: bool, availability: str) -> None:
    doc = fold(
        [
            REGISTERED,
            event("StockAdjusted", 2, {"delta": 10, "quantity": 10, "reason": "delivery"}),
            event(
                "StockAdjusted", 3, {"delta": quantity - 10, "quantity": quantity, "reason": "x"}
            ),
        ]
    )
    assert doc is not None
    assert (doc["stock"], doc["in_stock"], doc["availability"]) == (
        quantity,
        in_stock,
        availability,
    )


def test_a_count_sets_the_stock_like_any_adjustment() -> None:
    """SetStock's StockAdjusted (v2, with counted_at) states the stock in quantity too."""
    data = {"delta": 40, "quantity": 40, "reason": "feed", "counted_at": "2025-06-01T02:00:00Z"}
    doc = fold([REGISTERED, event("StockAdjusted", 2, data)])
    assert doc is not None
    assert (doc["stock"], doc["in_stock"]) == (40, True)


def test_discontinued_is_kept_but_not_active_and_not_suggested() -> None:
    doc = fold([REGISTERED, event("ProductDiscontinued", 2, {"reason": "end of line"})])
    assert doc is not None
    assert doc["status"] == DISCONTINUED
    assert doc["version"] == 2
    assert "suggest" not in doc
    assert doc["name"] == "Trail runner"


def test_duplicates_and_stale_events_return_the_same_document() -> None:
    doc = fold(
        [
            REGISTERED,
            event("PriceChanged", 2, {"amount": "1", "currency": "EUR", "price_type": "regular"}),
        ]
    )
    assert doc is not None
    before = copy.deepcopy(doc)
    assert project(doc, REGISTERED) is doc
    assert (
        project(doc, event("StockAdjusted", 2, {"delta": 1, "quantity": 1, "reason": "x"})) is doc
    )
    assert doc == before


def test_project_never_mutates_its_input() -> None:
    doc = project(None, REGISTERED)
    before = copy.deepcopy(doc)
    project(doc, event("PriceChanged", 2, {"amount": "5", "currency": "EUR", "price_type": "sale"}))
    project(doc, event("ProductDetailsUpdated", 2, {"attributes": {"colour": "blue"}}))
    assert doc == before


def test_events_before_registration_give_an_incomplete_document() -> None:
    # The ProductRegistered was dead-lettered: the document exists for the version
    # guard, but is not active, so searches filtering on status=active skip it.
    doc = project(None, event("StockAdjusted", 2, {"delta": 3, "quantity": 3, "reason": "x"}))
    assert doc["status"] == INCOMPLETE
    assert doc["stock"] == 3
    assert "suggest" not in doc


def test_unknown_event_types_only_move_the_version() -> None:
    doc = project(None, REGISTERED)
    new = project(doc, event("ProductReviewed", 2, {"stars": 5}))
    assert new == {**doc, "version": 2, "updated_at": "2025-06-01T12:00:02.000000Z"}


def test_fold_of_nothing_is_none_and_fold_is_replayable() -> None:
    assert fold([]) is None
    events = [
        REGISTERED,
        event("PriceChanged", 2, {"amount": "10", "currency": "EUR", "price_type": "regular"}),
        event("StockAdjusted", 3, {"delta": 2, "quantity": 2, "reason": "x"}),
    ]
    once = fold(events)
    assert fold(events + events) == once  # a replay of the same events changes nothing
    assert fold(events[2:], fold(events[:2])) == once  # batches compose


def test_category_prefixes() -> None:
    assert category_prefixes([]) == []
    assert category_prefixes(["A"]) == ["A"]
    assert category_prefixes(["A", "B", "C"]) == ["A", "A/B", "A/B/C"]
