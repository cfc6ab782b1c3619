"""The replay lock: one replay (or repair) per read model, across every host.

A file lock holds on one machine only; an operator on one host and a cron job on
another could both build and switch the same read model. The lock is therefore a
PostgreSQL *session* advisory lock, taken on a connection the replay keeps open for
its whole run: every host that can run a replay reaches the same server, and the
server drops the lock when the session ends, so a replay killed with -9 frees it
at once, and one whose host vanished frees it when TCP keepalives give up on the
session (about a minute with the settings below). There is no lease to expire
while a slow replay is still working.

A session can also end under a running replay (PostgreSQL restarted, a network cut).
The replay then no longer holds the lock and another may take it, so the one step
that must not run twice, the switch, first :meth:`ReplayLock.confirm`\\ s the lock
on the same session and stops if it is gone; running the replay again resumes it.

Both read models' locks live in PostgreSQL, the search one included: it is the one
store of the stack with locks owned by a session.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
from collections.abc import Iterator
from typing import Any

import psycopg

from read_models.registry import by_name
from schemas.config.connections import postgres_conninfo
from schemas.config.settings import Settings

#: TCP keepalives on the lock's session: a replay whose host vanished without
#: closing the connection loses the lock after idle + interval * count seconds.
_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}
_APP_PREFIX = "eventcart replay"


class ReplayRunningError(RuntimeError):
    """Another replay of the same read model holds the lock (on this host or another)."""


class ReplayLockLostError(RuntimeError):
    """The session holding the lock ended; another replay may have started."""


def lock_key(settings: Settings, projection: str) -> int:
    """A signed 64-bit key, the same on every host of one deployment: derived from
    the read model's store names, so two deployments sharing a server do not meet."""
    store = by_name(projection).lock_name(settings)
    digest = hashlib.blake2b(f"eventcart/replay/{projection}/{store}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


def _holder_query(key: int) -> tuple[str, tuple[int, int]]:
    # A bigint advisory key shows in pg_locks as classid (high 32 bits) and objid
    # (low 32 bits), with objsubid 1.
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    return (
        "SELECT a.application_name, a.backend_start FROM pg_locks l "
        "JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
        "AND l.classid::bigint = %s AND l.objid::bigint = %s",
        (unsigned >> 32, unsigned & 0xFFFF_FFFF),
    )


def _describe(row: tuple[Any, ...] | None) -> str:
    if row is None:
        return "holder unknown"
    name, since = row
    who = str(name).removeprefix(_APP_PREFIX).strip() or "holder unknown"
    return f"{who}, since {since:%Y-%m-%d %H:%M:%S %Z}" if since else who


class ReplayLock:
    """The lock held by this process; see the module docstring."""

    def __init__(self, conn: psycopg.Connection[Any], key: int, projection: str) -> None:
        self._conn, self._key, self.projection = conn, key, projection

    def confirm(self) -> None:
        """Raise :class:`ReplayLockLostError` unless this session still holds the lock."""
        query, params = _holder_query(self._key)
        try:
            row = self._conn.execute(query + " AND l.pid = pg_backend_pid()", params).fetchone()
        except psycopg.Error as exc:
            raise ReplayLockLostError(
                f"the replay lock of {self.projection} was lost ({type(exc).__name__}: {exc}); "
                "nothing was switched: run the replay again to resume"
            ) from exc
        if row is None:
            raise ReplayLockLostError(
                f"the replay lock of {self.projection} is no longer held by this replay; "
                "nothing was switched: run the replay again to resume"
            )


@contextlib.contextmanager
def replay_lock(settings: Settings, projection: str) -> Iterator[ReplayLock]:
    """Hold the lock of ``projection`` for the block, or raise :class:`ReplayRunningError`
    naming who holds it."""
    key = lock_key(settings, projection)
    name = f"{_APP_PREFIX} {projection} on {socket.gethostname()} pid {os.getpid()}"
    conninfo = postgres_conninfo(
        settings, connect_timeout=10, application_name=name[:63], **_KEEPALIVES
    )
    with psycopg.connect(conninfo, autocommit=True) as conn:
        taken = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        if not taken or not taken[0]:
            query, params = _holder_query(key)
            raise ReplayRunningError(
                f"a replay of {projection} is already running "
                f"({_describe(conn.execute(query, params).fetchone())})"
            )
        try:
            yield ReplayLock(conn, key, projection)
        finally:
            with contextlib.suppress(psycopg.Error):
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


def replay_running(settings: Settings, projection: str) -> str | None:
    """Who holds the replay lock of ``projection`` (from any host), or None."""
    query, params = _holder_query(lock_key(settings, projection))
    with psycopg.connect(
        postgres_conninfo(settings),
        connect_timeout=5,
        options="-c statement_timeout=5000",
    ) as conn:
        row = conn.execute(query, params).fetchone()
    return None if row is None else _describe(row)
