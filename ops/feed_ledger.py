"""The import ledger in PostgreSQL (``producers.feeds.ledger``): one row per SKU.

Its own schema beside the pricing read model's (``<pricing schema>_feed_ledger``),
written by imports, never by a projection: a rebuild or a replay of the read
model leaves it alone, and since a rebuilt read model shows the same versions,
its entries keep matching. Losing it costs one slower import, nothing else.

"Unchanged since" is one indexed join per batch: an entry counts only while the
pricing read model shows the version it was written at.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import psycopg
from psycopg import sql

from producers.feeds.ledger import LedgerEntry
from schemas.config.connections import postgres_conninfo
from schemas.config.settings import Settings

__all__ = ["FeedLedger", "ledger_schema"]

log = logging.getLogger(__name__)

_DDL = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.feed_ledger (
    sku         text PRIMARY KEY,
    fingerprint bigint NOT NULL,
    version     bigint NOT NULL
);
"""


def ledger_schema(settings: Settings) -> str:
    return f"{settings.pricing_schema}_feed_ledger"


class FeedLedger:
    """Reads and writes entries as the database owner (the query role is read-only).

    A ledger that cannot be created or read is switched off with one warning:
    the import goes on the full path, as correct and slower."""

    def __init__(self, settings: Settings) -> None:
        self.pricing = sql.Identifier(settings.pricing_schema)
        self.schema = sql.Identifier(ledger_schema(settings))
        self.conn: psycopg.Connection[tuple[object, ...]] | None = None
        try:
            self.conn = psycopg.connect(postgres_conninfo(settings), autocommit=True)
            with self.conn.transaction():
                self.conn.execute(sql.SQL(_DDL).format(schema=self.schema))
        except psycopg.errors.UniqueViolation:
            pass  # another import created it at the same moment
        except psycopg.Error as exc:
            log.warning("the import ledger is off (every row is looked up): %s", exc)
            self.close()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def imported(self, skus: Sequence[str]) -> Mapping[str, int]:
        if self.conn is None:
            return {}
        query = sql.SQL(
            "SELECT l.sku, l.fingerprint FROM {}.feed_ledger AS l"
            " JOIN {}.product AS p ON p.sku = l.sku AND p.version = l.version"
            " WHERE l.sku = ANY(%s)"
        ).format(self.schema, self.pricing)
        try:
            rows = self.conn.execute(query, [list(skus)]).fetchall()
        except psycopg.Error as exc:
            log.warning("the import ledger cannot be read (rows are looked up): %s", exc)
            return {}
        return {str(sku): int(fp) for sku, fp in rows}  # type: ignore[call-overload]

    def record(self, entries: Sequence[LedgerEntry]) -> None:
        """Copied into a temporary table, then upserted: a million entries take
        seconds, not the minutes of one INSERT each."""
        if self.conn is None or not entries:
            return
        latest = {sku: (sku, fp, version) for sku, fp, version in entries}  # one per SKU
        try:
            with self.conn.transaction():
                self.conn.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS feed_ledger_in"
                    " (sku text, fingerprint bigint, version bigint) ON COMMIT DELETE ROWS"
                )
                with self.conn.cursor().copy(
                    "COPY feed_ledger_in (sku, fingerprint, version) FROM STDIN"
                ) as copy:
                    for entry in latest.values():
                        copy.write_row(entry)
                self.conn.execute(
                    sql.SQL(
                        "INSERT INTO {}.feed_ledger SELECT * FROM feed_ledger_in"
                        " ON CONFLICT (sku) DO UPDATE"
                        " SET fingerprint = EXCLUDED.fingerprint, version = EXCLUDED.version"
                    ).format(self.schema)
                )
        except psycopg.Error as exc:
            log.warning(
                "the import ledger was not written (the next import looks up more): %s", exc
            )
