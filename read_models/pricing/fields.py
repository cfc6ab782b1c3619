"""Reading the fields of an event's data for the pricing rows, or saying why not.

The events reaching the planner were validated by the processor, but the log
may hold anything a producer once wrote: a field that cannot become a column
makes the event (and its SKU's batch) fail with a reason naming the version,
instead of a row PostgreSQL refuses later or, worse, one it accepts wrongly.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from schemas import timestamps
from schemas.money import parse_amount

__all__ = [
    "PRICE_TYPES",
    "SCHEDULE_STEPS",
    "InvalidEventError",
    "amount",
    "instant",
    "optional_instant",
    "optional_text",
    "text",
]

PRICE_TYPES = frozenset({"regular", "sale"})
SCHEDULE_STEPS = frozenset({"start", "end"})


class InvalidEventError(ValueError):
    """An event whose content cannot become a row (reported as failed, never retried)."""


def text(data: Mapping[str, Any], name: str, version: int) -> str:
    """A required non-empty string field."""
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidEventError(f"version {version}: {name} is not a string")
    return value


def optional_text(data: Mapping[str, Any], name: str, version: int) -> str | None:
    """A string field that may be absent (None), never of another type."""
    return None if data.get(name) is None else text(data, name, version)


def amount(data: Mapping[str, Any], version: int, name: str = "amount") -> Decimal:
    """A contract amount (a decimal string; a float is refused, never rounded)."""
    raw = data.get(name)
    if not isinstance(raw, str):
        raise InvalidEventError(f"version {version}: {name} is not a decimal string")
    try:
        return parse_amount(raw)
    except ValueError as exc:
        raise InvalidEventError(f"version {version}: {exc}") from None


def instant(value: object, version: int, name: str = "occurred_at") -> datetime:
    """An RFC 3339 instant with an offset, as an aware UTC datetime."""
    if not isinstance(value, str):
        raise InvalidEventError(f"version {version}: {name} is not a string")
    try:
        return timestamps.parse(value)
    except ValueError as exc:
        raise InvalidEventError(f"version {version}: {name}: {exc}") from None


def optional_instant(data: Mapping[str, Any], name: str, version: int) -> datetime | None:
    """An instant field that may be absent (None)."""
    value = data.get(name)
    return None if value is None else instant(value, version, name)
