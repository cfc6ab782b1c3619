"""Rebuilding the pricing read model beside the live one, and switching to it.

Build: a schema ``<schema>_v<N+1>`` migrated to the current DDL, filled from the
start of the events topic by the same ``PricingSink`` as the live projection
(under its own checkpoint name, so an interrupted build resumes where it
stopped), until it has caught up with the end of the topic.

Switch, in one transaction: take the live projection's per-partition advisory
locks (so no live batch is in flight), read the live checkpoint, apply to the
new schema whatever the live one had applied beyond the build's position, give
the new schema the live checkpoint, and swap the schemas by renaming them
(``pricing`` becomes ``pricing_v<N>``, ``pricing_v<N+1>`` becomes ``pricing``).
Readers and the live projection address the schema by name and use no
prepared statements, so their next statement sees the new one: no gap (the
new schema holds everything the old one did), no double apply (its checkpoint
covers it), and queries never see a half-built model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from ops.replay import reader
from read_models.pricing import bulk_load, model
from read_models.pricing.migrate import migrate
from read_models.pricing.writer import PricingSink, lock_key
from schemas.connections import postgres_conninfo
from schemas.settings import Settings
from streams import event_log
from streams.batch_step import BatchStep

LIVE = "pricing"
ROLE = "pricing-projection"  # whose dead-letter topic a rebuild's refusals go to
REBUILD = "pricing-rebuild"

Progress = Callable[[event_log.Batch, int, int], None]  # (batch, applied so far, failed so far)


@dataclass(frozen=True)
class Plan:
    live_schema: str
    live_version: int
    new_schema: str
    start: dict[int, int]  # where the build (re)starts, per partition
    end: dict[int, int]  # the end of the topic now
    resumed: bool

    @property
    def events(self) -> int:
        return sum(max(0, self.end[p] - self.start.get(p, 0)) for p in self.end)


def _dsn(settings: Settings) -> str:
    return postgres_conninfo(settings)


def _exists(conn: psycopg.Connection[Any], schema: str) -> bool:
    row = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema]).fetchone()
    return row is not None


def _checkpoint(conn: psycopg.Connection[Any], schema: str, projection: str) -> dict[int, int]:
    rows = conn.execute(
        sql.SQL('SELECT partition, "offset" FROM {}.checkpoint WHERE projection = %s').format(
            sql.Identifier(schema)
        ),
        [projection],
    ).fetchall()
    return {int(p): int(o) for p, o in rows}


def plan(settings: Settings) -> Plan:
    schema = settings.pricing_schema
    with psycopg.connect(_dsn(settings), autocommit=True) as conn:
        migrate(conn, schema)
        live = model.build_of(conn, schema)
        new_schema = f"{schema}_v{live.version + 1}"
        resumed = _exists(conn, new_schema)
        done = _checkpoint(conn, new_schema, REBUILD) if resumed else {}
    ends = event_log.end_offsets(settings)
    start = {p: max(low, done.get(p, -1) + 1) for p, (low, _) in ends.items()}
    return Plan(
        schema, live.version, new_schema, start, {p: high for p, (_, high) in ends.items()}, resumed
    )


def build(settings: Settings, the_plan: Plan, progress: Progress) -> tuple[int, int]:
    """Fill the new schema up to the end of the topic; returns (applied, failed)."""
    with psycopg.connect(_dsn(settings), autocommit=True) as conn:
        migrate(conn, the_plan.new_schema)
        model.set_build(
            conn, the_plan.new_schema, model.Build(the_plan.live_version + 1, model.MODEL_VERSION)
        )
        # Nobody reads the new schema yet: unlogged, secondary indexes built at the end.
        bulk_load.start(conn, the_plan.new_schema)
    with PricingSink(_dsn(settings), the_plan.new_schema, REBUILD) as sink:
        step = BatchStep.for_role(ROLE, sink, settings)
        done = reader.catch_up(settings, step, the_plan.start, the_plan.end, progress)
    with psycopg.connect(_dsn(settings), autocommit=True) as conn:
        bulk_load.finish(conn, the_plan.new_schema)
    return done


def switch(settings: Settings, the_plan: Plan, progress: Progress) -> str:
    """Swap the new schema in atomically; returns the name the old one now has."""
    schema, new = the_plan.live_schema, the_plan.new_schema
    old_name = f"{schema}_v{the_plan.live_version}"
    partitions = sorted(the_plan.end)
    with psycopg.connect(_dsn(settings)) as conn, conn.transaction():
        for partition in partitions:
            conn.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", [lock_key(schema, LIVE), partition]
            )
        # No live batch runs now. Catch the new schema up with what the live one applied.
        live = _checkpoint(conn, schema, LIVE)
        with psycopg.connect(_dsn(settings), autocommit=True) as side:
            built = _checkpoint(side, new, REBUILD)
        start = {p: built.get(p, -1) + 1 for p in partitions}
        stop = {p: live[p] + 1 for p in partitions if p in live}
        with PricingSink(_dsn(settings), new, REBUILD) as sink:
            step = BatchStep.for_role(ROLE, sink, settings)
            for batch in event_log.read(settings, start, stop):
                step.apply(batch)
                progress(batch, 0, 0)
        with psycopg.connect(_dsn(settings), autocommit=True) as side:
            built = _checkpoint(side, new, REBUILD)
        with conn.cursor() as cursor:
            cursor.executemany(
                sql.SQL(
                    'INSERT INTO {}.checkpoint (projection, partition, "offset") VALUES (%s, %s, %s) '
                    'ON CONFLICT (projection, partition) DO UPDATE SET "offset" = EXCLUDED."offset"'
                ).format(sql.Identifier(new)),
                [(LIVE, p, max(built.get(p, -1), live.get(p, -1))) for p in partitions],
            )
        conn.execute(
            sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(
                sql.Identifier(schema), sql.Identifier(old_name)
            )
        )
        conn.execute(
            sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(
                sql.Identifier(new), sql.Identifier(schema)
            )
        )
    return old_name


def old_versions(settings: Settings) -> list[str]:
    with psycopg.connect(_dsn(settings), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname ~ %s ORDER BY nspname",
            [f"^{settings.pricing_schema}_v[0-9]+$"],
        ).fetchall()
        live = model.build_of(conn, settings.pricing_schema).version
    return [str(r[0]) for r in rows if int(str(r[0]).rsplit("_v", 1)[1]) < live]


def built_so_far(settings: Settings) -> dict[int, int]:
    """How far a rebuild has read the topic (partition -> last offset it applied): the
    progress a running replay shows beside its lock. Empty when no build is under way."""
    with psycopg.connect(_dsn(settings), autocommit=True) as conn:
        new_schema = f"{settings.pricing_schema}_v{model.build_of(conn, settings.pricing_schema).version + 1}"
        return _checkpoint(conn, new_schema, REBUILD) if _exists(conn, new_schema) else {}


def drop_old(settings: Settings) -> list[str]:
    dropped = old_versions(settings)
    with psycopg.connect(_dsn(settings), autocommit=True) as conn:
        for schema in dropped:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    return dropped
