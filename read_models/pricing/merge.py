"""Writing a plan's rows: COPY into staging tables, then one merge statement per table.

A batch's plan holds, per table, the final rows of its SKUs (coalesced by
the pure planner: one product row per SKU, one current price per SKU and
currency, ...). Sending them row by row costs a statement each; here every
table's rows go to a temporary staging table with one COPY, and one
``INSERT ... SELECT ... ON CONFLICT ... WHERE stored.version < excluded.version``
(or ``UPDATE ... FROM``) merges them, so a batch costs about a dozen round
trips whatever its size. Every merge keeps the per-SKU version guard: an
older event never overwrites a newer row.

Order matters and is kept: open intervals are closed before new ones are
inserted (the table refuses overlapping intervals), current prices of a
discontinued product are deleted before the batch's own are written. The
regular-price updates and the schedule rows and updates are version-guarded
like the rest, and touch rows no earlier merge of the batch writes.
"""

from __future__ import annotations

import weakref
from typing import Any

import psycopg
from psycopg import sql

from read_models.pricing.rows import Plan

__all__ = ["prepare", "write_plan"]

#: Staging tables: created once per connection, emptied at every commit.
_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS staging_close (
    sku text, currency text, valid_to timestamptz, version bigint, except_currencies text[]
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS staging_history (
    sku text, currency text, amount numeric, price_type text, valid_from timestamptz,
    valid_to timestamptz, event_id uuid, version bigint, planned_at timestamptz, schedule_id text
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS staging_delete (sku text, version bigint) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS staging_current (
    sku text, currency text, amount numeric, price_type text, valid_from timestamptz,
    version bigint, regular_amount numeric
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS staging_regular (
    sku text, currency text, amount numeric, version bigint
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS staging_stock (sku text, quantity bigint, version bigint)
    ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS staging_product (
    sku text, version bigint, status text, updated_at timestamptz
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS staging_schedule (
    sku text, schedule_id text, currency text, amount numeric, price_type text,
    starts_at timestamptz, ends_at timestamptz, campaign_id text, status text,
    started_at timestamptz, ended_at timestamptz, reason text, version bigint
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS staging_schedule_update (
    sku text, schedule_id text, version bigint, status text, started_at timestamptz,
    ended_at timestamptz, reason text
) ON COMMIT DELETE ROWS;
"""

_MERGES = (
    (
        "staging_close",
        "UPDATE {s}.price_history AS h SET valid_to = GREATEST(h.valid_from, c.valid_to)"
        " FROM pg_temp.staging_close AS c"
        " WHERE h.sku = c.sku AND h.valid_to IS NULL AND h.version < c.version"
        " AND (c.currency IS NULL OR h.currency = c.currency)"
        " AND NOT (h.currency = ANY(c.except_currencies))",
    ),
    (
        "staging_history",
        "INSERT INTO {s}.price_history (sku, currency, amount, price_type, valid_from,"
        " valid_to, event_id, version, planned_at, schedule_id)"
        " SELECT sku, currency, amount, price_type, valid_from, valid_to, event_id, version,"
        " planned_at, schedule_id"
        " FROM pg_temp.staging_history ON CONFLICT (sku, version, currency) DO NOTHING",
    ),
    (
        "staging_delete",
        "DELETE FROM {s}.current_price AS p USING pg_temp.staging_delete AS d"
        " WHERE p.sku = d.sku AND p.version < d.version",
    ),
    (
        "staging_current",
        # A NULL regular amount keeps the stored one (the batch set only a sale price).
        "INSERT INTO {s}.current_price AS stored"
        " (sku, currency, amount, price_type, valid_from, version, regular_amount)"
        " SELECT sku, currency, amount, price_type, valid_from, version, regular_amount"
        " FROM pg_temp.staging_current"
        " ON CONFLICT (sku, currency) DO UPDATE SET amount = excluded.amount,"
        " price_type = excluded.price_type, valid_from = excluded.valid_from,"
        " version = excluded.version,"
        " regular_amount = COALESCE(excluded.regular_amount, stored.regular_amount)"
        " WHERE stored.version < excluded.version",
    ),
    (
        "staging_regular",
        "UPDATE {s}.current_price AS p SET regular_amount = r.amount, version = r.version"
        " FROM pg_temp.staging_regular AS r"
        " WHERE p.sku = r.sku AND p.currency = r.currency AND p.version < r.version",
    ),
    (
        "staging_stock",
        "INSERT INTO {s}.stock AS stored (sku, quantity, version)"
        " SELECT sku, quantity, version FROM pg_temp.staging_stock"
        " ON CONFLICT (sku) DO UPDATE SET quantity = excluded.quantity,"
        " version = excluded.version WHERE stored.version < excluded.version",
    ),
    (
        # Two statements: a NULL status (or time) keeps the stored one, which an
        # INSERT's proposed row cannot express (the column is NOT NULL).
        "staging_product",
        "UPDATE {s}.product AS p SET version = n.version,"
        " status = COALESCE(n.status, p.status), updated_at = COALESCE(n.updated_at, p.updated_at)"
        " FROM pg_temp.staging_product AS n WHERE p.sku = n.sku AND p.version < n.version;"
        " INSERT INTO {s}.product (sku, version, status, updated_at)"
        " SELECT sku, version, COALESCE(status, 'active'), updated_at FROM pg_temp.staging_product"
        " ON CONFLICT (sku) DO NOTHING",
    ),
    (
        "staging_schedule",
        "INSERT INTO {s}.scheduled_price AS stored (sku, schedule_id, currency, amount,"
        " price_type, starts_at, ends_at, campaign_id, status, started_at, ended_at, reason,"
        " version)"
        " SELECT sku, schedule_id, currency, amount, price_type, starts_at, ends_at,"
        " campaign_id, status, started_at, ended_at, reason, version"
        " FROM pg_temp.staging_schedule"
        " ON CONFLICT (sku, schedule_id) DO UPDATE SET currency = excluded.currency,"
        " amount = excluded.amount, price_type = excluded.price_type,"
        " starts_at = excluded.starts_at, ends_at = excluded.ends_at,"
        " campaign_id = excluded.campaign_id, status = excluded.status,"
        " started_at = excluded.started_at, ended_at = excluded.ended_at,"
        " reason = excluded.reason, version = excluded.version"
        " WHERE stored.version < excluded.version",
    ),
    (
        # NULL keeps the stored value: an update says only what its events changed.
        "staging_schedule_update",
        "UPDATE {s}.scheduled_price AS p SET status = COALESCE(u.status, p.status),"
        " started_at = COALESCE(u.started_at, p.started_at),"
        " ended_at = COALESCE(u.ended_at, p.ended_at), reason = COALESCE(u.reason, p.reason),"
        " version = u.version"
        " FROM pg_temp.staging_schedule_update AS u"
        " WHERE p.sku = u.sku AND p.schedule_id = u.schedule_id AND p.version < u.version",
    ),
)


def _rows(planned: Plan, table: str) -> list[tuple[Any, ...]]:
    if table == "staging_close":
        return [
            (op.sku, op.currency, op.valid_to, op.version, list(op.except_currencies))
            for op in planned.history_closes
        ]
    if table == "staging_history":
        return [(*r.columns(), r.planned_at, r.schedule_id) for r in planned.history_rows]
    if table == "staging_delete":
        return [(op.sku, op.version) for op in planned.current_price_deletes]
    if table == "staging_current":
        return [
            (r.sku, r.currency, r.amount, r.price_type, r.valid_from, r.version, r.regular_amount)
            for r in planned.current_prices
        ]
    if table == "staging_regular":
        return [(r.sku, r.currency, r.amount, r.version) for r in planned.regular_prices]
    if table == "staging_stock":
        return [(r.sku, r.quantity, r.version) for r in planned.stock]
    if table == "staging_schedule":
        return [r.columns() for r in planned.schedules]
    if table == "staging_schedule_update":
        return [
            (u.sku, u.schedule_id, u.version, u.status, u.started_at, u.ended_at, u.reason)
            for u in planned.schedule_updates
        ]
    return [(p.sku, p.version, p.status, p.updated_at) for p in planned.products]


#: Connections whose session holds the staging tables for good.
_PREPARED: weakref.WeakSet[psycopg.Connection[Any]] = weakref.WeakSet()


def prepare(conn: psycopg.Connection[Any]) -> None:
    """Create the session's staging tables (a pool's ``configure``: once per connection,
    outside any transaction, so a rolled-back batch cannot take them away)."""
    conn.execute(_STAGING)
    if not conn.autocommit:
        conn.commit()
    _PREPARED.add(conn)


def write_plan(cur: psycopg.Cursor[Any], schema: str, planned: Plan) -> None:
    """Write ``planned`` into ``schema`` within the caller's transaction."""
    if cur.connection not in _PREPARED:
        cur.execute(_STAGING)  # a connection of a pool we did not configure
    s = sql.Identifier(schema)
    for table, merge in _MERGES:
        rows = _rows(planned, table)
        if not rows:
            continue
        with cur.copy(sql.SQL("COPY pg_temp.{} FROM STDIN").format(sql.Identifier(table))) as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(sql.SQL(merge).format(s=s))
