"""Pure projection of product events onto the pricing tables (no I/O).

:func:`plan` turns a batch of events, and the version each SKU already has in
the store, into the row operations the writer performs. Every operation is
guarded by the event version so that the operations of one plan can be executed
in any order, and executing a plan whose events were already applied changes
nothing:

* products, current prices and stock are upserts of the final state of the
  batch, applied only over an older stored ``version``;
* history rows are inserted with their ``valid_to`` already computed inside the
  batch (``None`` = still valid); their key is ``(sku, version, currency)`` so a
  re-insert is a no-op;
* :class:`HistoryClose` closes the interval(s) that were open in the store
  *before* the batch: only rows with ``version <`` the closing event's version,
  so the rows of the batch itself are never touched by it.

:func:`price_as_of` is the pure mirror of the "price as of t" SQL lookup.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from read_models.projection import Gap, PositionedEvent
from schemas import timestamps
from schemas.money import parse_amount

__all__ = [
    "ACTIVE",
    "DISCONTINUED",
    "CurrentPriceDelete",
    "CurrentPriceUpsert",
    "HistoryClose",
    "HistoryRow",
    "Plan",
    "ProductUpsert",
    "StockSet",
    "plan",
    "price_as_of",
]

ACTIVE = "active"
DISCONTINUED = "discontinued"
PRICE_TYPES = frozenset({"regular", "sale"})
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


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
    sku: str
    currency: str
    amount: Decimal
    price_type: str
    valid_from: datetime
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
    """One validity interval ``[valid_from, valid_to)`` of a price; ``valid_to`` None = open."""

    sku: str
    currency: str
    amount: Decimal
    price_type: str
    valid_from: datetime
    valid_to: datetime | None
    event_id: str
    version: int

    def columns(self) -> tuple[object, ...]:
        """The row as ``price_history``'s columns, in their order (for COPY and INSERT)."""
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


@dataclass
class Plan:
    """Row operations for one batch; ``events`` holds the events to apply, per SKU, in version order."""

    products: list[ProductUpsert] = field(default_factory=list)
    current_prices: list[CurrentPriceUpsert] = field(default_factory=list)
    current_price_deletes: list[CurrentPriceDelete] = field(default_factory=list)
    history_closes: list[HistoryClose] = field(default_factory=list)
    history_rows: list[HistoryRow] = field(default_factory=list)
    stock: list[StockSet] = field(default_factory=list)
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
            history_closes=[op for op in self.history_closes if op.sku in keep],
            history_rows=[op for op in self.history_rows if op.sku in keep],
            stock=[op for op in self.stock if op.sku in keep],
            events={sku: evs for sku, evs in self.events.items() if sku in keep},
        )


class InvalidEventError(ValueError):
    """An event whose content cannot become a row (reported as failed, never retried)."""


def plan(
    events: Sequence[PositionedEvent],
    applied_versions: Mapping[str, int],
    applied_times: Mapping[str, datetime] | None = None,
) -> Plan:
    """The row operations that apply ``events`` over a store where each SKU has
    ``applied_versions`` (and the instant of its last applied event, ``applied_times``).

    Events of one SKU are applied in version order; an event whose version is at
    or below the SKU's applied version (including a duplicate inside the batch) is
    skipped; from the first event that is not the next version on, the SKU's
    events are reported in ``gaps`` and not applied. When an event of a SKU is malformed, every event of that SKU in the
    batch is reported in ``invalid`` (none of them is applied), like a SKU the
    database refuses.
    """
    result = Plan()
    applied_times = applied_times or {}
    by_sku: dict[str, list[PositionedEvent]] = {}
    for positioned in events:
        sku = positioned.event.get("sku")
        version = positioned.event.get("version")
        if not isinstance(sku, str) or not sku:
            result.invalid.append((positioned, "event has no sku"))
        elif not isinstance(version, int) or isinstance(version, bool) or version < 1:
            result.invalid.append((positioned, f"event has no valid version: {version!r}"))
        else:
            by_sku.setdefault(sku, []).append(positioned)

    for sku, group in by_sku.items():
        group.sort(key=lambda p: (p.event["version"], p.partition, p.offset))
        applied = applied_versions.get(sku, 0)
        to_apply: list[PositionedEvent] = []
        for index, positioned in enumerate(group):
            version = positioned.event["version"]
            if version <= applied:
                result.skipped += 1
                continue
            if version != applied + 1:
                result.gaps.extend(Gap(later, applied) for later in group[index:])
                break
            applied = version
            to_apply.append(positioned)
        if not to_apply:
            continue
        try:
            _SkuProjection(sku, applied_times.get(sku)).project(to_apply, result)
        except InvalidEventError as exc:
            for positioned in to_apply:
                result.invalid.append((positioned, str(exc)))
            # Refused events are dead-lettered; the SKU's version moves past them so
            # its later events follow without a version gap.
            result.products.append(ProductUpsert(sku, to_apply[-1].event["version"], None, None))
    return result


class _SkuProjection:
    def __init__(self, sku: str, last_at: datetime | None) -> None:
        self.sku = sku
        self.last_at = last_at
        self.status: str | None = None
        self.open_rows: dict[str, HistoryRow] = {}  # opened in this batch, still open
        self.rows: list[HistoryRow] = []
        self.closes: list[HistoryClose] = []
        self.closed_before: set[str] = set()  # currencies whose stored open row is closed
        self.all_closed_before = False
        self.current: dict[str, CurrentPriceUpsert] = {}
        self.delete: CurrentPriceDelete | None = None
        self.stock: StockSet | None = None

    def project(self, to_apply: list[PositionedEvent], into: Plan) -> None:
        last_at: datetime | None = self.last_at
        for positioned in to_apply:
            last_at = self._one(positioned.event)
        assert last_at is not None
        into.products.append(
            ProductUpsert(self.sku, to_apply[-1].event["version"], self.status, last_at)
        )
        into.history_closes.extend(self.closes)
        into.history_rows.extend(self.rows)
        into.history_rows.extend(self.open_rows.values())
        if self.delete is not None:
            into.current_price_deletes.append(self.delete)
        into.current_prices.extend(self.current.values())
        if self.stock is not None:
            into.stock.append(self.stock)
        into.events[self.sku] = to_apply

    def _one(self, event: Mapping[str, Any]) -> datetime:
        """Project one event; its instant, clamped to the product's previous event so a
        product's time never runs backwards (what the processor guarantees for every
        event it writes, applied here too for events written before it did)."""
        version: int = event["version"]
        at = _timestamp(event.get("occurred_at"), version)
        if self.last_at is not None and at < self.last_at:
            at = self.last_at
        self.last_at = at
        data = event.get("data")
        if not isinstance(data, Mapping):
            raise InvalidEventError(f"version {version}: data is not an object")
        kind = event.get("type")
        if kind == "ProductRegistered":
            self.status = ACTIVE
        elif kind == "PriceChanged":
            self._price_changed(event, data, version, at)
        elif kind == "StockAdjusted":
            quantity = data.get("quantity")
            if not isinstance(quantity, int) or isinstance(quantity, bool):
                raise InvalidEventError(f"version {version}: stock quantity is not an integer")
            self.stock = StockSet(self.sku, quantity, version)
        elif kind == "ProductDiscontinued":
            self._discontinued(version, at)
        # ProductDetailsUpdated, and any type pricing does not know, only advance the version.
        return at

    def _price_changed(
        self, event: Mapping[str, Any], data: Mapping[str, Any], version: int, at: datetime
    ) -> None:
        currency, price_type = data.get("currency"), data.get("price_type")
        if not isinstance(currency, str):
            raise InvalidEventError(f"version {version}: currency is not a string")
        if price_type not in PRICE_TYPES:
            raise InvalidEventError(f"version {version}: unknown price_type {price_type!r}")
        raw_amount = data.get("amount")
        if not isinstance(raw_amount, str):
            raise InvalidEventError(f"version {version}: amount is not a decimal string")
        try:
            amount = parse_amount(raw_amount)
        except ValueError as exc:
            raise InvalidEventError(f"version {version}: {exc}") from None
        event_id = event.get("event_id")
        if not isinstance(event_id, str) or not _UUID.fullmatch(event_id):
            raise InvalidEventError(f"version {version}: event_id is not a UUID")

        valid_from = at
        previous = self.open_rows.pop(currency, None)
        if previous is not None:
            valid_from = max(at, previous.valid_from)  # never a negative interval
            self.rows.append(
                HistoryRow(
                    previous.sku,
                    previous.currency,
                    previous.amount,
                    previous.price_type,
                    previous.valid_from,
                    valid_from,
                    previous.event_id,
                    previous.version,
                )
            )
        elif not self.all_closed_before and currency not in self.closed_before:
            self.closes.append(HistoryClose(self.sku, currency, at, version))
            self.closed_before.add(currency)
        self.open_rows[currency] = HistoryRow(
            self.sku, currency, amount, str(price_type), valid_from, None, event_id, version
        )
        self.current[currency] = CurrentPriceUpsert(
            self.sku, currency, amount, str(price_type), valid_from, version
        )

    def _discontinued(self, version: int, at: datetime) -> None:
        self.status = DISCONTINUED
        for row in self.open_rows.values():
            self.rows.append(replace(row, valid_to=max(at, row.valid_from)))
        self.open_rows.clear()
        if not self.all_closed_before:
            self.closes.append(
                HistoryClose(self.sku, None, at, version, tuple(sorted(self.closed_before)))
            )
            self.all_closed_before = True
        self.current.clear()
        self.delete = CurrentPriceDelete(self.sku, version)


def _timestamp(value: object, version: int) -> datetime:
    if not isinstance(value, str):
        raise InvalidEventError(f"version {version}: occurred_at is not a string")
    try:
        return timestamps.parse(value)
    except ValueError as exc:
        raise InvalidEventError(f"version {version}: occurred_at: {exc}") from None


def price_as_of(history: Iterable[HistoryRow], currency: str, at: datetime) -> HistoryRow | None:
    """The interval of ``currency`` valid at ``at`` (the last change at or before it), or None.

    Mirrors the SQL lookup: ``valid_from <= at AND (valid_to IS NULL OR at < valid_to)
    ORDER BY valid_from DESC, version DESC LIMIT 1``. After a discontinue every
    interval is closed, so instants after it have no price.
    """
    candidates = [
        row
        for row in history
        if row.currency == currency
        and row.valid_from <= at
        and (row.valid_to is None or at < row.valid_to)
    ]
    if not candidates:
        return None
    return max(candidates, key=lambda row: (row.valid_from, row.version))
