"""What deciding a command gives, and how its events are built (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from schemas import timestamps
from schemas.ids import event_id
from schemas.registry import CURRENT_EVENT_VERSIONS
from streams.catalog.state import ProductState

__all__ = ["Accepted", "Decision", "Rejected", "build_event"]


@dataclass(frozen=True)
class Accepted:
    """The command is valid against the state; ``events`` (possibly empty, for a
    command that changes nothing) are to be published in order."""

    events: list[dict[str, Any]]


@dataclass(frozen=True)
class Rejected:
    """The command breaks an invariant. ``reason`` is one of
    :data:`streams.catalog.reasons.REJECTION_REASONS`; ``message`` is for people."""

    reason: str
    message: str


Decision = Accepted | Rejected


def build_event(
    command: Mapping[str, Any],
    state: ProductState,
    index: int,
    event_type: str,
    data: dict[str, Any],
    *,
    causation_id: str | None = None,
) -> dict[str, Any]:
    """Build event ``index`` of a decision. Everything is derived from the command and
    the state, in a fixed key order, so re-deciding gives byte-identical JSON.

    ``occurred_at`` is the command's instant in canonical form (UTC, ``Z``,
    microseconds), clamped to the product's last event: a product's event time
    never runs backwards, so its price history cannot get an interval that
    starts before the one it closes, however clients' clocks disagree. A schedule
    firing is decided like a command whose instant is the moment it fired
    (:func:`streams.catalog.schedules.fire`)."""
    command_id = str(command["command_id"])
    sku = str(command["sku"])
    return {
        "event_id": event_id(command_id, index, sku),
        "type": event_type,
        "schema_version": CURRENT_EVENT_VERSIONS[event_type],
        "sku": sku,
        "version": state.version + index + 1,
        "occurred_at": max(timestamps.canonical(command["occurred_at"]), state.updated_at),
        "command_id": command_id,
        "correlation_id": command.get("correlation_id", command_id),
        "causation_id": causation_id or command_id,
        "data": data,
    }
