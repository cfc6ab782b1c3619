"""The product page's price chart and Omnibus notes, built from the pricing read model.

Pure: the page's route reads the price history, the Omnibus reference prices and
the schedules with the JSON API's own query functions and hands them here.
Amounts stay exact decimal strings all the way into the page (Chart.js reads a
numeric string as a number only to place a pixel), so what the chart's tooltip
and the table show is what the events said.

The chart goes on past *now* with what the schedules will set, every such point
flagged ``planned``: the page draws that part apart (dotted, lighter, hollow
points, a shaded area labelled "planned"), so a plan is never read as history.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from read_models.pricing.models import CurrentPrice, OmnibusPrice, PriceInterval
from read_models.pricing.schedule_models import ProductSchedules
from schemas.money import format_amount

#: The shortest stretch a last planned price is drawn for after its step (else a step
#: at the very end of the chart would be a point with no line to read it by).
MIN_TAIL = timedelta(hours=1)


def ms(at: datetime) -> int:
    """An instant as the chart's x value: milliseconds since the epoch."""
    return int(at.timestamp() * 1000)


@dataclass(frozen=True)
class PlannedPoint:
    """What customers will pay in a currency from ``at`` on, as the schedules plan it."""

    currency: str
    at: datetime
    amount: Decimal
    price_type: str


def planned_points(schedules: ProductSchedules | None) -> list[PlannedPoint]:
    """The steps still to come that change what customers pay, in the order the
    processor will take them (by planned instant, a sale's end before a start at the
    same instant, then by schedule id), each at the instant it will take effect.

    A step that only changes the regular price (a sale runs), a missed sale and a
    sale with nothing to return to change no price: they are no point of the chart
    (the table of upcoming changes lists them).
    """
    if schedules is None:
        return []
    steps = [
        (
            (step.planned_at, step.step != "end", change.schedule_id),
            PlannedPoint(
                change.currency, step.effective_at, step.price.amount, step.price.price_type
            ),
        )
        for change in schedules.schedules
        for step in change.steps
        if step.outcome == "price_changed" and step.price is not None
    ]
    return [point for _, point in sorted(steps, key=lambda s: s[0])]


def _point(at: datetime, amount: Decimal, price_type: str, **flags: bool) -> dict[str, Any]:
    return {"x": ms(at), "y": format_amount(amount), "sale": price_type == "sale", **flags}


def price_series(
    history: Iterable[PriceInterval], now: datetime, planned: Sequence[PlannedPoint] = ()
) -> list[dict[str, Any]]:
    """One stepped series per currency (sorted by currency), oldest point first.

    Each price in force for some time is one point at the instant it began,
    flagged ``sale`` or not; a zero-length interval (two changes in one clock tick,
    never in force) is no point. The last step is drawn to where it ended (a
    discontinued product) or to ``now`` by one more point flagged ``end``, which
    is no price change and not counted in ``points``.

    Then the ``planned`` points of the currency (from :func:`planned_points`),
    flagged ``planned`` and counted in ``planned``, the last one drawn on by a
    point flagged ``planned`` and ``end``: a tenth of the chart's span, at least
    :data:`MIN_TAIL`. A currency with only planned prices starts at its first.
    """
    by_currency: dict[str, list[PriceInterval]] = {}
    for interval in history:
        if interval.valid_to is not None and interval.valid_to <= interval.valid_from:
            continue
        by_currency.setdefault(interval.currency, []).append(interval)
    ahead: dict[str, list[PlannedPoint]] = {}
    for point in planned:
        ahead.setdefault(point.currency, []).append(point)
    series = []
    for currency in sorted(by_currency.keys() | ahead.keys()):
        intervals = sorted(by_currency.get(currency, []), key=lambda i: (i.valid_from, i.version))
        data = [_point(i.valid_from, i.amount, i.price_type) for i in intervals]
        if intervals:
            last = intervals[-1]
            end = last.valid_to or max(now, last.valid_from)
            data.append(_point(end, last.amount, last.price_type, end=True))
        steps = ahead.get(currency, [])
        if steps:
            data += [_point(p.at, p.amount, p.price_type, planned=True) for p in steps]
            first = intervals[0].valid_from if intervals else steps[0].at
            final = steps[-1]
            tail = final.at + max(MIN_TAIL, (final.at - first) / 10)
            data.append(_point(tail, final.amount, final.price_type, planned=True, end=True))
        series.append(
            {"currency": currency, "points": len(intervals), "planned": len(steps), "data": data}
        )
    return series


def series_json(series: Sequence[Mapping[str, Any]]) -> str:
    """The series as JSON that no HTML context can mistake for markup (the page puts it
    in an attribute, which Jinja escapes as well)."""
    return (
        json.dumps(series, separators=(",", ":"))
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


@dataclass(frozen=True)
class PriceRow:
    """One currency's current price, and what a retailer must show beside a reduction."""

    currency: str
    amount: str
    price_type: str
    valid_from: datetime
    #: the EU Omnibus prior price: the lowest in the 30 days before this reduction;
    #: None when no price was in force then (or when the price is no sale)
    lowest_30_days: str | None
    #: True when the price is a sale and the Omnibus rule was looked up for it
    reduced: bool


def price_rows(
    current: Mapping[str, CurrentPrice], omnibus: Mapping[str, OmnibusPrice | None]
) -> list[PriceRow]:
    """Current prices by currency; a sale price carries its Omnibus reference price."""
    rows = []
    for currency, price in sorted(current.items()):
        reference = omnibus.get(currency)
        reduced = price.price_type == "sale"
        lowest = (
            format_amount(reference.lowest_30_days)
            if reduced and reference is not None and reference.lowest_30_days is not None
            else None
        )
        rows.append(
            PriceRow(
                currency,
                format_amount(price.amount),
                price.price_type,
                price.valid_from,
                lowest,
                reduced,
            )
        )
    return rows


def display_amount(amount: str | Decimal) -> str:
    """An exact amount as shoppers read it: at least two decimals ('12.5' -> '12.50'),
    never rounded ('9.995' stays)."""
    text = format_amount(amount) if isinstance(amount, Decimal) else amount
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.ljust(2, '0')}"
