"""The EU Omnibus reference price, as a pure function over price-history intervals.

Directive 98/6/EC art. 6a (inserted by Directive (EU) 2019/2161): an
announcement of a price reduction must indicate the prior price, which is the
lowest price applied during a period of not less than 30 days prior to the
application of the price reduction. This module fixes what that means over
the pricing read model's history, and :func:`read_models.pricing.queries.lowest_price_30_days`
computes the same thing in SQL (the tests check both on the same data).

The rule, precisely
-------------------
For a (sku, currency) and the price change at instant ``T``:

* **window** = ``[T - 30 days, T)``, half-open. 30 days is exactly 720 hours
  (``timedelta(days=30)``; the SQL uses ``interval '720 hours'``, so the
  session time zone and DST never stretch or shrink it). The new price, the one
  that starts at ``T``, is not part of its own reference.
* **counted prices** = every history interval ``[valid_from, valid_to)`` of that
  (sku, currency) that overlaps the window and is not empty:
  ``valid_from < T`` and (``valid_to`` is NULL or
  ``valid_to > max(T - 30 days, valid_from)``). Consequences at the boundaries:

  - an interval that started before ``T - 30d`` and was still valid at
    ``T - 30d`` counts (it was applied during the window);
  - an interval that ended exactly at ``T - 30d`` does not count (at that
    instant the next price was in force: ``valid_to`` is exclusive, like
    "price as of");
  - a price change exactly at ``T - 30d``: the new price counts, the old one does not;
  - a zero-length interval (two changes in the same clock tick,
    ``valid_from == valid_to``) was never in force at any instant and never counts;
  - price type does not matter: an earlier *sale* price counts like a regular
    one (that is the point of the rule: no staircase of "reductions").

* **lowest** = the minimum amount of the counted prices; **None** when no price
  was in force during the window at all (a new product, or a currency whose
  first price is the one set at ``T``). We return None rather than falling back to
  the current price: there is no prior price, so no reduction can be
  announced, and the caller can tell "no reference" from "reference equals the
  price". A currency is its own price list: EUR and USD are computed
  independently, and a currency's reference never looks at another currency.
* **is_reduction** = ``lowest is not None and price_at(T) < lowest``.
* **default T** = the ``valid_from`` of the currency's current price (its open
  interval), i.e. its latest change. Without a current price (never priced,
  discontinued) there is no default and the answer is None.

For well-formed histories (a currency's intervals are contiguous and do not
overlap) the counted prices are exactly the prices returned by "price as of t"
for the instants t of the window. If a skewed producer clock ever made two
non-empty intervals overlap, both count: the reference can only get lower, the
conservative direction for a reduction claim.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

__all__ = [
    "WINDOW",
    "Interval",
    "OmnibusResult",
    "counts",
    "current_change_at",
    "lowest_price_before",
    "omnibus",
    "price_at",
    "window_start",
]

#: The look-back period: exactly 30 x 24 hours.
WINDOW = timedelta(days=30)


class Interval(Protocol):
    """A price-history interval (``rows.HistoryRow`` and ``models.PriceInterval`` both fit)."""

    @property
    def currency(self) -> str: ...
    @property
    def amount(self) -> Decimal: ...
    @property
    def valid_from(self) -> datetime: ...
    @property
    def valid_to(self) -> datetime | None: ...
    @property
    def version(self) -> int: ...


@dataclass(frozen=True)
class OmnibusResult:
    """The rule's answer for one currency at the change instant ``at`` (see the module doc)."""

    at: datetime
    window_start: datetime
    price: Interval  # the interval in force at ``at``
    lowest: Decimal | None
    is_reduction: bool


def _aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def window_start(at: datetime) -> datetime:
    """``at - 30 days``: the first instant of the window ``[window_start, at)``."""
    return at - WINDOW


def counts(interval: Interval, at: datetime) -> bool:
    """True when ``interval`` is a non-empty interval that overlaps ``[at - 30 days, at)``."""
    start = window_start(at)
    if interval.valid_from >= at:
        return False
    end = interval.valid_to
    return end is None or end > max(start, interval.valid_from)


def lowest_price_before(
    intervals: Iterable[Interval], currency: str, at: datetime
) -> Decimal | None:
    """The lowest amount of ``currency`` in force during ``[at - 30 days, at)``; None if none was."""
    _aware(at, "at")
    amounts = [i.amount for i in intervals if i.currency == currency and counts(i, at)]
    return min(amounts) if amounts else None


def price_at(intervals: Iterable[Interval], currency: str, at: datetime) -> Interval | None:
    """The interval of ``currency`` in force at ``at`` ("price as of"), or None.

    ``valid_from <= at < valid_to`` (``valid_to`` None = open); among several, the
    latest ``(valid_from, version)``, like the SQL lookup and ``rows.price_as_of``.
    """
    _aware(at, "at")
    best: Interval | None = None
    for i in intervals:
        if i.currency != currency or i.valid_from > at:
            continue
        if i.valid_to is not None and at >= i.valid_to:
            continue
        if best is None or (i.valid_from, i.version) > (best.valid_from, best.version):
            best = i
    return best


def current_change_at(intervals: Iterable[Interval], currency: str) -> datetime | None:
    """The default T: ``valid_from`` of the currency's current (open) interval, or None."""
    current: Interval | None = None
    for i in intervals:
        if (
            i.currency == currency
            and i.valid_to is None
            and (
                current is None or (i.valid_from, i.version) > (current.valid_from, current.version)
            )
        ):
            current = i
    return None if current is None else current.valid_from


def omnibus(
    intervals: Iterable[Interval], currency: str, at: datetime | None = None
) -> OmnibusResult | None:
    """The rule for the change of ``currency`` at ``at`` (default: its latest change).

    None when there is no price to announce: no price of ``currency`` in force at
    ``at`` (before the first price, after a discontinue), or no default ``at``.
    """
    items = [i for i in intervals if i.currency == currency]
    if at is None:
        at = current_change_at(items, currency)
        if at is None:
            return None
    _aware(at, "at")
    price = price_at(items, currency, at)
    if price is None:
        return None
    lowest = lowest_price_before(items, currency, at)
    return OmnibusResult(
        at=at,
        window_start=window_start(at),
        price=price,
        lowest=lowest,
        is_reduction=lowest is not None and price.amount < lowest,
    )
