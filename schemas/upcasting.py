"""Upcasters: read any historic event as the current version.

Events are kept forever, and the log already holds every version ever written. We
never rewrite the log; instead each consumer reads an event through this chain,
which lifts it one version at a time (v1 -> v2 -> ... -> current). Consumers and the
pure ``evolve``/projection functions then only ever handle the current shape.

An upcaster is registered for ``(event_type, from_version)`` and maps the ``data`` of
that version to the ``data`` of ``from_version + 1``. It must be pure and total
(every valid event of ``from_version`` maps to a valid event of the next version),
which ``tests/unit/schemas/test_schema_evolution.py`` checks against fixtures.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from schemas.errors import ContractError
from schemas.registry import CURRENT_EVENT_VERSIONS

__all__ = ["UPCASTERS", "Upcaster", "register", "upcast", "upcast_data"]

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

#: ``(event_type, from_version) -> data upcaster to from_version + 1``.
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def register(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Decorator: register ``fn`` as the upcaster of ``event_type`` v``from_version``."""

    def decorate(fn: Upcaster) -> Upcaster:
        key = (event_type, from_version)
        if key in UPCASTERS:
            raise RuntimeError(f"duplicate upcaster for {event_type} v{from_version}")
        UPCASTERS[key] = fn
        return fn

    return decorate


@register("PriceChanged", 1)
def _price_changed_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 had only one kind of price, called ``price``; v2 calls it ``amount`` and
    distinguishes regular from sale prices. Every v1 price was a regular price."""
    return {"amount": data["price"], "currency": data["currency"], "price_type": "regular"}


@register("PriceChanged", 2)
def _price_changed_v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    """v3 only adds optional fields (``schedule_id``, ``planned_at``) that a change made
    by a command never had: every v2 event is a valid v3 event as it is."""
    return dict(data)


@register("StockAdjusted", 1)
def _stock_adjusted_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v2 only adds ``counted_at`` (a change a SetStock made, which v1 never had) and
    widens the delta bounds: every v1 event is a valid v2 event as it is, and, having
    no ``counted_at``, a movement a later count adds when it is after the count."""
    return dict(data)


def upcast_data(
    event_type: str,
    from_version: int,
    data: Mapping[str, Any],
    to_version: int | None = None,
) -> dict[str, Any]:
    """Lift ``data`` of ``event_type`` v``from_version`` to ``to_version`` (default: current).

    Raises:
        ContractError: rule ``unknown_type`` for an unknown event type, rule ``upcast``
            when the version is newer than the target or a step has no upcaster.
    """
    if event_type not in CURRENT_EVENT_VERSIONS:
        raise ContractError("type", "unknown_type", f"type: unknown event type {event_type!r}")
    target = CURRENT_EVENT_VERSIONS[event_type] if to_version is None else to_version
    if from_version > target:
        raise ContractError(
            "schema_version",
            "upcast",
            f"schema_version: cannot downcast {event_type} v{from_version} to v{target}",
        )
    result = dict(data)
    for version in range(from_version, target):
        step = UPCASTERS.get((event_type, version))
        if step is None:
            raise ContractError(
                "schema_version",
                "upcast",
                f"schema_version: no upcaster from {event_type} v{version} to v{version + 1}",
            )
        result = step(result)
    return result


def upcast(event: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of ``event`` at the current version of its type.

    Envelope fields are kept as they are (including ``event_id``: an upcast event is
    still the same event); only ``data`` and ``schema_version`` change. An event that
    is already current is returned as a shallow copy.
    """
    event_type = event.get("type")
    version = event.get("schema_version")
    if not isinstance(event_type, str):
        raise ContractError("type", "unknown_type", "type: missing or not a string")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ContractError("schema_version", "type", "schema_version must be an integer")
    data = event.get("data")
    if not isinstance(data, Mapping):
        raise ContractError("data", "type", "data must be object")
    current = CURRENT_EVENT_VERSIONS.get(event_type)
    result = dict(event)
    if current is not None and version == current:
        return result
    result["data"] = upcast_data(event_type, version, data)
    result["schema_version"] = CURRENT_EVENT_VERSIONS[event_type]
    return result
