"""Pure projection of product events onto the pricing tables (no I/O).

:func:`plan` turns a batch of events, and the version each SKU already has in
the store, into the row operations (:mod:`read_models.pricing.ops`) the writer
performs. Every operation is guarded by the event version so that the
operations of one plan can be executed in any order, and executing a plan whose
events were already applied changes nothing:

* products, current prices and stock are upserts of the final state of the
  batch, applied only over an older stored ``version``;
* a current price carries its currency's regular price (what a sale returns
  to) when the batch knows it, else the stored one is kept; a
  ``RegularPriceChanged`` changes only that, in the batch's current price of
  the currency or, when it has none, by a :class:`RegularPriceSet`;
* history rows are inserted with their ``valid_to`` already computed inside the
  batch (``None`` = still valid); their key is ``(sku, version, currency)`` so a
  re-insert is a no-op. A change a schedule made keeps its ``schedule_id`` and
  ``planned_at``; ``valid_from`` stays when it took effect;
* :class:`HistoryClose` closes the interval(s) that were open in the store
  *before* the batch: only rows with ``version <`` the closing event's version,
  so the rows of the batch itself are never touched by it;
* schedules become ``scheduled_price`` rows (:mod:`read_models.pricing.schedule_rows`).

:func:`price_as_of` is the pure mirror of the "price as of t" SQL lookup.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from read_models.pricing import fields
from read_models.pricing.fields import PRICE_TYPES, InvalidEventError
from read_models.pricing.ops import (
    CurrentPriceDelete,
    CurrentPriceUpsert,
    HistoryClose,
    HistoryRow,
    Plan,
    ProductUpsert,
    RegularPriceSet,
    ScheduleRow,
    ScheduleUpdate,
    StockSet,
)
from read_models.pricing.schedule_rows import ScheduleFold, schedule_step
from read_models.projection import Gap, PositionedEvent

__all__ = [
    "ACTIVE",
    "DISCONTINUED",
    "CurrentPriceDelete",
    "CurrentPriceUpsert",
    "HistoryClose",
    "HistoryRow",
    "InvalidEventError",
    "Plan",
    "ProductUpsert",
    "RegularPriceSet",
    "ScheduleRow",
    "ScheduleUpdate",
    "StockSet",
    "plan",
    "price_as_of",
]

ACTIVE = "active"
DISCONTINUED = "discontinued"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


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
        self.regular: dict[str, Decimal] = {}  # regular prices set in this batch
        self.regular_sets: dict[str, RegularPriceSet] = {}  # of currencies without `current`
        self.delete: CurrentPriceDelete | None = None
        self.stock: StockSet | None = None
        self.schedules = ScheduleFold(sku)

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
        into.regular_prices.extend(self.regular_sets.values())
        if self.stock is not None:
            into.stock.append(self.stock)
        self.schedules.emit(into)
        into.events[self.sku] = to_apply

    def _one(self, event: Mapping[str, Any]) -> datetime:
        """Project one event; its instant, clamped to the product's previous event so a
        product's time never runs backwards (what the processor guarantees for every
        event it writes, applied here too for events written before it did)."""
        version: int = event["version"]
        at = fields.instant(event.get("occurred_at"), version)
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
        elif kind == "RegularPriceChanged":
            self._regular_changed(data, version, at)
        elif kind == "StockAdjusted":
            quantity = data.get("quantity")
            if not isinstance(quantity, int) or isinstance(quantity, bool):
                raise InvalidEventError(f"version {version}: stock quantity is not an integer")
            self.stock = StockSet(self.sku, quantity, version)
        elif kind == "ProductDiscontinued":
            self._discontinued(version, at)
        elif kind == "PriceChangeScheduled":
            self.schedules.planned(data, version)
        elif kind == "PriceChangeScheduleCancelled":
            self.schedules.cancelled(data, version, at)
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
        amount = fields.amount(data, version)
        event_id = event.get("event_id")
        if not isinstance(event_id, str) or not _UUID.fullmatch(event_id):
            raise InvalidEventError(f"version {version}: event_id is not a UUID")
        step = schedule_step(data, version)

        valid_from = at
        previous = self.open_rows.pop(currency, None)
        if previous is not None:
            valid_from = max(at, previous.valid_from)  # never a negative interval
            self.rows.append(replace(previous, valid_to=valid_from))
        elif not self.all_closed_before and currency not in self.closed_before:
            self.closes.append(HistoryClose(self.sku, currency, at, version))
            self.closed_before.add(currency)
        self.open_rows[currency] = HistoryRow(
            self.sku,
            currency,
            amount,
            str(price_type),
            valid_from,
            None,
            event_id,
            version,
            planned_at=None if step is None else step[2],
            schedule_id=None if step is None else step[0],
        )
        if price_type == "regular":
            self.regular[currency] = amount
        self.regular_sets.pop(currency, None)  # the current price carries it from now on
        self.current[currency] = CurrentPriceUpsert(
            self.sku,
            currency,
            amount,
            str(price_type),
            valid_from,
            version,
            regular_amount=self.regular.get(currency),
        )
        if step is not None:
            self.schedules.took_effect(step, version, valid_from, sale=price_type == "sale")

    def _regular_changed(self, data: Mapping[str, Any], version: int, at: datetime) -> None:
        """The regular price changed, not what customers pay: no history row, no new
        ``valid_from``; the current price's regular amount (and version) only."""
        currency = fields.text(data, "currency", version)
        amount = fields.amount(data, version)
        step = schedule_step(data, version)
        self.regular[currency] = amount
        current = self.current.get(currency)
        if current is not None:
            self.current[currency] = replace(current, regular_amount=amount, version=version)
        else:
            self.regular_sets[currency] = RegularPriceSet(self.sku, currency, amount, version)
        if step is not None:
            self.schedules.took_effect(step, version, at, sale=False)

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
        # Every current price goes, and the regular prices they carried with them.
        self.current.clear()
        self.regular.clear()
        self.regular_sets.clear()
        self.delete = CurrentPriceDelete(self.sku, version)


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
