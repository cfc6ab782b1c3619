"""A product's state on the write side, and how events change it (pure ``evolve``).

The state is what :func:`streams.catalog.rules.decide` checks a command
against: never a read model, always the fold of the product's own events. It
lives in the processor's changelog-backed store, hence :meth:`to_dict` /
:meth:`from_dict` with plain JSON types, readable from states stored by every
earlier release.

Scheduled price changes are part of it: what is planned, what runs now, and
the regular price a sale gives way to when it ends. So "what is due" is
restored with the state after any crash, never held by a timer in a process.

So are the product's last stock adjustments: a count (``SetStock``) is decided
against them, by the processor alone, so it cannot race the adjustments that
reach the processor while the count travels (see :mod:`streams.catalog.rules`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from schemas import timestamps
from schemas.upcasting import upcast

__all__ = [
    "DETAIL_FIELDS",
    "EFFECTIVE_KEPT",
    "STOCK_LOG_KEPT",
    "EventOutOfOrderError",
    "ProductState",
    "evolve",
    "evolve_all",
    "next_due",
]

#: Descriptive fields, in the order they appear in events.
DETAIL_FIELDS = ("name", "description", "brand", "category_path", "attributes", "tags")

#: How many schedules that took effect a state remembers, newest last: enough to
#: answer "already took effect" to a late cancel or a repeated schedule of a
#: campaign, without a state that grows with every schedule a product ever had.
EFFECTIVE_KEPT = 50

#: How many adjustments (StockAdjusted not made by a SetStock) a state remembers,
#: newest last: what a count may be older than and still be decided exactly. A
#: nightly feed counted hours ago meets a few deliveries and sales since; a count
#: older than the oldest remembered one is refused (``count_too_old``), never
#: guessed. 64 pairs keep the state, stored per product, a few kilobytes at most.
STOCK_LOG_KEPT = 64


class EventOutOfOrderError(ValueError):
    """An event skips versions or belongs to another SKU: the log or the state store
    is inconsistent. Applying it anyway would silently corrupt the aggregate."""


@dataclass(frozen=True)
class ProductState:
    """Everything ``decide`` needs to know about one product.

    ``version`` 0 means the product does not exist. Treat instances as
    immutable: ``evolve`` always builds a new one.
    """

    sku: str
    version: int = 0
    registered: bool = False
    discontinued: bool = False
    name: str = ""
    description: str = ""
    brand: str = ""
    category_path: tuple[str, ...] = ()
    attributes: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    #: currency -> {"amount": decimal string, "price_type": "regular" | "sale"}
    prices: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    stock: int = 0
    #: occurred_at of the last event, canonical ("" for a state stored before it was kept)
    updated_at: str = ""
    #: currency -> the regular amount: what customers pay once a sale ends
    regular: Mapping[str, str] = field(default_factory=dict)
    #: schedule_id -> the schedule as :func:`_scheduled` keeps it (pending, or a running sale)
    schedules: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: ids of the last schedules that took effect, oldest first
    effective: tuple[str, ...] = ()
    #: (canonical occurred_at, delta) of the last adjustments, oldest first: what
    #: a SetStock adds on top of its count (see :func:`_stock_adjusted`)
    stock_log: tuple[tuple[str, int], ...] = ()
    #: occurred_at of the newest adjustment dropped from ``stock_log`` ("" when none
    #: was): a count before it may miss adjustments the state no longer knows
    stock_log_since: str = ""

    def replaced(self, **changes: Any) -> ProductState:
        """A copy with ``changes``: ``dataclasses.replace`` without its per-call
        introspection (the processor builds one state per event it decides)."""
        new = object.__new__(ProductState)
        new.__dict__.update(self.__dict__)
        new.__dict__.update(changes)
        return new

    @classmethod
    def empty(cls, sku: str) -> ProductState:
        """State of a SKU that has never been registered."""
        return cls(sku=sku)

    def running_sale(self, currency: str) -> Mapping[str, Any] | None:
        """The scheduled sale that is the price of ``currency`` now, if one is."""
        for schedule in self.schedules.values():
            if schedule["active"] and schedule["currency"] == currency:
                return schedule
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (lists and dicts only). ``due`` is the next instant
        a schedule of this product is due: the processor's store indexes it."""
        raw = {
            "sku": self.sku,
            "version": self.version,
            "registered": self.registered,
            "discontinued": self.discontinued,
            "name": self.name,
            "description": self.description,
            "brand": self.brand,
            "category_path": list(self.category_path),
            "attributes": dict(self.attributes),
            "tags": list(self.tags),
            "prices": {c: dict(p) for c, p in self.prices.items()},
            "stock": self.stock,
            "updated_at": self.updated_at,
            "regular": dict(self.regular),
        }
        if self.schedules:
            raw["schedules"] = {s: dict(v) for s, v in self.schedules.items()}
            raw["due"] = next_due(self)
        if self.effective:
            raw["effective"] = list(self.effective)
        # Always written, even empty: its absence marks a state stored before the
        # log existed (see from_dict).
        raw["stock_log"] = [[at, delta] for at, delta in self.stock_log]
        if self.stock_log_since:
            raw["stock_log_since"] = self.stock_log_since
        return raw

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ProductState:
        """Inverse of :meth:`to_dict`. Missing keys take their defaults, so a state
        stored before a field was added still loads; such a state's regular prices
        are its current prices of type regular, and its stock log starts at its
        last event (:func:`_legacy_since`)."""
        prices = {c: dict(p) for c, p in raw.get("prices", {}).items()}
        regular = raw.get("regular")
        if regular is None:
            regular = {c: p["amount"] for c, p in prices.items() if p["price_type"] == "regular"}
        return cls(
            sku=str(raw["sku"]),
            version=int(raw.get("version", 0)),
            registered=bool(raw.get("registered", False)),
            discontinued=bool(raw.get("discontinued", False)),
            name=str(raw.get("name", "")),
            description=str(raw.get("description", "")),
            brand=str(raw.get("brand", "")),
            category_path=tuple(raw.get("category_path", ())),
            attributes=dict(raw.get("attributes", {})),
            tags=tuple(raw.get("tags", ())),
            prices=prices,
            stock=int(raw.get("stock", 0)),
            updated_at=str(raw.get("updated_at", "")),
            regular=dict(regular),
            schedules={s: dict(v) for s, v in raw.get("schedules", {}).items()},
            effective=tuple(raw.get("effective", ())),
            stock_log=tuple((str(at), int(delta)) for at, delta in raw.get("stock_log", ())),
            stock_log_since=str(raw.get("stock_log_since", _legacy_since(raw))),
        )


def _legacy_since(raw: Mapping[str, Any]) -> str:
    """A state stored before the stock log existed knows none of its adjustments:
    a count older than its last event could miss some, so it is refused
    (``count_too_old``) rather than silently wrong; later counts are exact."""
    return "" if "stock_log" in raw else str(raw.get("updated_at", ""))


def next_due(state: ProductState) -> str | None:
    """The earliest instant (canonical) a schedule of ``state`` is due: a pending
    schedule's start or a running sale's end."""
    instants = [s["ends_at"] if s["active"] else s["starts_at"] for s in state.schedules.values()]
    return min(instants) if instants else None


# --------------------------------------------------------------------------- evolve


def _scheduled(event: Mapping[str, Any]) -> dict[str, Any]:
    """A schedule as the state keeps it: the event's data, canonical instants, whether
    it runs now, and the event that planned it (the cause of what it fires)."""
    data = event["data"]
    kept = {
        "currency": data["currency"],
        "amount": data["amount"],
        "price_type": data["price_type"],
        "starts_at": timestamps.canonical(data["starts_at"]),
        "active": False,
        "cause": event["event_id"],
        "correlation_id": event.get("correlation_id", event["event_id"]),
    }
    if "ends_at" in data:
        kept["ends_at"] = timestamps.canonical(data["ends_at"])
    if "campaign_id" in data:
        kept["campaign_id"] = data["campaign_id"]
    return kept


def _took_effect(state: ProductState, schedule_id: str) -> dict[str, Any]:
    """The schedule is done: off the pending list, onto the recent ``effective`` list."""
    schedules = {s: v for s, v in state.schedules.items() if s != schedule_id}
    effective = (*(e for e in state.effective if e != schedule_id), schedule_id)
    return {"schedules": schedules, "effective": effective[-EFFECTIVE_KEPT:]}


def _price_changed(state: ProductState, data: Mapping[str, Any]) -> dict[str, Any]:
    currency, amount, price_type = data["currency"], data["amount"], data["price_type"]
    prices = {c: dict(p) for c, p in state.prices.items()}
    prices[currency] = {"amount": amount, "price_type": price_type}
    changes: dict[str, Any] = {"prices": prices}
    if price_type == "regular":
        changes["regular"] = {**state.regular, currency: amount}
    schedule_id = data.get("schedule_id")
    schedule = state.schedules.get(schedule_id) if schedule_id else None
    if schedule_id and schedule is not None:
        if price_type == "sale" and not schedule["active"]:
            changes["schedules"] = {**state.schedules, schedule_id: {**schedule, "active": True}}
        else:  # a regular price that took effect, or a sale's end
            changes.update(_took_effect(state, schedule_id))
    return changes


def _stock_adjusted(state: ProductState, event: Mapping[str, Any]) -> dict[str, Any]:
    """The stock an event states, and, for an adjustment, its place in the log a later
    count is decided against. A change a SetStock made (it carries ``counted_at``)
    is a restatement, not a movement: kept out of the log, so a later count never
    adds it. The log only grows here, by one entry per adjustment."""
    data = event["data"]
    changes: dict[str, Any] = {"stock": int(data["quantity"])}
    if "counted_at" in data:
        return changes
    log = (*state.stock_log, (timestamps.canonical(event["occurred_at"]), int(data["delta"])))
    if len(log) > STOCK_LOG_KEPT:
        dropped = log[: len(log) - STOCK_LOG_KEPT]
        changes["stock_log_since"] = dropped[-1][0]
        log = log[len(dropped) :]
    changes["stock_log"] = log
    return changes


def _details(data: Mapping[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in DETAIL_FIELDS:
        if name in data:
            value = data[name]
            if name in ("category_path", "tags"):
                value = tuple(value)
            elif name == "attributes":
                value = dict(value)
            changes[name] = value
    return changes


def _changes(state: ProductState, event: Mapping[str, Any]) -> dict[str, Any]:
    """The state fields an event sets: the new state is built once per event from them."""
    event_type, data = event["type"], event["data"]
    if event_type == "ProductRegistered":
        return {"registered": True, **_details(data)}
    if event_type == "ProductDetailsUpdated":
        return _details(data)
    if event_type == "PriceChanged":
        return _price_changed(state, data)
    if event_type == "StockAdjusted":
        return _stock_adjusted(state, event)
    if event_type == "ProductDiscontinued":
        return {"discontinued": True}
    if event_type == "PriceChangeScheduled":
        return {"schedules": {**state.schedules, data["schedule_id"]: _scheduled(event)}}
    if event_type == "PriceChangeScheduleCancelled":
        schedule_id = data["schedule_id"]
        return {"schedules": {s: v for s, v in state.schedules.items() if s != schedule_id}}
    if event_type == "RegularPriceChanged":
        changes = {"regular": {**state.regular, data["currency"]: data["amount"]}}
        if data.get("schedule_id") in state.schedules:
            changes.update(_took_effect(state, data["schedule_id"]))
        return changes
    raise ValueError(f"unknown event type {event_type!r}")


def evolve(state: ProductState, event: Mapping[str, Any]) -> ProductState:
    """Apply one event to the state and return the new state.

    The event is upcast to its current version first, so callers may pass events of
    any historic version. An event whose version is not above the state's has already
    been applied (at-least-once delivery) and is ignored; one that skips a version
    raises :class:`EventOutOfOrderError`. ``StockAdjusted`` sets the stock to the
    event's ``quantity`` rather than adding ``delta``: the event states the result,
    so state cannot drift from the log.
    """
    if event.get("sku") != state.sku:
        raise EventOutOfOrderError(f"event for SKU {event.get('sku')!r} applied to {state.sku!r}")
    version = event["version"]
    if version <= state.version:
        return state
    if version != state.version + 1:
        raise EventOutOfOrderError(
            f"{state.sku}: event version {version} does not follow state version {state.version}"
        )
    current = upcast(event)
    return state.replaced(
        version=version,
        updated_at=timestamps.canonical(current["occurred_at"]),
        **_changes(state, current),
    )


def evolve_all(state: ProductState, events: Iterable[Mapping[str, Any]]) -> ProductState:
    """Fold :func:`evolve` over ``events``: the state after all of them."""
    for event in events:
        state = evolve(state, event)
    return state
