"""What the pricing read model holds for each product, from its whole history (no I/O).

The rows the live projection builds batch by batch are, by construction, the
rows :func:`read_models.pricing.rows.plan` computes for all of a product's
events in one batch over an empty store: that is the definition
``eventcart verify`` compares the tables with. :class:`SkuRows` is also what
:mod:`read_models.pricing.check` reads back, so both sides compare field by
field.

Over an empty store, the operations that only change a stored row (a
regular price of a currency with no current price, an update of a schedule
not planned in the batch) find no row: they hold nothing, here as in the tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from read_models.pricing.rows import ACTIVE, plan
from read_models.projection import PositionedEvent

__all__ = ["CurrentRow", "HistoryTuple", "ScheduleTuple", "SkuRows", "fold_rows"]

#: (amount, price_type, valid_from, version, regular_amount)
CurrentRow = tuple[Decimal, str, datetime, int, Decimal | None]
#: (version, currency, amount, price_type, valid_from, valid_to, event_id, planned_at, schedule_id)
HistoryTuple = tuple[
    int, str, Decimal, str, datetime, datetime | None, str, datetime | None, str | None
]
#: (currency, amount, price_type, starts_at, ends_at, campaign_id, status, started_at,
#:  ended_at, reason, version)
ScheduleTuple = tuple[
    str,
    Decimal,
    str,
    datetime,
    datetime | None,
    str | None,
    str,
    datetime | None,
    datetime | None,
    str | None,
    int,
]


@dataclass
class SkuRows:
    """Every row of one SKU, in a form both the fold and the tables produce."""

    version: int = 0
    status: str = ACTIVE
    updated_at: datetime | None = None
    #: currency -> its current price row
    current: dict[str, CurrentRow] = field(default_factory=dict)
    #: the price history, by version then currency
    history: list[HistoryTuple] = field(default_factory=list)
    stock: tuple[int, int] | None = None  # (quantity, version)
    #: schedule_id -> its scheduled_price row
    schedules: dict[str, ScheduleTuple] = field(default_factory=dict)

    def differences(self, other: SkuRows) -> list[str]:
        """The fields in which ``other`` (the tables) differ from this (the fold)."""
        found = []
        for name in ("version", "status", "updated_at", "current", "history", "stock", "schedules"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs:
                found.append(f"{name}: expected {_short(mine)}, found {_short(theirs)}")
        return found


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


def fold_rows(events: Sequence[PositionedEvent]) -> dict[str, SkuRows]:
    """The rows of every SKU the events name, as the pricing read model must hold them."""
    planned = plan(events, {})
    folded: dict[str, SkuRows] = {}
    for product in planned.products:
        rows = folded.setdefault(product.sku, SkuRows())
        rows.version = product.version
        rows.status = product.status or ACTIVE
        rows.updated_at = product.updated_at
    for price in planned.current_prices:
        folded[price.sku].current[price.currency] = (
            price.amount,
            price.price_type,
            price.valid_from,
            price.version,
            price.regular_amount,
        )
    for row in planned.history_rows:
        folded[row.sku].history.append(
            (
                row.version,
                row.currency,
                row.amount,
                row.price_type,
                row.valid_from,
                row.valid_to,
                row.event_id,
                row.planned_at,
                row.schedule_id,
            )
        )
    for stock in planned.stock:
        folded[stock.sku].stock = (stock.quantity, stock.version)
    for s in planned.schedules:
        folded[s.sku].schedules[s.schedule_id] = (
            s.currency,
            s.amount,
            s.price_type,
            s.starts_at,
            s.ends_at,
            s.campaign_id,
            s.status,
            s.started_at,
            s.ended_at,
            s.reason,
            s.version,
        )
    for rows in folded.values():
        rows.history.sort(key=lambda row: (row[0], row[1]))
    return folded
