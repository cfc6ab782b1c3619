"""The row operations a plan is made of (pure data, no I/O).

:func:`read_models.pricing.rows.plan` computes them, :mod:`read_models.pricing.merge`
writes them, :mod:`read_models.pricing.fold` reads the rows a product must hold
from them. Every operation carries the version of the event that last shaped it
and is applied only over a row written by an older event, so the operations of
one plan can run in any order and running a plan again changes nothing.

Kept apart from the planner so the vocabulary (what the tables are written
with) reads on its own, and the planner only says how events become it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from read_models.projection import Gap, PositionedEvent

__all__ = [
    "CANCELLED",
    "DONE",
    "MISSED",
    "PLANNED",
    "RUNNING",
    "SCHEDULE_STATUSES",
    "CurrentPriceDelete",
    "CurrentPriceUpsert",
    "HistoryClose",
    "HistoryRow",
    "Plan",
    "ProductUpsert",
    "RegularPriceSet",
    "ScheduleRow",
    "ScheduleUpdate",
    "StockSet",
]

#: A schedule's life in ``scheduled_price.status``: planned, then running (a sale
#: between its start and its end), then done; or cancelled / missed instead.
PLANNED = "planned"
RUNNING = "running"
DONE = "done"
CANCELLED = "cancelled"
MISSED = "missed"
SCHEDULE_STATUSES = (PLANNED, RUNNING, DONE, CANCELLED, MISSED)


@dataclass(frozen=True)
class ProductUpsert:
    """The per-SKU version guard. ``status`` None keeps the stored status (``active`` if
    new); ``updated_at`` None keeps the stored instant (a version moved past refused events)."""

    sku: str
    version: int
    status: str | None
    updated_at: datetime | None


@dataclass(frozen=True)
class CurrentPriceUpsert:
    """The price customers pay now in one currency.

    ``regular_amount`` is the currency's regular price, what comes back when a sale
    ends. None keeps the stored one (a batch that only set a sale price knows no
    regular price; the table does): the merge writes ``COALESCE``.
    """

    sku: str
    currency: str
    amount: Decimal
    price_type: str
    valid_from: datetime
    version: int
    regular_amount: Decimal | None = None


@dataclass(frozen=True)
class RegularPriceSet:
    """Only the regular price of a stored current price changes (``RegularPriceChanged``
    in a batch that has no current price of the currency to carry it)."""

    sku: str
    currency: str
    amount: Decimal
    version: int


@dataclass(frozen=True)
class CurrentPriceDelete:
    """Delete every current price of ``sku`` set by an event older than ``version`` (discontinue)."""

    sku: str
    version: int


@dataclass(frozen=True)
class HistoryClose:
    """Close the open history interval(s) stored before this batch at ``valid_to``.

    ``currency`` None (discontinue) closes every currency of the SKU except
    ``except_currencies`` (those an earlier event of the same batch already closed).
    Only rows with a version below ``version`` are touched; the SQL closes at
    ``GREATEST(valid_from, valid_to)`` so a skewed clock never makes an interval negative.
    """

    sku: str
    currency: str | None
    valid_to: datetime
    version: int
    except_currencies: tuple[str, ...] = ()


@dataclass(frozen=True)
class HistoryRow:
    """One validity interval ``[valid_from, valid_to)`` of a price; ``valid_to`` None = open.

    ``valid_from`` is when the change took effect, what customers were charged
    from and what the Omnibus rule counts. A change a schedule made also keeps
    its ``schedule_id`` and the instant it was planned for (``planned_at``: earlier
    than ``valid_from`` when it fired late).
    """

    sku: str
    currency: str
    amount: Decimal
    price_type: str
    valid_from: datetime
    valid_to: datetime | None
    event_id: str
    version: int
    planned_at: datetime | None = None
    schedule_id: str | None = None

    def columns(self) -> tuple[object, ...]:
        """The first eight columns of ``price_history`` (those of its first migration),
        in their order; ``planned_at`` and ``schedule_id`` follow them in the table."""
        return (
            self.sku,
            self.currency,
            self.amount,
            self.price_type,
            self.valid_from,
            self.valid_to,
            self.event_id,
            self.version,
        )


@dataclass(frozen=True)
class StockSet:
    sku: str
    quantity: int
    version: int


@dataclass(frozen=True)
class ScheduleRow:
    """A whole ``scheduled_price`` row: a schedule as planned (``PriceChangeScheduled``),
    with whatever later events of the same batch did to it already applied."""

    sku: str
    schedule_id: str
    currency: str
    amount: Decimal
    price_type: str
    starts_at: datetime
    ends_at: datetime | None
    campaign_id: str | None
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    reason: str | None
    version: int

    def columns(self) -> tuple[object, ...]:
        """The row as ``scheduled_price``'s columns, in their order (for COPY)."""
        return (
            self.sku,
            self.schedule_id,
            self.currency,
            self.amount,
            self.price_type,
            self.starts_at,
            self.ends_at,
            self.campaign_id,
            self.status,
            self.started_at,
            self.ended_at,
            self.reason,
            self.version,
        )

    def updated(self, update: ScheduleUpdate) -> ScheduleRow:
        """This row once ``update`` (a later event of the same schedule) is applied."""
        return replace(
            self,
            status=update.status or self.status,
            started_at=update.started_at or self.started_at,
            ended_at=update.ended_at or self.ended_at,
            reason=update.reason or self.reason,
            version=update.version,
        )


@dataclass(frozen=True)
class ScheduleUpdate:
    """What later events did to a schedule planned in an earlier batch: each field
    None keeps the stored value. Applied only over a row written by an older event."""

    sku: str
    schedule_id: str
    version: int
    status: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    reason: str | None = None

    def then(self, later: ScheduleUpdate) -> ScheduleUpdate:
        """One update doing what this one and then ``later`` do."""
        return replace(
            self,
            status=later.status or self.status,
            started_at=later.started_at or self.started_at,
            ended_at=later.ended_at or self.ended_at,
            reason=later.reason or self.reason,
            version=later.version,
        )


@dataclass
class Plan:
    """Row operations for one batch; ``events`` holds the events to apply, per SKU, in version order."""

    products: list[ProductUpsert] = field(default_factory=list)
    current_prices: list[CurrentPriceUpsert] = field(default_factory=list)
    current_price_deletes: list[CurrentPriceDelete] = field(default_factory=list)
    regular_prices: list[RegularPriceSet] = field(default_factory=list)
    history_closes: list[HistoryClose] = field(default_factory=list)
    history_rows: list[HistoryRow] = field(default_factory=list)
    stock: list[StockSet] = field(default_factory=list)
    schedules: list[ScheduleRow] = field(default_factory=list)
    schedule_updates: list[ScheduleUpdate] = field(default_factory=list)
    events: dict[str, list[PositionedEvent]] = field(default_factory=dict)
    skipped: int = 0
    #: events that cannot be turned into rows (malformed), with the reason
    invalid: list[tuple[PositionedEvent, str]] = field(default_factory=list)
    #: events not applied because their SKU misses earlier versions
    gaps: list[Gap] = field(default_factory=list)

    @property
    def applied(self) -> int:
        return sum(len(events) for events in self.events.values())

    def only(self, skus: Collection[str]) -> Plan:
        """The operations of ``skus`` alone (to apply SKU by SKU); skipped/invalid are not carried."""
        keep = set(skus)
        return Plan(
            products=[op for op in self.products if op.sku in keep],
            current_prices=[op for op in self.current_prices if op.sku in keep],
            current_price_deletes=[op for op in self.current_price_deletes if op.sku in keep],
            regular_prices=[op for op in self.regular_prices if op.sku in keep],
            history_closes=[op for op in self.history_closes if op.sku in keep],
            history_rows=[op for op in self.history_rows if op.sku in keep],
            stock=[op for op in self.stock if op.sku in keep],
            schedules=[op for op in self.schedules if op.sku in keep],
            schedule_updates=[op for op in self.schedule_updates if op.sku in keep],
            events={sku: evs for sku, evs in self.events.items() if sku in keep},
        )
