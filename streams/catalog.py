"""The product aggregate: pure ``decide`` (command + state -> events) and ``evolve``
(state + event -> state).

This is the write side's whole business logic. It does no I/O, reads no clock and
draws no random numbers, so:

* the same command against the same state always yields byte-identical events
  (event ids derive from the command id, timestamps from the command), which is
  what makes redelivery and retries harmless;
* the command processor, replays and the unit tests all run exactly this code.

Commands reaching :func:`decide` must already be valid (``schemas.codec``); events
reaching :func:`evolve` may be of any historic version (they are upcast here).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from schemas import timestamps
from schemas.ids import event_id
from schemas.money import amounts_equal, is_positive
from schemas.registry import CURRENT_EVENT_VERSIONS
from schemas.upcasting import upcast

__all__ = [
    "ALREADY_DISCONTINUED",
    "ALREADY_REGISTERED",
    "DETAIL_FIELDS",
    "DISCONTINUED",
    "INSUFFICIENT_STOCK",
    "MAX_STOCK",
    "NOT_FOUND",
    "PRICE_NOT_POSITIVE",
    "REJECTION_REASONS",
    "STOCK_LIMIT",
    "VERSION_CONFLICT",
    "Accepted",
    "Decision",
    "EventOutOfOrderError",
    "ProductState",
    "Rejected",
    "decide",
    "evolve",
    "evolve_all",
]

# Rejection reasons: stable machine codes, part of the results contract.
ALREADY_REGISTERED = "already_registered"
NOT_FOUND = "not_found"
DISCONTINUED = "discontinued"
ALREADY_DISCONTINUED = "already_discontinued"
PRICE_NOT_POSITIVE = "price_not_positive"
INSUFFICIENT_STOCK = "insufficient_stock"
STOCK_LIMIT = "stock_limit"
VERSION_CONFLICT = "version_conflict"
REJECTION_REASONS = frozenset(
    {
        ALREADY_REGISTERED,
        NOT_FOUND,
        DISCONTINUED,
        ALREADY_DISCONTINUED,
        PRICE_NOT_POSITIVE,
        INSUFFICIENT_STOCK,
        STOCK_LIMIT,
        VERSION_CONFLICT,
    }
)

#: The most stock a product may hold: 2^53 - 1, the largest integer every JSON
#: client reads exactly (JavaScript's Number.MAX_SAFE_INTEGER). Both read models
#: store stock as 64-bit integers.
MAX_STOCK = 2**53 - 1

#: Descriptive fields, in the order they appear in events.
DETAIL_FIELDS = ("name", "description", "brand", "category_path", "attributes", "tags")


class EventOutOfOrderError(ValueError):
    """An event skips versions or belongs to another SKU: the log or the state store
    is inconsistent. Applying it anyway would silently corrupt the aggregate."""


@dataclass(frozen=True)
class ProductState:
    """Everything ``decide`` needs to know about one product.

    ``version`` 0 means the product does not exist. Stored in a changelog-backed
    table, hence :meth:`to_dict` / :meth:`from_dict` with plain JSON types. Treat
    instances as immutable: ``evolve`` always builds a new one.
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (lists and dicts only)."""
        return {
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
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ProductState:
        """Inverse of :meth:`to_dict`. Missing keys take their defaults, so a state
        stored before a field was added still loads."""
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
            prices={c: dict(p) for c, p in raw.get("prices", {}).items()},
            stock=int(raw.get("stock", 0)),
            updated_at=str(raw.get("updated_at", "")),
        )


@dataclass(frozen=True)
class Accepted:
    """The command is valid against the state; ``events`` (possibly empty, for a
    command that changes nothing) are to be published in order."""

    events: list[dict[str, Any]]


@dataclass(frozen=True)
class Rejected:
    """The command breaks an invariant. ``reason`` is one of
    :data:`REJECTION_REASONS`; ``message`` is for people."""

    reason: str
    message: str


Decision = Accepted | Rejected


# --------------------------------------------------------------------------- decide


def _event(
    command: Mapping[str, Any],
    state: ProductState,
    index: int,
    event_type: str,
    data: dict[str, Any],
) -> dict[str, Any]:
    """Build event ``index`` of a decision. Everything is derived from the command and
    the state, in a fixed key order, so re-deciding gives byte-identical JSON.

    ``occurred_at`` is the command's instant in canonical form (UTC, ``Z``,
    microseconds), clamped to the product's last event: a product's event time
    never runs backwards, so its price history cannot get an interval that
    starts before the one it closes, however clients' clocks disagree."""
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
        "causation_id": command_id,
        "data": data,
    }


def _copy(value: Any) -> Any:
    """Detach event data from the command (lists and dicts of strings only)."""
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value


def _current_detail(state: ProductState, name: str) -> Any:
    value = getattr(state, name)
    return _copy(value)


def _register(command: Mapping[str, Any], state: ProductState) -> Decision:
    data = command["data"]
    event_data = {
        "name": data["name"],
        "description": data.get("description", ""),
        "brand": data.get("brand", ""),
        "category_path": _copy(data.get("category_path", [])),
        "attributes": _copy(data.get("attributes", {})),
        "tags": _copy(data.get("tags", [])),
    }
    return Accepted([_event(command, state, 0, "ProductRegistered", event_data)])


def _update_details(command: Mapping[str, Any], state: ProductState) -> Decision:
    """Only fields whose value actually differs go into the event; an update that
    changes nothing is accepted with no events (see :func:`decide`)."""
    data = command["data"]
    changed = {
        name: _copy(data[name])
        for name in DETAIL_FIELDS
        if name in data and _copy(data[name]) != _current_detail(state, name)
    }
    if not changed:
        return Accepted([])
    return Accepted([_event(command, state, 0, "ProductDetailsUpdated", changed)])


def _change_price(command: Mapping[str, Any], state: ProductState) -> Decision:
    data = command["data"]
    amount: str = data["amount"]
    currency: str = data["currency"]
    price_type: str = data.get("price_type", "regular")
    if not is_positive(amount):
        return Rejected(PRICE_NOT_POSITIVE, f"price must be greater than zero, got {amount}")
    current = state.prices.get(currency)
    if (
        current is not None
        and current["price_type"] == price_type
        and amounts_equal(current["amount"], amount)
    ):
        return Accepted([])
    event_data = {"amount": amount, "currency": currency, "price_type": price_type}
    return Accepted([_event(command, state, 0, "PriceChanged", event_data)])


def _adjust_stock(command: Mapping[str, Any], state: ProductState) -> Decision:
    data = command["data"]
    delta: int = data["delta"]
    quantity = state.stock + delta
    if quantity < 0:
        return Rejected(
            INSUFFICIENT_STOCK,
            f"cannot remove {-delta} from stock {state.stock}: stock would be {quantity}",
        )
    if quantity > MAX_STOCK:
        return Rejected(
            STOCK_LIMIT,
            f"cannot add {delta} to stock {state.stock}: stock would be {quantity}, "
            f"above the limit {MAX_STOCK}",
        )
    event_data = {"delta": delta, "quantity": quantity, "reason": data.get("reason", "")}
    return Accepted([_event(command, state, 0, "StockAdjusted", event_data)])


def _discontinue(command: Mapping[str, Any], state: ProductState) -> Decision:
    event_data = {"reason": command["data"].get("reason", "")}
    return Accepted([_event(command, state, 0, "ProductDiscontinued", event_data)])


_HANDLERS = {
    "RegisterProduct": _register,
    "UpdateProductDetails": _update_details,
    "ChangePrice": _change_price,
    "AdjustStock": _adjust_stock,
    "DiscontinueProduct": _discontinue,
}
_BLOCKED_WHEN_DISCONTINUED = frozenset({"UpdateProductDetails", "ChangePrice", "AdjustStock"})


def decide(command: Mapping[str, Any], state: ProductState) -> Decision:
    """Decide a validated command against the product's current state.

    Checks run in this order, and the first failing one is the answer:

    1. existence: ``already_registered`` (RegisterProduct on an existing SKU) or
       ``not_found`` (anything else on an unknown SKU). These come before the
       version check because they are the more specific answer (a RegisterProduct
       with ``expected_version: 0`` on an existing SKU is "already registered");
    2. ``version_conflict`` when ``expected_version`` is given and differs;
    3. lifecycle: ``discontinued`` (update, price, stock on a discontinued product),
       ``already_discontinued``;
    4. values: ``price_not_positive``, ``insufficient_stock``.

    Commands that would change nothing (UpdateProductDetails with the current values,
    ChangePrice with the current amount, currency and price type) are **accepted
    with no events**. Both are "set" operations, so repeating one is a success, but
    an event would claim a change that did not happen: the pricing history would get
    a phantom price change (a new validity interval, a new Omnibus reference point)
    and every read model would rewrite an unchanged document. The product version
    therefore does not move either.

    Raises:
        ValueError: the command type is unknown or its SKU is not the state's;
            both are programming errors, since the codec and the SKU-keyed state
            table rule them out.
    """
    command_type = command["type"]
    handler = _HANDLERS.get(command_type)
    if handler is None:
        raise ValueError(f"unknown command type {command_type!r}")
    if command["sku"] != state.sku:
        raise ValueError(f"command for SKU {command['sku']!r} decided against {state.sku!r}")

    if command_type == "RegisterProduct":
        if state.version > 0:
            return Rejected(
                ALREADY_REGISTERED,
                f"product {state.sku} is already registered (version {state.version})",
            )
    elif not state.registered:
        return Rejected(NOT_FOUND, f"product {state.sku} is not registered")

    expected = command.get("expected_version")
    if expected is not None and expected != state.version:
        return Rejected(
            VERSION_CONFLICT,
            f"expected version {expected} of product {state.sku}, "
            f"but the current version is {state.version}",
        )

    if state.discontinued:
        if command_type in _BLOCKED_WHEN_DISCONTINUED:
            return Rejected(DISCONTINUED, f"product {state.sku} is discontinued")
        if command_type == "DiscontinueProduct":
            return Rejected(ALREADY_DISCONTINUED, f"product {state.sku} is already discontinued")

    return handler(command, state)


# --------------------------------------------------------------------------- evolve


def _changes(state: ProductState, event_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The state fields an event sets: the new state is built once per event from them."""
    if event_type == "ProductRegistered":
        return {
            "registered": True,
            "name": data["name"],
            "description": data["description"],
            "brand": data["brand"],
            "category_path": tuple(data["category_path"]),
            "attributes": dict(data["attributes"]),
            "tags": tuple(data["tags"]),
        }
    if event_type == "ProductDetailsUpdated":
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
    if event_type == "PriceChanged":
        prices = {c: dict(p) for c, p in state.prices.items()}
        prices[data["currency"]] = {"amount": data["amount"], "price_type": data["price_type"]}
        return {"prices": prices}
    if event_type == "StockAdjusted":
        return {"stock": int(data["quantity"])}
    if event_type == "ProductDiscontinued":
        return {"discontinued": True}
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
        **_changes(state, current["type"], current["data"]),
    )


def evolve_all(state: ProductState, events: Iterable[Mapping[str, Any]]) -> ProductState:
    """Fold :func:`evolve` over ``events``: the state after all of them."""
    for event in events:
        state = evolve(state, event)
    return state
