"""How far both read models have applied the events topic, asked often and cheaply.

A change is released to subscribers only once *both* read models have applied
its event, so a subscriber that refetches any endpoint sees at least that
change. The pricing checkpoint is read on one held read-only connection; the
search positions with a realtime multi-get (no refresh interval to wait out).
"""

from __future__ import annotations

from typing import Any

import psycopg
from elasticsearch import Elasticsearch
from psycopg import sql

from read_models.pricing.rebuild import LIVE
from read_models.search import positions

__all__ = ["AppliedPositions"]


class AppliedPositions:
    def __init__(self, es: Elasticsearch, alias: str, reader_dsn: str, schema: str) -> None:
        self.es = es
        self.alias = alias
        self.dsn = reader_dsn
        self.query = sql.SQL(
            'SELECT partition, "offset" FROM {}.checkpoint WHERE projection = %s'
        ).format(sql.Identifier(schema))
        self._conn: psycopg.Connection[Any] | None = None

    def _pricing(self) -> dict[int, int]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=5)
        try:
            rows = self._conn.execute(self.query, [LIVE]).fetchall()
        except psycopg.Error:
            self._conn.close()
            raise
        return {int(p): int(o) for p, o in rows}

    def read(self, partitions: int) -> dict[int, int]:
        """partition -> the highest offset both read models have applied (-1: none)."""
        pricing = self._pricing()
        search = positions.applied_now(self.es, self.alias, partitions)
        return {p: min(pricing.get(p, -1), search.get(p, -1)) for p in range(partitions)}

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
