"""Builders shared by the pure unit tests (imported relatively: no conftest magic)."""

from __future__ import annotations

from typing import Any

from schemas.codec import validate_event
from streams.catalog import REJECTION_REASONS, Accepted, Decision, Rejected


def make_command(
    type_: str,
    data: dict[str, Any],
    *,
    sku: str = "SKU-1",
    command_id: str = "cmd-1",
    **envelope: Any,
) -> dict[str, Any]:
    """A valid command envelope around ``data``."""
    return {
        "command_id": command_id,
        "type": type_,
        "schema_version": 1,
        "sku": sku,
        "occurred_at": "2025-06-01T12:00:00Z",
        "data": data,
        **envelope,
    }


VALID_DATA: dict[str, dict[str, Any]] = {
    "RegisterProduct": {
        "name": "Chef's knife",
        "description": "Forged steel, 20 cm.",
        "brand": "Acme",
        "category_path": ["Home", "Kitchen", "Knives"],
        "attributes": {"blade": "20 cm"},
        "tags": ["chef", "forged"],
    },
    "UpdateProductDetails": {"name": "Chef's knife, 21 cm"},
    "ChangePrice": {"amount": "49.90", "currency": "EUR", "price_type": "sale"},
    "AdjustStock": {"delta": 5, "reason": "delivery"},
    "DiscontinueProduct": {"reason": "end of line"},
    "SchedulePriceChange": {
        "schedule_id": "black-friday",
        "currency": "EUR",
        "amount": "39.90",
        "price_type": "sale",
        "starts_at": "2025-11-28T00:00:00+01:00",
        "ends_at": "2025-12-01T23:59:59+01:00",
        "campaign_id": "black-friday-2025",
    },
    "CancelScheduledPriceChange": {"schedule_id": "black-friday", "reason": "moved"},
    "SetStock": {"quantity": 40, "counted_at": "2025-06-01T02:00:00Z", "reason": "nightly feed"},
}


def accepted(decision: Decision) -> list[dict[str, Any]]:
    """The events of an accepted decision, each valid against the contract."""
    assert isinstance(decision, Accepted), decision
    for event in decision.events:
        validate_event(event)
    return decision.events


def rejected(decision: Decision, reason: str) -> Rejected:
    """A rejection for ``reason``, a reason of the contract, with a message."""
    assert isinstance(decision, Rejected), decision
    assert decision.reason == reason and reason in REJECTION_REASONS
    assert decision.message
    return decision
