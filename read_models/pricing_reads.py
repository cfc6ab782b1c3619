"""Where the query API reads pricing: a read replica when one is configured, the primary
when it is not or cannot answer.

A replica takes the catalog's read traffic off the server the pricing projection
writes to. Reading from it changes nothing for read-your-writes: a position
token is checked against the checkpoint rows of the server that then answers the
query, and a replica replays those rows in the same WAL order as the rows they
cover.

A replica that stops must not stop the prices. The first read that fails on it
(connection refused, a pool that gets no connection within
``REPLICA_WAIT_S``) is read again from the primary, and for the next
``REPLICA_PAUSE_S`` every read goes to the primary; then the replica is tried
again, through a new pool: the old one, failing to refill while the replica was
away, backs off its reconnection attempts (for up to minutes), and would not
notice the return. So a replica's loss costs a few slow reads, and its return is
noticed within seconds. ``eventcart_pricing_reads_total{server}`` counts which answered.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from prometheus_client import Counter
from psycopg.errors import SerializationFailure
from psycopg_pool import ConnectionPool, PoolTimeout

from read_models.pricing import queries as pricing
from schemas.config.connections import postgres_conninfo
from schemas.config.settings import Settings

__all__ = ["PricingReads", "reader_dsn"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: how long a read waits for a replica connection before the primary answers it
REPLICA_WAIT_S = 1.0
#: how long reads stay on the primary after the replica failed one
REPLICA_PAUSE_S = 5.0

READS = Counter(
    "eventcart_pricing_reads_total",
    "Pricing reads of the query API, by the server that answered (replica, primary) "
    "and whether it was a fallback",
    ["server"],
)


def reader_dsn(settings: Settings, *, replica: bool = False) -> str:
    """The conninfo of the read-only role: same server (or its replica), database and
    TLS parameters, user <owner>_reader."""
    where: dict[str, Any] = {}
    if replica and settings.postgres_replica:
        host, _, port = settings.postgres_replica.rpartition(":")
        where = {"host": host or "127.0.0.1", "port": int(port)}
    return postgres_conninfo(
        settings,
        user=f"{settings.postgres_user}_reader",
        password=settings.postgres_reader_password.get_secret_value(),
        **where,
    )


def _replica_lost(exc: BaseException) -> bool:
    """Whether a read failed because of the replica, not the query: no connection, a
    connection lost, a query cancelled by the replica's recovery (the pricing queries
    raise PricingUnavailable from the driver's error). A statement timeout is the
    query's: the primary would time out too."""
    cause = exc.__cause__ if isinstance(exc, pricing.PricingUnavailable) else exc
    if isinstance(cause, psycopg.errors.QueryCanceled):
        return "conflict with recovery" in str(cause)
    return isinstance(cause, (psycopg.OperationalError, PoolTimeout, SerializationFailure))


class PricingReads:
    """The read-only pools (the primary's; the replica's when configured) and the rule
    that picks one per read."""

    def __init__(self, settings: Settings, max_size: int = 32) -> None:
        self.primary: ConnectionPool[Any] = pricing.reader_pool(
            reader_dsn(settings), max_size=max_size, open=False, name="pricing-primary"
        )
        self._replica_pool: Callable[[], ConnectionPool[Any]] | None = None
        self.replica: ConnectionPool[Any] | None = None
        if settings.postgres_replica:
            replica_dsn = reader_dsn(settings, replica=True)
            self._replica_pool = lambda: pricing.reader_pool(
                replica_dsn,
                max_size=max_size,
                timeout=REPLICA_WAIT_S,
                open=False,
                name="pricing-replica",
            )
            self.replica = self._replica_pool()
        self._paused_until = 0.0
        self._renew = False
        self._lock = threading.Lock()

    def open(self) -> None:
        self.primary.open(wait=False)
        if self.replica is not None:
            self.replica.open(wait=False)

    def close(self) -> None:
        if self.replica is not None:
            self.replica.close()
        self.primary.close()

    def _replica_usable(self) -> bool:
        return self.replica is not None and time.monotonic() >= self._paused_until

    def _fresh_replica(self) -> ConnectionPool[Any] | None:
        """The replica's pool, made anew on the first read after a loss's pause."""
        with self._lock:
            if self._renew and self._replica_pool is not None:
                old, self.replica = self.replica, self._replica_pool()
                self.replica.open(wait=False)
                self._renew = False
                if old is not None:  # closing waits for its workers: not on a request
                    threading.Thread(target=old.close, daemon=True).start()
            return self.replica

    def read(self, fn: Callable[[psycopg.Connection[Any]], T]) -> T:
        """``fn`` on a connection of the replica, else of the primary (raises what ``fn``
        or the primary raise)."""
        if self.replica is not None and self._replica_usable():
            replica = self._fresh_replica()
            assert replica is not None
            try:
                with replica.connection() as conn:
                    result = fn(conn)
            except Exception as exc:
                if not _replica_lost(exc):
                    raise
                self._pause(exc)
                READS.labels("primary-fallback").inc()
            else:
                READS.labels("replica").inc()
                return result
        else:
            READS.labels("primary").inc()
        with self.primary.connection() as conn:
            return fn(conn)

    def _pause(self, exc: Exception) -> None:
        with self._lock:
            if time.monotonic() >= self._paused_until:
                log.warning(
                    "pricing replica cannot answer (%s); reading the primary for %.0f s",
                    exc,
                    REPLICA_PAUSE_S,
                )
            self._paused_until = time.monotonic() + REPLICA_PAUSE_S
            self._renew = True
