"""What the schedules of a SKU will do to its prices, as pure functions over its rows.

The processor (:func:`streams.catalog.schedules.fire`) decides what a due
schedule does from the product's state at that moment. :func:`timeline` plays
the same rules forward from what the read model holds now (each currency's
current price and regular price, the pending and running schedules), so the
planned prices shown are the prices the processor will set, not a guess:

* steps are taken in the order of their instants; at one instant a sale's
  **end before a start**, then by ``schedule_id`` (the processor's order);
* a step whose instant has passed (the processor is behind) takes effect
  **now**, and a sale whose whole window has passed by then is **missed**;
* a sale's start sets the sale price; its **end returns to the regular price
  of that moment** (only the regular price is stated when customers pay it
  already), and a sale with no regular price to return to is cancelled,
  keeping its price;
* a regular price **while a scheduled sale runs** only changes what the sale
  returns to (the same when it equals the current price): what customers
  pay does not change.

Each currency is its own price list: steps of one currency never change another's.

The Omnibus reference of a planned sale
---------------------------------------
:mod:`read_models.pricing.omnibus`'s rule, unchanged, at the instant ``T`` the
sale will start: the lowest price in force during ``[T - 30 days, T)``. The
intervals counted are the real history up to now (the current price's open
interval ends where the first planned change of its currency begins) and the
planned prices between now and ``T``, with the same boundaries: a planned
price that lasts no time (a sale's end and the next sale's start at one
instant) never counts; an earlier sale, real or planned, counts like any price,
so back-to-back sales cannot announce a staircase of reductions. A running
sale's reference is taken at the instant it started, from the real history alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Literal

from read_models.pricing import omnibus

__all__ = [
    "CurrencyNow",
    "Interval",
    "Pending",
    "PlannedPoint",
    "Price",
    "Reference",
    "Step",
    "price_at",
    "references",
    "timeline",
    "with_plan",
]

Outcome = Literal["price_changed", "regular_price_changed", "missed", "cancelled"]

#: Versions of planned intervals: after every real one, in the order they begin.
_PLANNED_VERSION = 2**62


@dataclass(frozen=True)
class Price:
    amount: Decimal
    price_type: str


@dataclass(frozen=True)
class CurrencyNow:
    """A currency's current price (``current_price``), with its regular price."""

    currency: str
    amount: Decimal
    price_type: str
    regular_amount: Decimal | None
    valid_from: datetime


@dataclass(frozen=True)
class Pending:
    """A schedule that has a step to come: planned, or a sale running (``running``)."""

    schedule_id: str
    currency: str
    amount: Decimal
    price_type: str
    starts_at: datetime
    ends_at: datetime | None
    running: bool = False
    started_at: datetime | None = None


@dataclass(frozen=True)
class Step:
    """One step of the timeline, and the currency's prices right after it."""

    schedule_id: str
    currency: str
    step: Literal["start", "end"]
    #: the instant it is planned for
    planned_at: datetime
    #: when it takes effect: ``planned_at``, or now when that has passed
    effective_at: datetime
    #: what it does: the event the processor will publish, in short
    outcome: Outcome
    #: what customers pay after it (None: the currency has no price)
    price: Price | None
    #: the regular price after it
    regular_amount: Decimal | None

    @property
    def changes_price(self) -> bool:
        return self.outcome == "price_changed"


@dataclass(frozen=True)
class Interval:
    """A validity interval of a price, real or planned (:class:`omnibus.Interval`)."""

    currency: str
    amount: Decimal
    price_type: str
    valid_from: datetime
    valid_to: datetime | None
    version: int
    schedule_id: str | None = None


@dataclass(frozen=True)
class PlannedPoint:
    """The price of a currency at an instant, as planned: ``[valid_from, valid_to)``."""

    currency: str
    amount: Decimal
    price_type: str
    valid_from: datetime
    valid_to: datetime | None
    #: the schedule that sets it (None: the current price, still in force then)
    schedule_id: str | None


@dataclass(frozen=True)
class Reference:
    """The Omnibus reference of a sale at its start ``at`` (see the module doc)."""

    at: datetime
    window_start: datetime
    amount: Decimal
    lowest: Decimal | None
    is_reduction: bool


# --------------------------------------------------------------------------- timeline


def timeline(
    prices: Iterable[CurrencyNow], schedules: Iterable[Pending], now: datetime
) -> list[Step]:
    """Every step the schedules will take, in the order the processor takes them."""
    price: dict[str, Price | None] = {}
    regular: dict[str, Decimal | None] = {}
    for p in prices:
        price[p.currency] = Price(p.amount, p.price_type)
        regular[p.currency] = p.regular_amount
    schedules = list(schedules)
    pending = {s.schedule_id: s for s in schedules if not s.running}
    running = {s.schedule_id: s for s in schedules if s.running and s.ends_at is not None}
    steps: list[Step] = []
    while pending or running:
        due = [(s.ends_at, 0, i) for i, s in running.items() if s.ends_at is not None]
        due += [(s.starts_at, 1, i) for i, s in pending.items()]  # an end first at one instant
        instant, kind, schedule_id = min(due)
        at = max(instant, now)
        if kind == 0:
            schedule = running.pop(schedule_id)
            outcome, after = _end(price.get(schedule.currency), regular.get(schedule.currency))
            name: Literal["start", "end"] = "end"
        else:
            schedule = pending.pop(schedule_id)
            name = "start"
            current = price.get(schedule.currency)
            if schedule.price_type == "sale":
                ends_at = schedule.ends_at
                if ends_at is not None and ends_at <= at:
                    outcome, after = "missed", current
                else:
                    outcome, after = "price_changed", Price(schedule.amount, "sale")
                    if ends_at is not None:
                        running[schedule_id] = replace(schedule, running=True)
            else:
                regular[schedule.currency] = schedule.amount
                sale_runs = any(s.currency == schedule.currency for s in running.values())
                quiet = sale_runs or current == Price(schedule.amount, "regular")
                after = current if quiet else Price(schedule.amount, "regular")
                outcome = "regular_price_changed" if quiet else "price_changed"
        price[schedule.currency] = after
        steps.append(
            Step(
                schedule_id=schedule_id,
                currency=schedule.currency,
                step=name,
                planned_at=instant,
                effective_at=at,
                outcome=outcome,
                price=after,
                regular_amount=regular.get(schedule.currency),
            )
        )
    return steps


def _end(current: Price | None, regular: Decimal | None) -> tuple[Outcome, Price | None]:
    """A sale's end: back to the regular price (stated only, when customers pay it
    already); without one the sale is cancelled and its price stays."""
    if regular is None:
        return "cancelled", current
    back = Price(regular, "regular")
    return ("regular_price_changed" if current == back else "price_changed"), back


# --------------------------------------------------------------------------- prices


def with_plan(
    history: Iterable[omnibus.Interval], steps: Sequence[Step], currency: str
) -> list[Interval]:
    """The intervals of ``currency``: the real history, its open interval ended by the
    first planned change, then the planned prices, the last one open."""
    changes = [s for s in steps if s.currency == currency and s.changes_price and s.price]
    first = changes[0].effective_at if changes else None
    out = [
        Interval(
            currency,
            h.amount,
            getattr(h, "price_type", ""),
            h.valid_from,
            max(first, h.valid_from) if h.valid_to is None and first is not None else h.valid_to,
            h.version,
        )
        for h in history
        if h.currency == currency
    ]
    for index, step in enumerate(changes):
        assert step.price is not None
        ends = changes[index + 1].effective_at if index + 1 < len(changes) else None
        out.append(
            Interval(
                currency,
                step.price.amount,
                step.price.price_type,
                step.effective_at,
                ends,
                _PLANNED_VERSION + index,
                step.schedule_id,
            )
        )
    return out


def price_at(
    prices: Iterable[CurrencyNow], steps: Sequence[Step], currency: str, at: datetime
) -> PlannedPoint | None:
    """The planned price of ``currency`` at ``at`` (an instant from now on): the last
    price change taking effect at or before it, else the current price; None if the
    currency has no price then."""
    now = next((p for p in prices if p.currency == currency), None)
    point = (
        None
        if now is None
        else PlannedPoint(currency, now.amount, now.price_type, now.valid_from, None, None)
    )
    for step in steps:
        if step.currency != currency or not step.changes_price:
            continue
        if step.effective_at > at:
            if point is not None:
                point = replace(point, valid_to=step.effective_at)
            break
        assert step.price is not None
        point = PlannedPoint(
            currency,
            step.price.amount,
            step.price.price_type,
            step.effective_at,
            None,
            step.schedule_id,
        )
    return point


def references(
    history: Iterable[omnibus.Interval],
    schedules: Iterable[Pending],
    steps: Sequence[Step],
) -> dict[str, Reference]:
    """schedule_id -> the Omnibus reference of each sale that will start (at its
    effective start) or runs (at the instant it started); missed sales have none."""
    intervals = list(history)
    starts: Mapping[str, Step] = {
        s.schedule_id: s for s in steps if s.step == "start" and s.outcome == "price_changed"
    }
    found: dict[str, Reference] = {}
    by_currency: dict[str, list[Interval]] = {}
    for schedule in schedules:
        if schedule.price_type != "sale":
            continue
        if schedule.running:
            at = schedule.started_at
        else:
            start = starts.get(schedule.schedule_id)
            at = None if start is None else start.effective_at
        if at is None:
            continue
        currency = schedule.currency
        if currency not in by_currency:
            by_currency[currency] = with_plan(intervals, steps, currency)
        lowest = omnibus.lowest_price_before(by_currency[currency], currency, at)
        found[schedule.schedule_id] = Reference(
            at=at,
            window_start=omnibus.window_start(at),
            amount=schedule.amount,
            lowest=lowest,
            is_reduction=lowest is not None and schedule.amount < lowest,
        )
    return found
