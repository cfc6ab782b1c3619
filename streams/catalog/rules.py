"""The product's rules: pure ``decide`` (command + state -> events).

This is the write side's whole business logic. It does no I/O, reads no clock and
draws no random numbers, so:

* the same command against the same state always yields byte-identical events
  (event ids derive from the command id, timestamps from the command), which is
  what makes redelivery and retries harmless;
* the command processor, replays and the unit tests all run exactly this code.

Commands reaching :func:`decide` must already be valid (``schemas.codec``).

**Setting stock from a count** (``SetStock``). A count (a merchant's nightly
feed) states the stock at ``counted_at``; deliveries and sales (``AdjustStock``)
keep arriving while it travels. Turning the count into a delta on the client
would race them, so the processor decides it against the product's own log of
adjustments: the stock a SetStock sets is ``quantity`` + the sum of the deltas
of every AdjustStock the product accepted with an ``occurred_at`` strictly after
``counted_at``. Adjustments at or before ``counted_at`` are taken to be in the
count; later ones are not, so they are added on top; a delivery is neither lost
nor counted twice, whatever order the feed and the deliveries reach the
processor in. Earlier SetStocks are restatements, not movements: they are never
added. Re-sending the same count is therefore idempotent (same result), and an
older count sent after a newer one still yields the right figure as long as the
adjustments since it are remembered (:data:`~streams.catalog.state.STOCK_LOG_KEPT`;
an older count is ``count_too_old``). An adjustment's ``occurred_at`` is its
event's: the command's instant, or the product's previous event's if later.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from schemas import timestamps
from schemas.money import amounts_equal, is_positive
from streams.catalog import schedules
from streams.catalog.decision import Accepted, Decision, Rejected, build_event
from streams.catalog.reasons import (
    ALREADY_DISCONTINUED,
    ALREADY_REGISTERED,
    COUNT_IN_FUTURE,
    COUNT_TOO_OLD,
    DISCONTINUED,
    INSUFFICIENT_STOCK,
    NOT_FOUND,
    PRICE_NOT_POSITIVE,
    STOCK_LIMIT,
    VERSION_CONFLICT,
)
from streams.catalog.state import DETAIL_FIELDS, ProductState

__all__ = ["COUNT_FUTURE_TOLERANCE", "MAX_STOCK", "decide"]

#: The most stock a product may hold: 2^53 - 1, the largest integer every JSON
#: client reads exactly (JavaScript's Number.MAX_SAFE_INTEGER). Both read models
#: store stock as 64-bit integers.
MAX_STOCK = 2**53 - 1

#: How far after the command's ``occurred_at`` a count's ``counted_at`` may lie:
#: clocks disagree by a little, but a count cannot be taken in the future, and a
#: count dated ahead would swallow every adjustment until then.
COUNT_FUTURE_TOLERANCE = timedelta(minutes=5)


def _copy(value: Any) -> Any:
    """Detach event data from the command (lists and dicts of strings only)."""
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value


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
    return Accepted([build_event(command, state, 0, "ProductRegistered", event_data)])


def _update_details(command: Mapping[str, Any], state: ProductState) -> Decision:
    """Only fields whose value actually differs go into the event; an update that
    changes nothing is accepted with no events (see :func:`decide`)."""
    data = command["data"]
    changed = {
        name: _copy(data[name])
        for name in DETAIL_FIELDS
        if name in data and _copy(data[name]) != _copy(getattr(state, name))
    }
    if not changed:
        return Accepted([])
    return Accepted([build_event(command, state, 0, "ProductDetailsUpdated", changed)])


def _change_price(command: Mapping[str, Any], state: ProductState) -> Decision:
    """A regular price sent while a scheduled sale runs changes the regular price
    only (``RegularPriceChanged``): customers keep the sale price, and this one
    comes back when the sale ends."""
    data = command["data"]
    amount: str = data["amount"]
    currency: str = data["currency"]
    price_type: str = data.get("price_type", "regular")
    if not is_positive(amount):
        return Rejected(PRICE_NOT_POSITIVE, f"price must be greater than zero, got {amount}")
    event_data = {"amount": amount, "currency": currency, "price_type": price_type}
    if price_type == "regular" and state.running_sale(currency) is not None:
        regular = state.regular.get(currency)
        if regular is not None and amounts_equal(regular, amount):
            return Accepted([])
        event_data.pop("price_type")
        return Accepted([build_event(command, state, 0, "RegularPriceChanged", event_data)])
    current = state.prices.get(currency)
    if (
        current is not None
        and current["price_type"] == price_type
        and amounts_equal(current["amount"], amount)
    ):
        return Accepted([])
    return Accepted([build_event(command, state, 0, "PriceChanged", event_data)])


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
    return Accepted([build_event(command, state, 0, "StockAdjusted", event_data)])


def _set_stock(command: Mapping[str, Any], state: ProductState) -> Decision:
    """``SetStock``: the count plus the adjustments after it (see the module's
    docstring). Which adjustments are added is decided by their instants, not by
    whether they reached the processor before the count did."""
    data = command["data"]
    quantity: int = data["quantity"]
    counted_at = timestamps.canonical(data["counted_at"])
    ahead = timestamps.parse(counted_at) - timestamps.parse(command["occurred_at"])
    if ahead > COUNT_FUTURE_TOLERANCE:
        return Rejected(
            COUNT_IN_FUTURE,
            f"counted_at {counted_at} is more than "
            f"{int(COUNT_FUTURE_TOLERANCE.total_seconds() // 60)} min after the command's "
            f"occurred_at {timestamps.canonical(command['occurred_at'])}: "
            "a count cannot be taken in the future",
        )
    if state.stock_log_since and counted_at < state.stock_log_since:
        return Rejected(
            COUNT_TOO_OLD,
            f"{state.sku} remembers its last {len(state.stock_log)} stock adjustments, "
            f"from {state.stock_log_since} on; the count of {counted_at} is older than "
            "them, so adjustments made after it would be missed. Send a newer count, "
            "or an AdjustStock",
        )
    later = sum(delta for at, delta in state.stock_log if at > counted_at)
    stock = quantity + later
    if stock < 0:
        return Rejected(
            INSUFFICIENT_STOCK,
            f"count {quantity} at {counted_at} plus the adjustments after it ({later:+d}) "
            f"gives stock {stock}, below zero",
        )
    if stock > MAX_STOCK:
        return Rejected(
            STOCK_LIMIT,
            f"count {quantity} at {counted_at} plus the adjustments after it ({later:+d}) "
            f"gives stock {stock}, above the limit {MAX_STOCK}",
        )
    if stock == state.stock:
        return Accepted([])
    event_data = {
        "delta": stock - state.stock,
        "quantity": stock,
        "reason": data.get("reason", ""),
        "counted_at": counted_at,
    }
    return Accepted([build_event(command, state, 0, "StockAdjusted", event_data)])


def _discontinue(command: Mapping[str, Any], state: ProductState) -> Decision:
    """The product's schedules, pending or running, are cancelled first (reason
    ``discontinued``): a discontinued product takes no price changes, planned or not."""
    events = schedules.cancel_all(command, state)
    event_data = {"reason": command["data"].get("reason", "")}
    events.append(build_event(command, state, len(events), "ProductDiscontinued", event_data))
    return Accepted(events)


_HANDLERS: dict[str, Callable[[Mapping[str, Any], ProductState], Decision]] = {
    "RegisterProduct": _register,
    "UpdateProductDetails": _update_details,
    "ChangePrice": _change_price,
    "AdjustStock": _adjust_stock,
    "DiscontinueProduct": _discontinue,
    "SchedulePriceChange": schedules.schedule,
    "CancelScheduledPriceChange": schedules.cancel,
    "SetStock": _set_stock,
}
_BLOCKED_WHEN_DISCONTINUED = frozenset(
    {
        "UpdateProductDetails",
        "ChangePrice",
        "AdjustStock",
        "SchedulePriceChange",
        "CancelScheduledPriceChange",
        "SetStock",
    }
)


def decide(command: Mapping[str, Any], state: ProductState) -> Decision:
    """Decide a validated command against the product's current state.

    Checks run in this order, and the first failing one is the answer:

    1. existence: ``already_registered`` (RegisterProduct on an existing SKU) or
       ``not_found`` (anything else on an unknown SKU). These come before the
       version check because they are the more specific answer (a RegisterProduct
       with ``expected_version: 0`` on an existing SKU is "already registered");
    2. ``version_conflict`` when ``expected_version`` is given and differs;
    3. lifecycle: ``discontinued`` (update, price, stock, counts, schedules on a
       discontinued product), ``already_discontinued``;
    4. values: ``price_not_positive``, ``insufficient_stock``, ``stock_limit``,
       the count rules of SetStock (``count_in_future``, then ``count_too_old``,
       then ``insufficient_stock``/``stock_limit`` for the stock it would set),
       and the schedule rules (``streams.catalog.schedules``).

    Commands that would change nothing (UpdateProductDetails with the current values,
    ChangePrice with the current amount, currency and price type, a schedule sent
    again unchanged, a SetStock whose result is the current stock) are **accepted
    with no events**. They are "set" operations, so repeating one is a success, but
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
