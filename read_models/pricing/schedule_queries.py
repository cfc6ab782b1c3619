"""Queries over scheduled prices: what is upcoming for a SKU, campaigns, future prices.

Same conventions as :mod:`read_models.pricing.queries` (a connection or a
pool, the schema quoted by :mod:`psycopg.sql`, :class:`PricingUnavailable`
when PostgreSQL cannot answer, ``ValueError`` for bad arguments before any
I/O). What the schedules *will* do is computed by the pure
:mod:`read_models.pricing.planned` from the rows read here, so the SQL only
reads: every statement is served by an index (the primary keys,
``scheduled_price_upcoming``, ``scheduled_price_campaign``,
``price_history_as_of``).

An answer that needs several statements reads them in one ``REPEATABLE READ``
transaction: one snapshot, so a batch committed in between never shows a
schedule whose price it has already set, or the reverse.

``now`` is a parameter (default: the clock of this process): the instant from
which steps are still to come, and before which an instant is the past
(answered from the history, as :func:`read_models.pricing.queries.price_as_of`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool

from read_models.pricing import planned
from read_models.pricing.omnibus import WINDOW
from read_models.pricing.queries import (
    Conn,
    PricingUnavailable,
    _check_aware,
    _check_currency,
    _check_sku,
    _q,
    price_as_of,
)
from read_models.pricing.schedule_models import (
    AsOfPrice,
    Campaign,
    CampaignList,
    CampaignSummary,
    PlannedPrice,
    PlannedStep,
    ProductSchedules,
    SaleReference,
    ScheduleCounts,
    ScheduledChange,
    UpcomingChange,
)

__all__ = [
    "MAX_CAMPAIGNS",
    "MAX_CAMPAIGN_SCHEDULES",
    "SCHEDULE_COLUMNS",
    "campaign",
    "campaigns",
    "price_at",
    "scheduled_change",
    "schedules_of",
]

MAX_CAMPAIGNS = 1000
MAX_CAMPAIGN_SCHEDULES = 10_000

T = TypeVar("T")
Cursor = psycopg.Cursor[tuple[Any, ...]]

_WINDOW_SQL = f"interval '{int(WINDOW.total_seconds()) // 3600} hours'"

SCHEDULE_COLUMNS = (
    "schedule_id, currency, amount, price_type, starts_at, ends_at, campaign_id, status,"
    " started_at, ended_at, reason"
)

_PRODUCT = "SELECT status FROM {s}.product WHERE sku = %(sku)s"
_CURRENT = """
SELECT currency, amount, price_type, regular_amount, valid_from
FROM {s}.current_price WHERE sku = %(sku)s ORDER BY currency
"""
_UPCOMING = (
    "SELECT " + SCHEDULE_COLUMNS + " FROM {s}.scheduled_price"
    " WHERE sku = %(sku)s AND status IN ('planned', 'running') ORDER BY starts_at, schedule_id"
)
_ALL = (
    "SELECT " + SCHEDULE_COLUMNS + " FROM {s}.scheduled_price"
    " WHERE sku = %(sku)s ORDER BY starts_at, schedule_id"
)
# The history an Omnibus reference of the SKU's pending and running sales can count:
# intervals still in force 30 days before the earliest of their starts.
_HISTORY = (
    """
SELECT currency, amount, price_type, valid_from, valid_to, version
FROM {s}.price_history
WHERE sku = %(sku)s AND (valid_to IS NULL OR valid_to > (
    SELECT min(COALESCE(started_at, starts_at)) - """
    + _WINDOW_SQL
    + """
    FROM {s}.scheduled_price
    WHERE sku = %(sku)s AND status IN ('planned', 'running') AND price_type = 'sale'))
ORDER BY currency, valid_from, version
"""
)
_SUMMARY_COLUMNS = """
count(*) FILTER (WHERE status = 'planned'), count(*) FILTER (WHERE status = 'running'),
count(*) FILTER (WHERE status = 'done'), count(*) FILTER (WHERE status = 'cancelled'),
count(*) FILTER (WHERE status = 'missed'), count(DISTINCT sku),
min(starts_at), max(COALESCE(ends_at, starts_at))
"""
_CAMPAIGN_SUMMARY = (
    "SELECT campaign_id," + _SUMMARY_COLUMNS + "FROM {s}.scheduled_price"
    " WHERE campaign_id = %(campaign)s GROUP BY campaign_id"
)
_CAMPAIGN_ROWS = (
    "SELECT sku, " + SCHEDULE_COLUMNS + " FROM {s}.scheduled_price"
    " WHERE campaign_id = %(campaign)s ORDER BY starts_at, sku, schedule_id LIMIT %(limit)s"
)
_CAMPAIGNS = (
    "SELECT campaign_id," + _SUMMARY_COLUMNS + "FROM {s}.scheduled_price"
    " WHERE campaign_id IS NOT NULL AND (%(after)s::text IS NULL OR campaign_id > %(after)s)"
    " GROUP BY campaign_id ORDER BY campaign_id LIMIT %(limit)s"
)


# --------------------------------------------------------------------------- execution


def _snapshot(conn: Conn, read: Callable[[Cursor], T]) -> T:
    """``read`` with a cursor whose statements all see one snapshot."""
    try:
        if isinstance(conn, ConnectionPool):
            with conn.connection() as borrowed:
                return _in_snapshot(borrowed, read)
        return _in_snapshot(conn, read)
    except psycopg.OperationalError as exc:  # includes PoolTimeout, QueryCanceled
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PricingUnavailable(f"pricing database unavailable: {first}") from exc


def _in_snapshot(conn: psycopg.Connection[Any], read: Callable[[Cursor], T]) -> T:
    idle = conn.info.transaction_status == TransactionStatus.IDLE
    with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
        if idle:  # else: the caller's transaction, and its snapshot
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        return read(cur)


def _all(cur: Cursor, template: str, schema: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    cur.execute(_q(template, schema), params)
    return cur.fetchall()


def _now(now: datetime | None) -> datetime:
    return datetime.now(UTC) if now is None else _check_aware(now, "now").astimezone(UTC)


def _check_limit(limit: int, most: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= most:
        raise ValueError(f"limit must be an integer in 1..{most}, got {limit!r}")
    return limit


def _check_campaign(campaign_id: str) -> str:
    if not isinstance(campaign_id, str) or not campaign_id:
        raise ValueError(f"campaign_id must be a non-empty string, got {campaign_id!r}")
    return campaign_id


# --------------------------------------------------------------------------- rows


def scheduled_change(sku: str, row: Sequence[Any]) -> ScheduledChange:
    (schedule_id, currency, amount, price_type, starts_at, ends_at, campaign_id, status) = row[:8]
    started_at, ended_at, reason = row[8:]
    return ScheduledChange(
        sku=sku,
        schedule_id=schedule_id,
        currency=currency,
        amount=amount,
        price_type=price_type,
        starts_at=starts_at,
        ends_at=ends_at,
        campaign_id=campaign_id,
        status=status,
        started_at=started_at,
        ended_at=ended_at,
        reason=reason,
    )


def _pending(change: ScheduledChange) -> planned.Pending:
    return planned.Pending(
        schedule_id=change.schedule_id,
        currency=change.currency,
        amount=change.amount,
        price_type=change.price_type,
        starts_at=change.starts_at,
        ends_at=change.ends_at,
        running=change.status == "running",
        started_at=change.started_at,
    )


def _currency_now(row: Sequence[Any]) -> planned.CurrencyNow:
    currency, amount, price_type, regular_amount, valid_from = row
    return planned.CurrencyNow(currency, amount, price_type, regular_amount, valid_from)


def _step(step: planned.Step) -> PlannedStep:
    price = (
        None
        if step.price is None
        else PlannedPrice(
            amount=step.price.amount,
            price_type=step.price.price_type,  # type: ignore[arg-type]
            regular_amount=step.regular_amount,
        )
    )
    return PlannedStep(
        step=step.step,
        planned_at=step.planned_at,
        effective_at=step.effective_at,
        outcome=step.outcome,
        price=price,
    )


def _summary(row: Sequence[Any]) -> CampaignSummary:
    campaign_id, planned_, running, done, cancelled, missed, skus, starts_at, ends_at = row
    counts = ScheduleCounts(
        planned=planned_, running=running, done=done, cancelled=cancelled, missed=missed
    )
    return CampaignSummary(
        campaign_id=campaign_id,
        total=planned_ + running + done + cancelled + missed,
        counts=counts,
        skus=skus,
        starts_at=starts_at,
        ends_at=ends_at,
    )


# --------------------------------------------------------------------------- queries


def schedules_of(
    conn: Conn,
    schema: str,
    sku: str,
    include_finished: bool = False,
    now: datetime | None = None,
) -> ProductSchedules | None:
    """The schedules of ``sku`` still to come (planned, running; with
    ``include_finished`` the done, cancelled and missed ones too), by start, each
    with its steps to come, the price after each, and for a sale its Omnibus
    reference (:mod:`read_models.pricing.planned`). None for an unknown SKU."""
    params = {"sku": _check_sku(sku)}
    at = _now(now)

    def read(cur: Cursor) -> tuple[Any, ...] | None:
        if not _all(cur, _PRODUCT, schema, params):
            return None
        current = _all(cur, _CURRENT, schema, params)
        rows = _all(cur, _ALL if include_finished else _UPCOMING, schema, params)
        return current, rows, _all(cur, _HISTORY, schema, params)

    found = _snapshot(conn, read)
    if found is None:
        return None
    current_rows, schedule_rows, history_rows = found
    changes = [scheduled_change(sku, row) for row in schedule_rows]
    pending = [_pending(c) for c in changes if c.status in ("planned", "running")]
    steps = planned.timeline([_currency_now(r) for r in current_rows], pending, at)
    history = [planned.Interval(*row) for row in history_rows]
    references = planned.references(history, pending, steps)
    out = []
    for change in changes:
        reference = references.get(change.schedule_id)
        omnibus = (
            None
            if reference is None
            else SaleReference(
                reference_at=reference.at,
                window_start=reference.window_start,
                amount=reference.amount,
                lowest_30_days=reference.lowest,
                is_reduction=reference.is_reduction,
            )
        )
        mine = [_step(s) for s in steps if s.schedule_id == change.schedule_id]
        out.append(UpcomingChange(**dict(change), steps=mine, omnibus=omnibus))
    return ProductSchedules(sku=sku, now=at, schedules=out)


def price_at(
    conn: Conn,
    schema: str,
    sku: str,
    at: datetime,
    currency: str | None = None,
    now: datetime | None = None,
) -> list[AsOfPrice]:
    """The price at ``at``, per currency (ordered by currency).

    Up to ``now`` it is the price that was charged (``planned`` false:
    :func:`read_models.pricing.queries.price_as_of`, unchanged); after it, the
    price the schedules will set (``planned`` true): the current price carried
    forward through every planned change up to ``at``. A currency with no price
    then is absent; an unknown SKU gives [].
    """
    _check_sku(sku)
    _check_aware(at, "at")
    _check_currency(currency)
    moment = _now(now)
    if at <= moment:
        return [
            AsOfPrice(**dict(point), planned=False)
            for point in price_as_of(conn, schema, sku, at, currency)
        ]
    params = {"sku": sku}

    def read(cur: Cursor) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        return _all(cur, _CURRENT, schema, params), _all(cur, _UPCOMING, schema, params)

    current_rows, schedule_rows = _snapshot(conn, read)
    prices = [_currency_now(r) for r in current_rows]
    pending = [_pending(scheduled_change(sku, row)) for row in schedule_rows]
    steps = planned.timeline(prices, pending, moment)
    currencies = sorted({p.currency for p in prices} | {s.currency for s in pending})
    out = []
    for code in currencies:
        if currency is not None and code != currency:
            continue
        point = planned.price_at(prices, steps, code, at)
        if point is not None:
            out.append(
                AsOfPrice(
                    sku=sku,
                    currency=code,
                    amount=point.amount,
                    price_type=point.price_type,  # type: ignore[arg-type]
                    valid_from=point.valid_from,
                    valid_to=point.valid_to,
                    planned=True,
                )
            )
    return out


def campaign(conn: Conn, schema: str, campaign_id: str, limit: int = 1000) -> Campaign | None:
    """A campaign: its counts per status, its first start and last end, and its first
    ``limit`` schedules across SKUs (by start, SKU, id). None when no schedule has it."""
    params = {
        "campaign": _check_campaign(campaign_id),
        "limit": _check_limit(limit, MAX_CAMPAIGN_SCHEDULES) + 1,
    }

    def read(cur: Cursor) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        return _all(cur, _CAMPAIGN_SUMMARY, schema, params), _all(
            cur, _CAMPAIGN_ROWS, schema, params
        )

    summary, rows = _snapshot(conn, read)
    if not summary:
        return None
    schedules = [scheduled_change(row[0], row[1:]) for row in rows[:limit]]
    return Campaign(**dict(_summary(summary[0])), schedules=schedules, truncated=len(rows) > limit)


def campaigns(conn: Conn, schema: str, after: str | None = None, limit: int = 100) -> CampaignList:
    """Campaigns by id, ``limit`` at a time, from the first id after ``after``."""
    params = {
        "after": None if after is None else _check_campaign(after),
        "limit": _check_limit(limit, MAX_CAMPAIGNS) + 1,
    }
    rows = _snapshot(conn, lambda cur: _all(cur, _CAMPAIGNS, schema, params))
    found = [_summary(row) for row in rows[:limit]]
    more = len(rows) > limit
    return CampaignList(campaigns=found, next_after=found[-1].campaign_id if more else None)
