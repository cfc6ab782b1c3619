"""Comparing the pricing tables with the fold of the log, for ``eventcart verify``.

The expected rows are the pure fold of the events
(:func:`read_models.pricing.fold.fold_rows`, the projection's own planner).

Read-only, in a read-only transaction; many SKUs per statement (``= ANY``),
so checking a catalog costs a few round trips per thousand products. All
SKUs are listed through a server-side cursor, so the client never holds the
whole table.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from read_models.pricing.fold import SkuRows, fold_rows
from read_models.pricing.sink import PricingSink
from read_models.projection import PositionedEvent
from schemas.config.connections import postgres_conninfo
from schemas.config.settings import Settings

__all__ = ["PricingCheck", "all_skus", "rows_of"]


def rows_of(conn: psycopg.Connection[Any], schema: str, skus: Sequence[str]) -> dict[str, SkuRows]:
    """What the tables hold for ``skus`` (SKUs with no product row are absent)."""
    s = sql.Identifier(schema)
    found: dict[str, SkuRows] = {}
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SET TRANSACTION READ ONLY")
        cur.execute(
            sql.SQL(
                "SELECT sku, version, status, updated_at FROM {}.product WHERE sku = ANY(%s)"
            ).format(s),
            [list(skus)],
        )
        for sku, version, status, updated_at in cur.fetchall():
            found[sku] = SkuRows(version=version, status=status, updated_at=updated_at)
        cur.execute(
            sql.SQL(
                "SELECT sku, currency, amount, price_type, valid_from, version, regular_amount"
                " FROM {}.current_price WHERE sku = ANY(%s)"
            ).format(s),
            [list(skus)],
        )
        for sku, currency, *price in cur.fetchall():
            if sku in found:
                amount, price_type, valid_from, version, regular_amount = price
                found[sku].current[currency.strip()] = (
                    amount,
                    price_type,
                    valid_from,
                    version,
                    regular_amount,
                )
        cur.execute(
            sql.SQL(
                "SELECT sku, version, currency, amount, price_type, valid_from, valid_to, event_id,"
                " planned_at, schedule_id"
                " FROM {}.price_history WHERE sku = ANY(%s) ORDER BY sku, version, currency"
            ).format(s),
            [list(skus)],
        )
        for sku, *row in cur.fetchall():
            if sku in found:
                (version, currency, amount, price_type, valid_from, valid_to, event_id) = row[:7]
                planned_at, schedule_id = row[7:]
                found[sku].history.append(
                    (
                        version,
                        currency.strip(),
                        amount,
                        price_type,
                        valid_from,
                        valid_to,
                        str(event_id),
                        planned_at,
                        schedule_id,
                    )
                )
        cur.execute(
            sql.SQL("SELECT sku, quantity, version FROM {}.stock WHERE sku = ANY(%s)").format(s),
            [list(skus)],
        )
        for sku, quantity, version in cur.fetchall():
            if sku in found:
                found[sku].stock = (quantity, version)
        cur.execute(
            sql.SQL(
                "SELECT sku, schedule_id, currency, amount, price_type, starts_at, ends_at,"
                " campaign_id, status, started_at, ended_at, reason, version"
                " FROM {}.scheduled_price WHERE sku = ANY(%s)"
            ).format(s),
            [list(skus)],
        )
        for sku, schedule_id, currency, *schedule in cur.fetchall():
            if sku in found:
                found[sku].schedules[schedule_id] = (currency.strip(), *schedule)
    return found


def all_skus(conn: psycopg.Connection[Any], schema: str) -> Iterator[str]:
    """Every SKU with a product row, streamed from a server-side cursor."""
    with conn.transaction(), conn.cursor(name="eventcart_verify_skus") as cur:
        cur.itersize = 10_000
        cur.execute(sql.SQL("SELECT sku FROM {}.product").format(sql.Identifier(schema)))
        for (sku,) in cur:
            yield sku


class _Look:
    def __init__(self, conn: psycopg.Connection[Any], dsn: str, schema: str) -> None:
        self._conn, self._dsn, self._schema = conn, dsn, schema

    def stored(self, skus: Sequence[str]) -> Mapping[str, Any]:
        return rows_of(self._conn, self._schema, skus)

    def all_skus(self) -> Iterator[str]:
        return all_skus(self._conn, self._schema)

    def replace(
        self, expected: Mapping[str, Any], events: Mapping[str, list[PositionedEvent]]
    ) -> int:
        with PricingSink(self._dsn, self._schema) as sink:
            return len(sink.replace({sku: list(events[sku]) for sku in expected}))


class PricingCheck:
    """The pricing tables against the fold of the log."""

    def expected(self, events: Sequence[PositionedEvent]) -> Mapping[str, Any]:
        return fold_rows(events)

    def version(self, state: Any) -> int:
        return int(state.version)

    def differences(self, want: Any, have: Any) -> list[str]:
        found: list[str] = want.differences(have)
        return ["; ".join(found)] if found else []

    @contextmanager
    def open(self, settings: Settings) -> Iterator[_Look]:
        dsn = postgres_conninfo(settings)
        with psycopg.connect(dsn, autocommit=True) as conn:
            yield _Look(conn, dsn, settings.pricing_schema)
