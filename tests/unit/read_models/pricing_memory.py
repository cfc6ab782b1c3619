"""The pricing tables in memory: plans executed as merge.py's SQL executes them.

Each operation does what its statement does (version guards, ``COALESCE`` of
what an operation leaves out, ``ON CONFLICT DO NOTHING``), and the operation
groups of a plan can be run in any order (``order``), so a test can check that
the result does not depend on it, nor on how the events fall into batches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from read_models.pricing.fold import SkuRows
from read_models.pricing.ops import (
    CurrentPriceUpsert,
    HistoryRow,
    Plan,
    ProductUpsert,
    ScheduleRow,
)
from read_models.pricing.rows import plan
from read_models.projection import PositionedEvent

GROUPS = (
    "closes",
    "history",
    "deletes",
    "current",
    "regular",
    "stock",
    "products",
    "schedules",
    "schedule_updates",
)


class MemoryStore:
    def __init__(self) -> None:
        self.products: dict[str, ProductUpsert] = {}
        self.history: dict[tuple[str, int, str], HistoryRow] = {}
        self.current: dict[tuple[str, str], CurrentPriceUpsert] = {}
        self.stock: dict[str, tuple[int, int]] = {}
        self.schedules: dict[tuple[str, str], ScheduleRow] = {}

    def apply(self, batch: Sequence[PositionedEvent], order: Sequence[str] = GROUPS) -> Plan:
        versions = {sku: p.version for sku, p in self.products.items()}
        times = {sku: p.updated_at for sku, p in self.products.items() if p.updated_at}
        planned = plan(batch, versions, times)
        steps: dict[str, Callable[[Plan], None]] = {
            "closes": self._closes,
            "history": self._history,
            "deletes": self._deletes,
            "current": self._current,
            "regular": self._regular,
            "stock": self._stock,
            "products": self._products,
            "schedules": self._schedules,
            "schedule_updates": self._schedule_updates,
        }
        for group in order:
            steps[group](planned)
        return planned

    def _closes(self, planned: Plan) -> None:
        for close in planned.history_closes:
            for key, row in self.history.items():
                if (
                    row.sku == close.sku
                    and row.valid_to is None
                    and row.version < close.version
                    and (close.currency is None or row.currency == close.currency)
                    and row.currency not in close.except_currencies
                ):
                    self.history[key] = replace(row, valid_to=max(row.valid_from, close.valid_to))

    def _history(self, planned: Plan) -> None:
        for row in planned.history_rows:
            self.history.setdefault((row.sku, row.version, row.currency), row)

    def _deletes(self, planned: Plan) -> None:
        for delete in planned.current_price_deletes:
            for key in [k for k in self.current if k[0] == delete.sku]:
                if self.current[key].version < delete.version:
                    del self.current[key]

    def _current(self, planned: Plan) -> None:
        for upsert in planned.current_prices:
            key = (upsert.sku, upsert.currency)
            stored = self.current.get(key)
            if stored is None:
                self.current[key] = upsert
            elif stored.version < upsert.version:
                regular = upsert.regular_amount
                self.current[key] = replace(
                    upsert, regular_amount=stored.regular_amount if regular is None else regular
                )

    def _regular(self, planned: Plan) -> None:
        for op in planned.regular_prices:
            stored = self.current.get((op.sku, op.currency))
            if stored is not None and stored.version < op.version:
                self.current[(op.sku, op.currency)] = replace(
                    stored, regular_amount=op.amount, version=op.version
                )

    def _stock(self, planned: Plan) -> None:
        for op in planned.stock:
            stored = self.stock.get(op.sku)
            if stored is None or stored[1] < op.version:
                self.stock[op.sku] = (op.quantity, op.version)

    def _products(self, planned: Plan) -> None:
        for op in planned.products:
            stored = self.products.get(op.sku)
            if stored is None:
                self.products[op.sku] = replace(op, status=op.status or "active")
            elif stored.version < op.version:
                self.products[op.sku] = replace(
                    op,
                    status=op.status or stored.status,
                    updated_at=op.updated_at or stored.updated_at,
                )

    def _schedules(self, planned: Plan) -> None:
        for row in planned.schedules:
            stored = self.schedules.get((row.sku, row.schedule_id))
            if stored is None or stored.version < row.version:
                self.schedules[(row.sku, row.schedule_id)] = row

    def _schedule_updates(self, planned: Plan) -> None:
        for update in planned.schedule_updates:
            stored = self.schedules.get((update.sku, update.schedule_id))
            if stored is not None and stored.version < update.version:
                self.schedules[(update.sku, update.schedule_id)] = stored.updated(update)

    def rows(self) -> dict[str, SkuRows]:
        """The tables as :func:`read_models.pricing.check.rows_of` reads them."""
        found: dict[str, SkuRows] = {}
        for sku, p in self.products.items():
            found[sku] = SkuRows(
                version=p.version, status=p.status or "active", updated_at=p.updated_at
            )
        for (sku, currency), c in self.current.items():
            found[sku].current[currency] = (
                c.amount,
                c.price_type,
                c.valid_from,
                c.version,
                c.regular_amount,
            )
        for (sku, _, _), h in sorted(self.history.items()):
            found[sku].history.append(
                (
                    h.version,
                    h.currency,
                    h.amount,
                    h.price_type,
                    h.valid_from,
                    h.valid_to,
                    h.event_id,
                    h.planned_at,
                    h.schedule_id,
                )
            )
        for sku, stock in self.stock.items():
            found[sku].stock = stock
        for (sku, schedule_id), s in self.schedules.items():
            found[sku].schedules[schedule_id] = (
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
        return found
