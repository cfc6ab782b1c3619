"""Upcasters lift historic events to the current version, and fail loudly otherwise."""

from __future__ import annotations

from typing import Any

import pytest

from schemas import upcasting
from schemas.errors import ContractError
from schemas.registry import CURRENT_EVENT_VERSIONS
from schemas.upcasting import UPCASTERS, upcast, upcast_data


def _price_v1(**data: Any) -> dict[str, Any]:
    return {
        "event_id": "00000000-0000-5000-8000-000000000000",
        "type": "PriceChanged",
        "schema_version": 1,
        "sku": "S",
        "version": 3,
        "occurred_at": "2020-01-01T00:00:00Z",
        "command_id": "c",
        "correlation_id": "c",
        "causation_id": "c",
        "data": data or {"price": "9.99", "currency": "EUR"},
    }


def test_price_changed_v1_to_current() -> None:
    event = _price_v1()
    result = upcast(event)
    assert result["schema_version"] == 3
    assert result["data"] == {"amount": "9.99", "currency": "EUR", "price_type": "regular"}
    # envelope untouched, input not mutated
    assert {k: v for k, v in result.items() if k not in ("data", "schema_version")} == {
        k: v for k, v in event.items() if k not in ("data", "schema_version")
    }
    assert event["data"] == {"price": "9.99", "currency": "EUR"}
    assert event["schema_version"] == 1


def test_current_event_is_returned_as_copy() -> None:
    event = _price_v1()
    event["schema_version"] = 3
    event["data"] = {"amount": "1", "currency": "EUR", "price_type": "sale"}
    result = upcast(event)
    assert result == event
    assert result is not event


def test_price_changed_v2_reads_as_v3_unchanged() -> None:
    data = {"amount": "1", "currency": "EUR", "price_type": "sale"}
    assert upcast_data("PriceChanged", 2, data) == data


def test_upcast_data_to_explicit_target() -> None:
    assert upcast_data("PriceChanged", 1, {"price": "1", "currency": "USD"}, to_version=1) == {
        "price": "1",
        "currency": "USD",
    }


def test_newer_than_current_cannot_be_upcast() -> None:
    with pytest.raises(ContractError) as info:
        upcast_data("PriceChanged", 4, {})
    assert (info.value.field, info.value.rule) == ("schema_version", "upcast")


def test_unknown_event_type() -> None:
    with pytest.raises(ContractError) as info:
        upcast_data("ProductTeleported", 1, {})
    assert info.value.rule == "unknown_type"


def test_stock_adjusted_v1_reads_as_v2_unchanged() -> None:
    data = {"delta": -3, "quantity": 7, "reason": "sold"}
    assert upcast_data("StockAdjusted", 1, data) == data
    assert CURRENT_EVENT_VERSIONS["StockAdjusted"] == 2


def test_missing_step_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        upcasting, "CURRENT_EVENT_VERSIONS", {**CURRENT_EVENT_VERSIONS, "StockAdjusted": 3}
    )
    with pytest.raises(ContractError) as info:
        upcast_data("StockAdjusted", 1, {"delta": 1, "quantity": 1, "reason": ""})
    assert info.value.rule == "upcast"
    assert "StockAdjusted v2 to v3" in info.value.message


def test_chain_applies_steps_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hypothetical PriceChanged v3 is reached from v1 through v2."""
    monkeypatch.setattr(
        upcasting, "CURRENT_EVENT_VERSIONS", {**CURRENT_EVENT_VERSIONS, "PriceChanged": 3}
    )
    monkeypatch.setitem(UPCASTERS, ("PriceChanged", 2), lambda d: {**d, "vat_included": True})
    assert upcast_data("PriceChanged", 1, {"price": "5", "currency": "EUR"}) == {
        "amount": "5",
        "currency": "EUR",
        "price_type": "regular",
        "vat_included": True,
    }


def test_duplicate_registration_is_refused() -> None:
    with pytest.raises(RuntimeError):
        upcasting.register("PriceChanged", 1)(lambda d: d)


def test_every_registered_upcaster_targets_a_known_step() -> None:
    for event_type, version in UPCASTERS:
        assert 1 <= version < CURRENT_EVENT_VERSIONS[event_type]


@pytest.mark.parametrize(
    ("event", "rule"),
    [
        ({"schema_version": 1, "data": {}}, "unknown_type"),
        ({"type": "PriceChanged", "schema_version": "1", "data": {}}, "type"),
        ({"type": "PriceChanged", "schema_version": 1, "data": []}, "type"),
    ],
)
def test_malformed_input(event: dict[str, Any], rule: str) -> None:
    with pytest.raises(ContractError) as info:
        upcast(event)
    assert info.value.rule == rule
