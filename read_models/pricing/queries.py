"""Typed queries over the pricing read model (the tables of ``migrations/0001_pricing.sql``).

Every function takes either a ``psycopg.Connection`` or a
``psycopg_pool.ConnectionPool`` (the API uses :func:`reader_pool`: read-only
connections logged in as the ``eventcart_reader`` role) and the schema the read
model lives in (``pricing``, or ``pricing_v2`` during a rebuild); the schema is
always quoted with :mod:`psycopg.sql`, never formatted into the text.

Each query is ONE statement served by an index (``product``/``current_price``/
``stock`` primary keys, ``price_history_as_of``); no function holds a
transaction open: on a non-autocommit connection that was idle, the read
transaction is ended before returning.

Errors:

* :class:`PricingUnavailable` when PostgreSQL cannot answer: connection refused
  or lost, pool timeout, server shutdown, statement timeout (every
  ``psycopg.OperationalError``). The API turns it into 503.
* ``ValueError`` for bad arguments (unknown currency format, naive datetime,
  too many SKUs, a limit out of range), raised before any I/O.
* Anything else (a missing schema, a missing privilege) is a deployment error
  and propagates unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool

from read_models.pricing.models import (
    CurrentPrice,
    OmnibusPrice,
    PriceInterval,
    PricePoint,
    ProductPrices,
)
from read_models.pricing.omnibus import WINDOW, window_start

__all__ = [
    "MAX_BULK_SKUS",
    "MAX_HISTORY_LIMIT",
    "Conn",
    "PricingUnavailable",
    "bulk_current_prices",
    "current_prices",
    "lowest_price_30_days",
    "price_as_of",
    "price_history",
    "reader_pool",
]

MAX_BULK_SKUS = 1000
MAX_HISTORY_LIMIT = 10_000

#: What every query accepts: one connection, or a pool to borrow one from.
Conn = psycopg.Connection[Any] | ConnectionPool[Any]

_CURRENCY = re.compile(r"^[A-Z]{3}\Z")
# The SQL twin of omnibus.WINDOW: hours, so the session TimeZone/DST never changes its length.
_WINDOW_SQL = f"interval '{int(WINDOW.total_seconds()) // 3600} hours'"
assert int(WINDOW.total_seconds()) % 3600 == 0


class PricingUnavailable(Exception):  # noqa: N818 - the name the API contract uses
    """PostgreSQL cannot answer now (down, unreachable, timed out): retry later (HTTP 503)."""


# --------------------------------------------------------------------------- statements

_CURRENT = """
SELECT p.sku, p.status, p.version, COALESCE(st.quantity, 0),
       cp.currency, cp.amount, cp.price_type, cp.valid_from
FROM {s}.product AS p
LEFT JOIN {s}.stock AS st ON st.sku = p.sku
LEFT JOIN {s}.current_price AS cp ON cp.sku = p.sku {currency_filter}
WHERE p.sku = ANY(%(skus)s::text[])
ORDER BY p.sku, cp.currency
"""

# The currencies a SKU ever had, by a loose index scan of price_history_as_of (one
# index descent per currency, not a scan of the whole history), or just the one asked for.
_ALL_CURRENCIES = """
WITH RECURSIVE currencies(currency) AS (
    (SELECT h.currency FROM {s}.price_history AS h
     WHERE h.sku = %(sku)s ORDER BY h.currency LIMIT 1)
  UNION ALL
    SELECT (SELECT h.currency FROM {s}.price_history AS h
            WHERE h.sku = %(sku)s AND h.currency > c.currency ORDER BY h.currency LIMIT 1)
    FROM currencies AS c WHERE c.currency IS NOT NULL
)
"""
_ONE_CURRENCY = "WITH currencies(currency) AS (VALUES (%(currency)s::bpchar))\n"

# "Price as of t", per currency: the filter-then-latest lookup of the migration's
# comment (and of rows.price_as_of), one backward index range scan per currency.
_AS_OF = """
SELECT h.currency, h.amount, h.price_type, h.valid_from, h.valid_to
FROM currencies AS c
CROSS JOIN LATERAL (
    SELECT x.currency, x.amount, x.price_type, x.valid_from, x.valid_to
    FROM {s}.price_history AS x
    WHERE x.sku = %(sku)s AND x.currency = c.currency
      AND x.valid_from <= %(at)s AND (x.valid_to IS NULL OR %(at)s < x.valid_to)
    ORDER BY x.valid_from DESC, x.version DESC
    LIMIT 1
) AS h
WHERE c.currency IS NOT NULL
ORDER BY h.currency
"""

_HISTORY = """
SELECT currency, amount, price_type, valid_from, valid_to, version
FROM {s}.price_history
WHERE sku = %(sku)s {currency_filter}
ORDER BY valid_from, version, currency
LIMIT %(limit)s
"""

# The Omnibus rule of omnibus.py in one statement. T = the given instant, else the
# current price's valid_from; the announced price = "price as of T"; the lowest =
# min over the non-empty intervals overlapping [T - 30 days, T).
_OMNIBUS = (
    """
WITH t AS (
    SELECT COALESCE(
        %(before)s::timestamptz,
        (SELECT cp.valid_from FROM {s}.current_price AS cp
         WHERE cp.sku = %(sku)s AND cp.currency = %(currency)s::bpchar)
    ) AS at
)
SELECT t.at, p.amount, p.price_type,
    (SELECT min(h.amount) FROM {s}.price_history AS h
     WHERE h.sku = %(sku)s AND h.currency = %(currency)s::bpchar
       AND h.valid_from < t.at
       AND (h.valid_to IS NULL
            OR h.valid_to > GREATEST(t.at - """
    + _WINDOW_SQL
    + """, h.valid_from))
    ) AS lowest
FROM t
CROSS JOIN LATERAL (
    SELECT x.amount, x.price_type
    FROM {s}.price_history AS x
    WHERE x.sku = %(sku)s AND x.currency = %(currency)s::bpchar
      AND x.valid_from <= t.at AND (x.valid_to IS NULL OR t.at < x.valid_to)
    ORDER BY x.valid_from DESC, x.version DESC
    LIMIT 1
) AS p
"""
)


def _q(template: str, schema: str, **parts: sql.Composable) -> sql.Composed:
    # The templates are module constants (LiteralString in spirit); only {s} and the
    # fixed fragments in ``parts`` are substituted, identifiers are quoted by psycopg.
    return sql.SQL(template).format(s=sql.Identifier(schema), **parts)


class _Statements:
    def __init__(self, schema: str) -> None:
        by_currency = sql.SQL("AND cp.currency = %(currency)s::bpchar")
        self.current_all = _q(_CURRENT, schema, currency_filter=sql.SQL(""))
        self.current_one = _q(_CURRENT, schema, currency_filter=by_currency)
        self.as_of_all = _q(_ALL_CURRENCIES + _AS_OF, schema)
        self.as_of_one = _q(_ONE_CURRENCY + _AS_OF, schema)
        self.history_all = _q(_HISTORY, schema, currency_filter=sql.SQL(""))
        self.history_one = _q(
            _HISTORY, schema, currency_filter=sql.SQL("AND currency = %(currency)s::bpchar")
        )
        self.omnibus = _q(_OMNIBUS, schema)


@lru_cache(maxsize=32)
def _statements(schema: str) -> _Statements:
    return _Statements(schema)


# --------------------------------------------------------------------------- execution


def _run(
    conn: psycopg.Connection[Any], query: sql.Composed, params: Mapping[str, Any]
) -> list[tuple[Any, ...]]:
    was_idle = conn.info.transaction_status == TransactionStatus.IDLE
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(query, params)
        found = cur.fetchall()
    if was_idle and not conn.autocommit:
        conn.rollback()  # end the read transaction we opened; nothing to commit
    return found


def _fetch(conn: Conn, query: sql.Composed, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    try:
        if isinstance(conn, ConnectionPool):
            with conn.connection() as borrowed:
                return _run(borrowed, query, params)
        return _run(conn, query, params)
    except psycopg.OperationalError as exc:  # includes PoolTimeout, QueryCanceled
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PricingUnavailable(f"pricing database unavailable: {first}") from exc


# --------------------------------------------------------------------------- validation


def _check_sku(sku: str) -> str:
    if not isinstance(sku, str) or not sku:
        raise ValueError(f"sku must be a non-empty string, got {sku!r}")
    return sku


def _check_currency(currency: str | None) -> str | None:
    if currency is not None and (not isinstance(currency, str) or not _CURRENCY.match(currency)):
        raise ValueError(f"currency must be an ISO 4217 code like 'EUR', got {currency!r}")
    return currency


def _check_aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value


# --------------------------------------------------------------------------- queries


def _as_utc(value: datetime) -> datetime:
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def _product_prices(found: Iterable[tuple[Any, ...]]) -> dict[str, ProductPrices]:
    # The hot path of bulk lookups (up to ~1,000 x currencies rows): the rows come from
    # columns whose types and CHECK constraints already guarantee what the models
    # validate (currency format, amount >= 0, price type, status), so the models are
    # built without re-validation; only the time zone is normalised, as validation would.
    heads: dict[str, tuple[Any, int, int]] = {}
    prices: dict[str, dict[str, CurrentPrice]] = {}
    for sku, status, version, quantity, currency, amount, price_type, valid_from in found:
        heads[sku] = (status, version, quantity)
        by_currency = prices.setdefault(sku, {})
        if currency is not None:
            by_currency[currency] = CurrentPrice.model_construct(
                currency=currency,
                amount=amount,
                price_type=price_type,
                valid_from=_as_utc(valid_from),
            )
    return {
        sku: ProductPrices.model_construct(
            sku=sku, status=status, version=version, stock=quantity, prices=prices[sku]
        )
        for sku, (status, version, quantity) in heads.items()
    }


def current_prices(conn: Conn, schema: str, sku: str) -> ProductPrices | None:
    """The current price of ``sku`` in every currency, its status and stock; None if unknown."""
    found = _fetch(conn, _statements(schema).current_all, {"skus": [_check_sku(sku)]})
    return _product_prices(found).get(sku)


def bulk_current_prices(
    conn: Conn, schema: str, skus: Sequence[str], currency: str | None = None
) -> dict[str, ProductPrices]:
    """:func:`current_prices` for up to :data:`MAX_BULK_SKUS` SKUs in one statement.

    Unknown SKUs are absent from the result; duplicates are looked up once.
    ``currency`` restricts ``prices`` to that currency (a product without a price
    in it is still returned, with empty ``prices``). More than 1,000 distinct
    SKUs raise ``ValueError``.
    """
    wanted = list(dict.fromkeys(_check_sku(s) for s in skus))
    if len(wanted) > MAX_BULK_SKUS:
        raise ValueError(f"at most {MAX_BULK_SKUS} SKUs per call, got {len(wanted)}")
    _check_currency(currency)
    if not wanted:
        return {}
    stmts = _statements(schema)
    query = stmts.current_all if currency is None else stmts.current_one
    return _product_prices(_fetch(conn, query, {"skus": wanted, "currency": currency}))


def price_as_of(
    conn: Conn, schema: str, sku: str, at: datetime, currency: str | None = None
) -> list[PricePoint]:
    """The price valid at instant ``at``, per currency (ordered by currency).

    ``valid_from <= at < valid_to`` (``valid_to`` NULL = still valid): at a change
    instant the new price is returned. A currency without a price at ``at``
    (before its first price, after a discontinue) is absent; an unknown SKU gives [].
    """
    stmts = _statements(schema)
    params = {
        "sku": _check_sku(sku),
        "at": _check_aware(at, "at"),
        "currency": _check_currency(currency),
    }
    query = stmts.as_of_all if currency is None else stmts.as_of_one
    return [
        PricePoint(
            sku=sku,
            currency=cur,
            amount=amount,
            price_type=price_type,
            valid_from=valid_from,
            valid_to=valid_to,
        )
        for cur, amount, price_type, valid_from, valid_to in _fetch(conn, query, params)
    ]


def price_history(
    conn: Conn, schema: str, sku: str, currency: str | None = None, limit: int = 500
) -> list[PriceInterval]:
    """The first ``limit`` price intervals of ``sku`` (one currency or all), oldest first.

    Ordered by ``(valid_from, version, currency)``; includes zero-length
    intervals (two changes in one clock tick) so the history is complete.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_HISTORY_LIMIT:
        raise ValueError(f"limit must be an integer in 1..{MAX_HISTORY_LIMIT}, got {limit!r}")
    stmts = _statements(schema)
    params = {"sku": _check_sku(sku), "currency": _check_currency(currency), "limit": limit}
    query = stmts.history_all if currency is None else stmts.history_one
    return [
        PriceInterval(
            sku=sku,
            currency=cur,
            amount=amount,
            price_type=price_type,
            valid_from=valid_from,
            valid_to=valid_to,
            version=version,
        )
        for cur, amount, price_type, valid_from, valid_to, version in _fetch(conn, query, params)
    ]


def lowest_price_30_days(
    conn: Conn, schema: str, sku: str, currency: str, before: datetime | None = None
) -> OmnibusPrice | None:
    """The EU Omnibus reference price of ``sku`` in ``currency`` (rule: :mod:`.omnibus`).

    ``before`` is the instant T of the price change (default: the current price's
    ``valid_from``, i.e. the currency's latest change). Returns None when there is
    no price in force at T (unknown SKU or currency, T before the first price,
    discontinued product without ``before``). ``lowest_30_days`` is None when no
    price was in force in ``[T - 30 days, T)``.
    """
    if _check_currency(currency) is None:
        raise ValueError("currency is required: each currency is its own price list")
    params = {
        "sku": _check_sku(sku),
        "currency": currency,
        "before": None if before is None else _check_aware(before, "before"),
    }
    found = _fetch(conn, _statements(schema).omnibus, params)
    if not found:
        return None
    at, amount, price_type, lowest = found[0]
    return OmnibusPrice(
        sku=sku,
        currency=currency,
        reference_at=at,
        window_start=window_start(at),
        amount=amount,
        price_type=price_type,
        lowest_30_days=lowest,
        is_reduction=lowest is not None and amount < lowest,
    )


# --------------------------------------------------------------------------- pool


def reader_pool(
    conninfo: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    timeout: float = 5.0,
    statement_timeout_ms: int = 2000,
    name: str = "pricing-reader",
    open: bool = True,
) -> ConnectionPool[Any]:
    """A pool of autocommit, read-only connections for the queries of this module.

    ``conninfo`` should log in as the read-only role (``eventcart_reader``); the
    sessions are also ``default_transaction_read_only`` and get a
    ``statement_timeout`` so a slow query becomes :class:`PricingUnavailable`
    instead of holding a connection. ``timeout``: seconds to wait for a
    connection before :class:`PricingUnavailable`. Close it with ``.close()``.
    """
    options = (
        f"-c default_transaction_read_only=on -c statement_timeout={int(statement_timeout_ms)}"
    )
    return ConnectionPool(
        conninfo,
        min_size=min_size,
        max_size=max_size,
        timeout=timeout,
        # No server-side prepared statements: a replay switches schemas by renaming
        # them, and table names must be resolved afresh on every statement.
        kwargs={"autocommit": True, "options": options, "prepare_threshold": None},
        check=ConnectionPool.check_connection,
        name=name,
        open=open,
    )
