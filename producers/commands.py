"""Building commands: the envelope (ids, timestamps, versions) filled in for the caller.

Services state what they want (``change_price("SKU-1", "19.99", "EUR")``); the
envelope fields that make a command safe to retry (a command_id chosen once,
on the client) and traceable (correlation and causation ids) are added here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas import timestamps
from schemas.ids import new_command_id
from schemas.registry import CURRENT_COMMAND_VERSIONS


def command(
    command_type: str,
    sku: str,
    data: dict[str, Any],
    *,
    command_id: str | None = None,
    expected_version: int | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    occurred_at: datetime | None = None,
) -> dict[str, Any]:
    """A complete command message of any type, ready for validation and sending."""
    message: dict[str, Any] = {
        "command_id": command_id or new_command_id(),
        "type": command_type,
        "schema_version": CURRENT_COMMAND_VERSIONS.get(command_type, 1),
        "sku": sku,
        # The canonical form events carry (UTC, Z, microseconds): the processor
        # keeps it as it is instead of converting it.
        "occurred_at": timestamps.format_utc(occurred_at or datetime.now(UTC)),
        "data": data,
    }
    if expected_version is not None:
        message["expected_version"] = expected_version
    if correlation_id is not None:
        message["correlation_id"] = correlation_id
    if causation_id is not None:
        message["causation_id"] = causation_id
    return message


def _present(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def register_product(
    sku: str,
    name: str,
    *,
    description: str | None = None,
    brand: str | None = None,
    category_path: list[str] | None = None,
    attributes: dict[str, str] | None = None,
    tags: list[str] | None = None,
    **envelope: Any,
) -> dict[str, Any]:
    data = _present(
        name=name,
        description=description,
        brand=brand,
        category_path=category_path,
        attributes=attributes,
        tags=tags,
    )
    return command("RegisterProduct", sku, data, **envelope)


def update_product_details(sku: str, **fields_and_envelope: Any) -> dict[str, Any]:
    detail_names = ("name", "description", "brand", "category_path", "attributes", "tags")
    data = _present(**{k: fields_and_envelope.pop(k, None) for k in detail_names})
    return command("UpdateProductDetails", sku, data, **fields_and_envelope)


def change_price(
    sku: str, amount: str, currency: str, *, price_type: str = "regular", **envelope: Any
) -> dict[str, Any]:
    data = {"amount": amount, "currency": currency, "price_type": price_type}
    return command("ChangePrice", sku, data, **envelope)


def adjust_stock(
    sku: str, delta: int, *, reason: str | None = None, **envelope: Any
) -> dict[str, Any]:
    return command("AdjustStock", sku, _present(delta=delta, reason=reason), **envelope)


def set_stock(
    sku: str,
    quantity: int,
    counted_at: datetime | str,
    *,
    reason: str | None = None,
    **envelope: Any,
) -> dict[str, Any]:
    """Stock from a count taken at ``counted_at`` (an aware datetime, sent as UTC, or
    RFC 3339 text as a feed states it). The processor adds the adjustments it
    accepted after ``counted_at``, so deliveries racing the count are kept, once."""
    at = counted_at if isinstance(counted_at, str) else timestamps.format_utc(counted_at)
    data = _present(quantity=quantity, counted_at=at, reason=reason)
    return command("SetStock", sku, data, **envelope)


def discontinue_product(sku: str, *, reason: str | None = None, **envelope: Any) -> dict[str, Any]:
    return command("DiscontinueProduct", sku, _present(reason=reason), **envelope)


def schedule_price_change(
    sku: str,
    schedule_id: str,
    amount: str,
    currency: str,
    starts_at: datetime,
    *,
    ends_at: datetime | None = None,
    campaign_id: str | None = None,
    **envelope: Any,
) -> dict[str, Any]:
    """A regular price from ``starts_at`` on, or, with ``ends_at``, a sale between the two
    (aware datetimes; sent as UTC). The same ``schedule_id`` again replaces it until it
    takes effect."""
    data = _present(
        schedule_id=schedule_id,
        currency=currency,
        amount=amount,
        price_type="sale" if ends_at is not None else "regular",
        starts_at=timestamps.format_utc(starts_at),
        ends_at=timestamps.format_utc(ends_at) if ends_at is not None else None,
        campaign_id=campaign_id,
    )
    return command("SchedulePriceChange", sku, data, **envelope)


def cancel_scheduled_price_change(
    sku: str, schedule_id: str, *, reason: str | None = None, **envelope: Any
) -> dict[str, Any]:
    """Cancel a schedule that has not taken effect, or end a running sale now."""
    data = _present(schedule_id=schedule_id, reason=reason)
    return command("CancelScheduledPriceChange", sku, data, **envelope)
