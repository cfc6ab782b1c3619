"""The product page's price chart and Omnibus notes, built from the pricing read model.

Pure: the page's route reads the price history and the Omnibus reference prices
with the JSON API's own query functions and hands them here. Amounts stay exact
decimal strings all the way into the page (Chart.js reads a numeric string as a
number only to place a pixel), so what the chart's tooltip and the table show is
what the events said.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from read_models.pricing.models import CurrentPrice, OmnibusPrice, PriceInterval
from schemas.money import format_amount


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def price_series(history: Iterable[PriceInterval], now: datetime) -> list[dict[str, Any]]:
    """One stepped series per currency (sorted by currency), oldest point first.

    Each price in force for some time is one point at the instant it began,
    flagged ``sale`` or not; a zero-length interval (two changes in one clock tick,
    never in force) is no point. The last step is drawn to where it ended (a
    discontinued product) or to ``now`` by one more point flagged ``end``, which
    is no price change and not counted in ``points``.
    """
    by_currency: dict[str, list[PriceInterval]] = {}
    for interval in history:
        if interval.valid_to is not None and interval.valid_to <= interval.valid_from:
            continue
        by_currency.setdefault(interval.currency, []).append(interval)
    series = []
    for currency, intervals in sorted(by_currency.items()):
        intervals.sort(key=lambda i: (i.valid_from, i.version))
        data: list[dict[str, Any]] = [
            {
                "x": _ms(i.valid_from),
                "y": format_amount(i.amount),
                "sale": i.price_type == "sale",
            }
            for i in intervals
        ]
        last = intervals[-1]
        end = last.valid_to or max(now, last.valid_from)
        data.append(
            {
                "x": _ms(end),
                "y": format_amount(last.amount),
                "sale": last.price_type == "sale",
                "end": True,
            }
        )
        series.append({"currency": currency, "points": len(intervals), "data": data})
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
