"""Scheduled price changes: the rules for planning and cancelling them, and what
firing a due one publishes (all pure).

A schedule is planned by a command and kept in the product's state
(``PriceChangeScheduled``). When its instant has come, the processor calls
:func:`fire` with the time it reads from its clock: the only clock this package
ever sees, passed in, so firing is as testable as deciding. What it returns is
published like any command's events, in one transaction with the new state,
hence exactly once.

Decisions documented in the README ("Scheduled prices"):

* **The past.** ``starts_at`` may lie up to :data:`PAST_TOLERANCE` before the
  command's ``occurred_at`` (clocks disagree, a request takes time); it then
  takes effect at once. Further back is ``schedule_in_past``. Deciding stays
  clock-free: the command's own instant is the reference, as for every rule.
* **Overlapping sales** of one SKU and currency are refused
  (``schedule_overlap``), never silently replaced: two campaigns claiming the
  same days is a planning error a person must resolve. Sending the same
  ``schedule_id`` again is how a schedule is replaced (or moved).
* **What a sale ends with** is the regular price of that moment, including
  one changed while the sale ran (``RegularPriceChanged``).
* **Cancelling a running sale ends it now**; cancelling what took effect
  (a regular change that happened, a sale that ended) is refused
  (``schedule_already_effective``).
* **Discontinuing** cancels every schedule of the product (reason
  ``discontinued``), and a sale whose whole window passed while nothing could
  fire it is cancelled as ``missed``, never shown after its end.
* **Firing late** (after an outage): the change takes effect at once; its
  event's ``occurred_at`` is when it did and ``planned_at`` the planned
  instant. Due changes of one SKU fire in the order of their instants, a
  sale's end before a start at the same instant.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from schemas import timestamps
from schemas.money import amounts_equal, is_positive
from streams.catalog.decision import Accepted, Decision, Rejected, build_event
from streams.catalog.reasons import (
    NO_REGULAR_PRICE,
    PRICE_NOT_POSITIVE,
    SCHEDULE_ALREADY_EFFECTIVE,
    SCHEDULE_IN_PAST,
    SCHEDULE_NOT_FOUND,
    SCHEDULE_OVERLAP,
    SCHEDULE_WINDOW,
)
from streams.catalog.state import ProductState, evolve

__all__ = ["PAST_TOLERANCE", "cancel", "cancel_all", "fire", "schedule"]

#: How far before the command's ``occurred_at`` a schedule may start.
PAST_TOLERANCE = timedelta(seconds=60)

_FIELDS = ("currency", "amount", "price_type", "starts_at", "ends_at", "campaign_id")


def _planned(data: Mapping[str, Any]) -> dict[str, Any]:
    """The schedule a command asks for, with canonical instants."""
    planned = {
        "currency": data["currency"],
        "amount": data["amount"],
        "price_type": data.get("price_type", "regular"),
        "starts_at": timestamps.canonical(data["starts_at"]),
    }
    if "ends_at" in data:
        planned["ends_at"] = timestamps.canonical(data["ends_at"])
    if "campaign_id" in data:
        planned["campaign_id"] = data["campaign_id"]
    return planned


def _same(kept: Mapping[str, Any], planned: Mapping[str, Any]) -> bool:
    for name in _FIELDS:
        if name == "amount":
            if not amounts_equal(kept["amount"], planned["amount"]):
                return False
        elif kept.get(name) != planned.get(name):
            return False
    return True


def _overlapping(state: ProductState, schedule_id: str, planned: Mapping[str, Any]) -> str | None:
    """The id of another scheduled sale of the currency whose window meets this one's."""
    for other_id, other in sorted(state.schedules.items()):
        if (
            other_id != schedule_id
            and other["price_type"] == "sale"
            and other["currency"] == planned["currency"]
            and other["starts_at"] < planned["ends_at"]
            and planned["starts_at"] < other["ends_at"]
        ):
            return other_id
    return None


def _has_regular(state: ProductState, planned: Mapping[str, Any]) -> bool:
    """A sale needs a regular price to come back to: the current one, or a regular
    change of the currency planned no later than the sale's start."""
    currency = planned["currency"]
    return currency in state.regular or any(
        s["price_type"] == "regular"
        and s["currency"] == currency
        and s["starts_at"] <= planned["starts_at"]
        for s in state.schedules.values()
    )


def schedule(command: Mapping[str, Any], state: ProductState) -> Decision:
    """``SchedulePriceChange``: plan, replace (same ``schedule_id``), or nothing to do."""
    data = command["data"]
    schedule_id: str = data["schedule_id"]
    planned = _planned(data)
    if not is_positive(planned["amount"]):
        return Rejected(
            PRICE_NOT_POSITIVE, f"price must be greater than zero, got {planned['amount']}"
        )
    kept = state.schedules.get(schedule_id)
    if (kept is not None and kept["active"]) or schedule_id in state.effective:
        return Rejected(
            SCHEDULE_ALREADY_EFFECTIVE,
            f"schedule {schedule_id} of {state.sku} already took effect; "
            "a running sale can be ended with CancelScheduledPriceChange",
        )
    if kept is not None and _same(kept, planned):
        return Accepted([])
    late = timestamps.parse(command["occurred_at"]) - timestamps.parse(planned["starts_at"])
    if late > PAST_TOLERANCE:
        return Rejected(
            SCHEDULE_IN_PAST,
            f"starts_at {planned['starts_at']} is more than "
            f"{int(PAST_TOLERANCE.total_seconds())} s before the command's occurred_at "
            f"{timestamps.canonical(command['occurred_at'])}",
        )
    if planned["price_type"] == "sale":
        if planned["ends_at"] <= planned["starts_at"]:
            return Rejected(
                SCHEDULE_WINDOW,
                f"ends_at {planned['ends_at']} is not after starts_at {planned['starts_at']}",
            )
        other = _overlapping(state, schedule_id, planned)
        if other is not None:
            return Rejected(
                SCHEDULE_OVERLAP,
                f"the sale overlaps sale {other} of {state.sku} in {planned['currency']}; "
                "cancel or move that one first",
            )
        if not _has_regular(state, planned):
            return Rejected(
                NO_REGULAR_PRICE,
                f"{state.sku} has no regular price in {planned['currency']} "
                "for the sale to return to",
            )
    event_data = {"schedule_id": schedule_id, **planned, "replaces": kept is not None}
    return Accepted([build_event(command, state, 0, "PriceChangeScheduled", event_data)])


def _cancelled(
    command: Mapping[str, Any],
    state: ProductState,
    index: int,
    schedule_id: str,
    reason: str,
    note: str = "",
    causation_id: str | None = None,
) -> dict[str, Any]:
    kept = state.schedules[schedule_id]
    data: dict[str, Any] = {"schedule_id": schedule_id, "currency": kept["currency"]}
    if "campaign_id" in kept:
        data["campaign_id"] = kept["campaign_id"]
    data["reason"] = reason
    if note:
        data["note"] = note
    return build_event(
        command, state, index, "PriceChangeScheduleCancelled", data, causation_id=causation_id
    )


def _back_to_regular(
    command: Mapping[str, Any],
    state: ProductState,
    index: int,
    schedule_id: str,
    planned_at: str | None,
    causation_id: str | None = None,
) -> dict[str, Any] | None:
    """The event that returns a currency to its regular price as a sale ends (None
    when there is no regular price to return to). When customers pay the regular
    price already, only the regular price is stated: no phantom price change."""
    currency = state.schedules[schedule_id]["currency"]
    amount = state.regular.get(currency)
    if amount is None:
        return None
    data: dict[str, Any] = {"amount": amount, "currency": currency}
    current = state.prices.get(currency)
    unchanged = (
        current is not None
        and current["price_type"] == "regular"
        and amounts_equal(current["amount"], amount)
    )
    event_type = "RegularPriceChanged" if unchanged else "PriceChanged"
    if not unchanged:
        data["price_type"] = "regular"
    if planned_at is not None:  # the sale's planned end (a cancel's restore names no step)
        data |= {"schedule_id": schedule_id, "schedule_step": "end", "planned_at": planned_at}
    return build_event(command, state, index, event_type, data, causation_id=causation_id)


def cancel(command: Mapping[str, Any], state: ProductState) -> Decision:
    """``CancelScheduledPriceChange``: a pending schedule is dropped; a running sale
    ends now (the regular price comes back)."""
    data = command["data"]
    schedule_id: str = data["schedule_id"]
    kept = state.schedules.get(schedule_id)
    if kept is None:
        if schedule_id in state.effective:
            return Rejected(
                SCHEDULE_ALREADY_EFFECTIVE, f"schedule {schedule_id} of {state.sku} took effect"
            )
        return Rejected(SCHEDULE_NOT_FOUND, f"{state.sku} has no schedule {schedule_id}")
    events = [_cancelled(command, state, 0, schedule_id, "cancelled", data.get("reason", ""))]
    if kept["active"]:
        restored = _back_to_regular(command, state, 1, schedule_id, None)
        if restored is not None:
            # the state the restore is decided against is still this one: the
            # cancel event changes no price, only forgets the schedule
            events.append(restored)
    return Accepted(events)


def cancel_all(command: Mapping[str, Any], state: ProductState) -> list[dict[str, Any]]:
    """Every schedule of the product cancelled, reason ``discontinued`` (first events
    of a ``DiscontinueProduct``)."""
    return [
        _cancelled(command, state, index, schedule_id, "discontinued")
        for index, schedule_id in enumerate(sorted(state.schedules))
    ]


# --------------------------------------------------------------------------- firing


def _next_due(state: ProductState, now: str) -> tuple[str, str] | None:
    """``(schedule_id, instant)`` of the first schedule due at ``now``: by instant, a
    sale's end before a start at the same instant, then by id."""
    due = [
        (s["ends_at"] if s["active"] else s["starts_at"], 0 if s["active"] else 1, schedule_id)
        for schedule_id, s in state.schedules.items()
        if (s["ends_at"] if s["active"] else s["starts_at"]) <= now
    ]
    if not due:
        return None
    instant, _, schedule_id = min(due)
    return schedule_id, instant


def _firing(state: ProductState, schedule_id: str, instant: str, now: str) -> dict[str, Any]:
    """The one event schedule ``schedule_id`` publishes at ``now`` (its instant has come)."""
    kept = state.schedules[schedule_id]
    kind = "end" if kept["active"] else "start"
    # A firing is decided like a command: its id names the schedule version (the
    # event that planned it) and the step, so its event ids are fixed; it happens now.
    command = {
        "command_id": f"schedule:{kind}:{kept['cause']}",
        "sku": state.sku,
        "occurred_at": now,
        "correlation_id": kept["correlation_id"],
    }
    cause = str(kept["cause"])
    if kind == "end":
        event = _back_to_regular(command, state, 0, schedule_id, instant, cause)
        if event is None:
            note = "no regular price to return to"
            return _cancelled(command, state, 0, schedule_id, "cancelled", note, cause)
        return event
    if kept["price_type"] == "sale":
        if kept["ends_at"] <= now:
            return _cancelled(command, state, 0, schedule_id, "missed", causation_id=cause)
        data = {"amount": kept["amount"], "currency": kept["currency"], "price_type": "sale"}
        data |= {"schedule_id": schedule_id, "schedule_step": "start", "planned_at": instant}
        return build_event(command, state, 0, "PriceChanged", data, causation_id=cause)
    return _regular_takes_effect(command, state, schedule_id, instant, cause)


def _regular_takes_effect(
    command: Mapping[str, Any], state: ProductState, schedule_id: str, instant: str, cause: str
) -> dict[str, Any]:
    """A planned regular price: the price customers pay, unless a scheduled sale runs
    (then it is the price the sale returns to) or it is the price already."""
    kept = state.schedules[schedule_id]
    currency, amount = kept["currency"], kept["amount"]
    current = state.prices.get(currency)
    quiet = state.running_sale(currency) is not None or (
        current is not None
        and current["price_type"] == "regular"
        and amounts_equal(current["amount"], amount)
    )
    data: dict[str, Any] = {"amount": amount, "currency": currency}
    if not quiet:
        data["price_type"] = "regular"
    data |= {"schedule_id": schedule_id, "schedule_step": "start", "planned_at": instant}
    event_type = "RegularPriceChanged" if quiet else "PriceChanged"
    return build_event(command, state, 0, event_type, data, causation_id=cause)


def fire(state: ProductState, now: str) -> list[dict[str, Any]]:
    """The events of every schedule of ``state`` due at ``now`` (canonical), in order.

    Each is decided against the state the previous one left, so a sale that
    starts and ends within the outage is seen as missed, and a regular change
    planned inside a sale changes the price it returns to.
    """
    events: list[dict[str, Any]] = []
    while (due := _next_due(state, now)) is not None:
        event = _firing(state, *due, now)
        events.append(event)
        state = evolve(state, event)
    return events
