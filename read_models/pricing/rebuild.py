"""Rebuilding the pricing read model beside the live one, and switching to it.

Build: a schema ``<schema>_v<N+1>`` migrated to the current DDL, unlogged and
without its secondary indexes while it is filled (``bulk_load``), written by the
same ``PricingSink`` as the live projection under its own checkpoint name, so
an interrupted build resumes where it stopped.

Switch, in one transaction: take the live projection's per-partition advisory
locks (so no live batch is in flight), read the live checkpoint, apply to the
new schema whatever the live one had applied beyond the build's position, give
the new schema the live checkpoint, and swap the schemas by renaming them
(``pricing`` becomes ``pricing_v<N>``, ``pricing_v<N+1>`` becomes ``pricing``).
Readers and the live projection address the schema by name and use no
prepared statements, so their next statement sees the new one: no gap (the
new schema holds everything the old one did), no double apply (its checkpoint
covers it), and queries never see a half-built model.

The events are driven by the caller (:mod:`streams.rebuild`): this module does
the SQL only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg import sql

from read_models.pricing import bulk_load
from read_models.pricing import model_version as model
from read_models.pricing.migrate import migrate
from read_models.pricing.sink import PricingSink, lock_key
from read_models.projection import Sink
from read_models.read_model import Feed, RebuildPlan
from schemas.config.connections import postgres_conninfo
from schemas.config.settings import Settings

__all__ = ["LIVE", "REBUILD", "PricingRebuild", "checkpoint"]

LIVE = "pricing"  # the live projection's checkpoint name
REBUILD = "pricing-rebuild"  # a build's


def _exists(conn: psycopg.Connection[Any], schema: str) -> bool:
    row = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema]).fetchone()
    return row is not None


def checkpoint(conn: psycopg.Connection[Any], schema: str, projection: str) -> dict[int, int]:
    """partition -> last offset ``projection`` has applied into ``schema``."""
    rows = conn.execute(
        sql.SQL('SELECT partition, "offset" FROM {}.checkpoint WHERE projection = %s').format(
            sql.Identifier(schema)
        ),
        [projection],
    ).fetchall()
    return {int(p): int(o) for p, o in rows}


class PricingRebuild:
    """The pricing schema's side of ``eventcart replay pricing``."""

    def plan(self, settings: Settings, ends: Mapping[int, tuple[int, int]]) -> RebuildPlan:
        schema = settings.pricing_schema
        with psycopg.connect(postgres_conninfo(settings), autocommit=True) as conn:
            migrate(conn, schema)
            live = model.build_of(conn, schema)
            new = f"{schema}_v{live.version + 1}"
            resumed = _exists(conn, new)
            done = checkpoint(conn, new, REBUILD) if resumed else {}
        start = {p: max(low, done.get(p, -1) + 1) for p, (low, _) in ends.items()}
        end = {p: high for p, (_, high) in ends.items()}
        return RebuildPlan(schema, live.version, new, start, end, resumed)

    def open_build(self, settings: Settings, plan: RebuildPlan) -> Sink:
        with psycopg.connect(postgres_conninfo(settings), autocommit=True) as conn:
            migrate(conn, plan.new)
            model.set_build(conn, plan.new, model.Build(plan.live_version + 1, model.MODEL_VERSION))
            # Nobody reads the new schema yet: unlogged, secondary indexes built at the end.
            bulk_load.start(conn, plan.new)
        return PricingSink(postgres_conninfo(settings), plan.new, REBUILD)

    def close_build(self, settings: Settings, plan: RebuildPlan, sink: Sink) -> None:
        sink.close()
        with psycopg.connect(postgres_conninfo(settings), autocommit=True) as conn:
            bulk_load.finish(conn, plan.new)

    def switch(self, settings: Settings, plan: RebuildPlan, feed: Feed) -> str:
        dsn = postgres_conninfo(settings)
        schema, new = plan.live, plan.new
        old_name = f"{schema}_v{plan.live_version}"
        partitions = sorted(plan.end)
        with psycopg.connect(dsn) as conn, conn.transaction():
            for partition in partitions:
                conn.execute(
                    "SELECT pg_advisory_xact_lock(%s, %s)", [lock_key(schema, LIVE), partition]
                )
            # No live batch runs now. Catch the new schema up with what the live one applied.
            live = checkpoint(conn, schema, LIVE)
            with psycopg.connect(dsn, autocommit=True) as side:
                built = checkpoint(side, new, REBUILD)
            start = {p: built.get(p, -1) + 1 for p in partitions}
            stop = {p: live[p] + 1 for p in partitions if p in live}
            with PricingSink(dsn, new, REBUILD) as sink:
                feed(sink, start, stop, lambda: None)
            with psycopg.connect(dsn, autocommit=True) as side:
                built = checkpoint(side, new, REBUILD)
            with conn.cursor() as cursor:
                cursor.executemany(
                    sql.SQL(
                        'INSERT INTO {}.checkpoint (projection, partition, "offset") '
                        "VALUES (%s, %s, %s) ON CONFLICT (projection, partition) "
                        'DO UPDATE SET "offset" = EXCLUDED."offset"'
                    ).format(sql.Identifier(new)),
                    [(LIVE, p, max(built.get(p, -1), live.get(p, -1))) for p in partitions],
                )
            for old, renamed in ((schema, old_name), (new, schema)):
                conn.execute(
                    sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(
                        sql.Identifier(old), sql.Identifier(renamed)
                    )
                )
        return old_name

    def old_versions(self, settings: Settings) -> list[str]:
        with psycopg.connect(postgres_conninfo(settings), autocommit=True) as conn:
            rows = conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname ~ %s ORDER BY nspname",
                [f"^{settings.pricing_schema}_v[0-9]+$"],
            ).fetchall()
            live = model.build_of(conn, settings.pricing_schema).version
        return [str(r[0]) for r in rows if int(str(r[0]).rsplit("_v", 1)[1]) < live]

    def drop_old(self, settings: Settings) -> list[str]:
        dropped = self.old_versions(settings)
        with psycopg.connect(postgres_conninfo(settings), autocommit=True) as conn:
            for schema in dropped:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        return dropped

    def built_so_far(self, settings: Settings) -> dict[int, int]:
        with psycopg.connect(postgres_conninfo(settings), autocommit=True) as conn:
            live = model.build_of(conn, settings.pricing_schema)
            new = f"{settings.pricing_schema}_v{live.version + 1}"
            return checkpoint(conn, new, REBUILD) if _exists(conn, new) else {}
