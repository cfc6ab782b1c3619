"""The pricing projection's sink: applies batches of events to PostgreSQL in one transaction.

One batch = one transaction: lock the batch's partitions for this projection
(``pg_advisory_xact_lock``), read their checkpoints and skip events at or below
them, lock the batch's SKUs (``SELECT ... FOR UPDATE``) and read their applied
versions, compute the rows with the pure :func:`read_models.pricing.rows.plan`
(coalesced: each SKU's final rows once), write them with COPY and one merge
per table (:mod:`read_models.pricing.merge`; every merge guarded by the event
version), move the checkpoints, commit. Applying a batch again changes nothing.

When PostgreSQL refuses a row for good (constraint violation, overflow: an
``IntegrityError`` or ``DataError``), the batch is retried SKU by SKU under
savepoints: the SKUs that fail are reported as failed (every event of the SKU
in the batch), the others are applied, and the checkpoints still move.
Connection problems, shutdowns, serialization failures and deadlocks raise
:class:`TransientStoreError`: the runner retries the whole batch.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from types import TracebackType
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from read_models.pricing import rows
from read_models.pricing.merge import prepare, write_plan
from read_models.projection import ApplyReport, PositionedEvent, TransientStoreError

__all__ = ["PERMANENT_ERRORS", "PricingSink"]

#: Errors that mean "this row will never be accepted": isolate the SKU and report it.
PERMANENT_ERRORS: tuple[type[psycopg.Error], ...] = (psycopg.IntegrityError, psycopg.DataError)


class _Statements:
    def __init__(self, schema: str) -> None:
        s = sql.Identifier(schema)
        self.lock = sql.SQL("SELECT pg_advisory_xact_lock(%s, %s)")
        self.read_checkpoints = sql.SQL(
            'SELECT partition, "offset" FROM {s}.checkpoint'
            " WHERE projection = %s AND partition = ANY(%s)"
        ).format(s=s)
        self.lock_products = sql.SQL(
            "SELECT sku, version, updated_at FROM {s}.product WHERE sku = ANY(%s)"
            " ORDER BY sku FOR UPDATE"
        ).format(s=s)
        self.checkpoint_upsert = sql.SQL(
            'INSERT INTO {s}.checkpoint AS stored (projection, partition, "offset", updated_at)'
            " VALUES (%s, %s, %s, now())"
            ' ON CONFLICT (projection, partition) DO UPDATE SET "offset" ='
            ' GREATEST(stored."offset", excluded."offset"), updated_at = now()'
        ).format(s=s)


def lock_key(schema: str, projection: str) -> int:
    """The int4 advisory-lock key of a projection's partitions in a schema.

    A replay's switch takes the live projection's locks to know no live batch
    is in flight, so the key is computed in this one place.
    """
    return zlib.crc32(f"eventcart.pricing:{schema}:{projection}".encode()) - 2**31


class PricingSink:
    """The pricing read model's :class:`~read_models.projection.Sink` over PostgreSQL.

    ``pool_or_conninfo``: a :class:`psycopg_pool.ConnectionPool` (shared, not closed
    here) or a conninfo string (a small pool is opened, closed by :meth:`close`).
    ``checkpointed``: skip events at or below ``projection``'s per-partition
    checkpoint and move it (the live projection and a rebuild, whose reads only go
    forward). Off for everything that writes a range into the live version out of
    order (a repair, a gap fill, a dead-letter re-drive): those decide by what the
    store holds, each SKU's applied version, and under the live projection's
    partition locks, so no live batch interleaves; a forward-only checkpoint of
    their own would skip every later repair below it.
    ``timeout``: seconds to wait for a connection before the batch is transient-failed.
    ``statement_timeout_ms``: PostgreSQL's statement and lock timeouts of its sessions.
    """

    name = "pricing"

    def __init__(
        self,
        pool_or_conninfo: ConnectionPool[Any] | str,
        schema: str = "pricing",
        projection: str = "pricing",
        *,
        checkpointed: bool = True,
        timeout: float = 10.0,
        statement_timeout_ms: int | None = None,
    ) -> None:
        if isinstance(pool_or_conninfo, str):
            # A statement (or a lock wait) longer than this fails the batch, which
            # is retried: a stalled or locked store is waited out, visibly.
            limits = (
                {}
                if statement_timeout_ms is None
                else {
                    "options": f"-c statement_timeout={statement_timeout_ms} "
                    f"-c lock_timeout={statement_timeout_ms}"
                }
            )
            self._pool: ConnectionPool[Any] = ConnectionPool(
                pool_or_conninfo,
                min_size=1,
                max_size=4,
                timeout=timeout,
                # No server-side prepared statements: a replay switches schemas by
                # renaming them, and names must be resolved afresh on every statement.
                kwargs={"autocommit": True, "prepare_threshold": None, **limits},
                # One round trip per batch so a connection PostgreSQL dropped while idle
                # (restart, failover) is replaced instead of failing a batch.
                check=ConnectionPool.check_connection,
                configure=prepare,
                name=f"pricing-sink-{schema}",
                open=True,
            )
            self._owns_pool = True
        else:
            self._pool = pool_or_conninfo
            self._owns_pool = False
        self.schema = schema
        self.projection = projection
        self.checkpointed = checkpointed
        self.timeout = timeout
        self._sql = _Statements(schema)
        # int4 key for the advisory locks of this projection's partitions.
        self._lock_key = lock_key(schema, projection)
        self._live_lock_key = lock_key(schema, "pricing")

    def close(self) -> None:
        if self._owns_pool:
            self._pool.close()

    def __enter__(self) -> PricingSink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def apply(self, events: Sequence[PositionedEvent]) -> ApplyReport:
        if not events:
            return ApplyReport()
        with self._transient(), self._pool.connection(timeout=self.timeout) as conn:
            try:
                return self._apply(conn, events, isolate=False)
            except PERMANENT_ERRORS:
                # The transaction was rolled back: again, one savepoint per SKU.
                return self._apply(conn, events, isolate=True)

    @contextmanager
    def _transient(self) -> Iterator[None]:
        try:
            yield
        except psycopg.OperationalError as exc:
            # Connection lost or refused, pool timeout, admin shutdown, serialization
            # failure, deadlock, lock or statement timeout: retry the batch later.
            raise TransientStoreError(f"PostgreSQL unavailable: {exc}") from exc

    def _apply(
        self, conn: psycopg.Connection[Any], events: Sequence[PositionedEvent], *, isolate: bool
    ) -> ApplyReport:
        report = ApplyReport()
        with conn.transaction():
            partitions = sorted({e.partition for e in events})
            with conn.cursor() as cur:
                for partition in partitions:
                    cur.execute(self._sql.lock, (self._lock_key, partition))
                checkpoints: dict[int, int] = {}
                if self.checkpointed:
                    cur.execute(self._sql.read_checkpoints, (self.projection, partitions))
                    checkpoints = dict(cur.fetchall())
                fresh = [e for e in events if e.offset > checkpoints.get(e.partition, -1)]
                report.skipped += len(events) - len(fresh)

                skus = sorted({str(e.event.get("sku")) for e in fresh})
                cur.execute(self._sql.lock_products, (skus,))
                stored = cur.fetchall()
                applied_versions = {sku: version for sku, version, _ in stored}
                applied_times = {sku: at for sku, _, at in stored if at is not None}
                planned = rows.plan(fresh, applied_versions, applied_times)
                report.skipped += planned.skipped
                report.failed.extend(planned.invalid)
                report.gaps.extend(planned.gaps)

                if not isolate:
                    self._write(cur, planned)
                    report.applied += planned.applied
                else:
                    for sku, sku_events in planned.events.items():
                        alone = planned.only([sku])
                        try:
                            with conn.transaction():
                                self._write(cur, alone)
                        except PERMANENT_ERRORS as exc:
                            reason = f"PostgreSQL refused SKU {sku}: {_describe(exc)}"
                            report.failed.extend((e, reason) for e in sku_events)
                            # Dead-lettered; the SKU's version still moves past them.
                            passed = [
                                replace(op, status=None, updated_at=None) for op in alone.products
                            ]
                            with conn.transaction():
                                self._write(cur, rows.Plan(products=passed))
                        else:
                            report.applied += len(sku_events)
                    # The versions the planner moved past events it refused.
                    refused = [op for op in planned.products if op.sku not in planned.events]
                    self._write(cur, rows.Plan(products=refused))

                if self.checkpointed:
                    last: dict[int, int] = {}
                    for e in events:
                        last[e.partition] = max(e.offset, last.get(e.partition, -1))
                    cur.executemany(
                        self._sql.checkpoint_upsert,
                        [(self.projection, p, offset) for p, offset in sorted(last.items())],
                    )
        return report

    def replace(self, events_by_sku: dict[str, list[PositionedEvent]]) -> list[str]:
        """Rebuild the rows of these SKUs from their whole history (``eventcart verify
        --repair``); return the SKUs rebuilt.

        In one transaction, under the live projection's locks of the SKUs'
        partitions (no live batch interleaves): a SKU whose stored version is
        already past its events (the live projection moved on) is left alone;
        the others lose their rows and get them again from the pure plan.
        """
        if not events_by_sku:
            return []
        s = sql.Identifier(self.schema)
        skus = sorted(events_by_sku)
        partitions = sorted({e.partition for evs in events_by_sku.values() for e in evs})
        with (
            self._transient(),
            self._pool.connection(timeout=self.timeout) as conn,
            conn.transaction(),
            conn.cursor() as cur,
        ):
            for partition in partitions:
                cur.execute(self._sql.lock, (self._live_lock_key, partition))
            cur.execute(self._sql.lock_products, (skus,))
            stored = {sku: version for sku, version, _ in cur.fetchall()}
            chosen = [
                sku
                for sku in skus
                if stored.get(sku, 0) <= max(e.event["version"] for e in events_by_sku[sku])
            ]
            for table in ("price_history", "current_price", "stock", "scheduled_price", "product"):
                cur.execute(
                    sql.SQL("DELETE FROM {}.{} WHERE sku = ANY(%s)").format(
                        s, sql.Identifier(table)
                    ),
                    [chosen],
                )
            self._write(cur, rows.plan([e for sku in chosen for e in events_by_sku[sku]], {}))
        return chosen

    def _write(self, cur: psycopg.Cursor[Any], planned: rows.Plan) -> None:
        write_plan(cur, self.schema, planned)


def _describe(exc: psycopg.Error) -> str:
    diag = exc.diag
    parts = [f"{type(exc).__name__} ({exc.sqlstate})", str(exc).splitlines()[0] if str(exc) else ""]
    if diag.constraint_name:
        parts.append(f"constraint {diag.constraint_name}")
    if diag.table_name:
        parts.append(f"table {diag.table_name}")
    return "; ".join(p for p in parts if p)
