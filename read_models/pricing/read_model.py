"""The pricing read model, declared for every path and tool (:mod:`read_models.read_model`)."""

from __future__ import annotations

import psycopg

from read_models.pricing import model_version as model
from read_models.pricing.check import PricingCheck
from read_models.pricing.migrate import ensure_migrated
from read_models.pricing.rebuild import LIVE, PricingRebuild, checkpoint
from read_models.pricing.sink import PricingSink
from read_models.read_model import ReadModel
from schemas.config.connections import postgres_conninfo
from schemas.config.settings import Settings
from schemas.topics import PRICING_PROJECTION

__all__ = ["PRICING"]


def _sink(settings: Settings, *, checkpointed: bool) -> PricingSink:
    """A sink once the schema is migrated (advisory-locked, idempotent: like a Kafka
    Connect JDBC sink creating its tables, or, logged in as the writer role without
    DDL rights, checked to be migrated already) and built for this code's model."""
    dsn = postgres_conninfo(settings)
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        ensure_migrated(conn, settings.pricing_schema)
        model.check_writable(conn, settings.pricing_schema)
    return PricingSink(
        dsn,
        settings.pricing_schema,
        checkpointed=checkpointed,
        statement_timeout_ms=int(settings.store_timeout_s * 1000),
    )


def _connect(settings: Settings) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        postgres_conninfo(settings),
        autocommit=True,
        connect_timeout=5,
        options="-c statement_timeout=5000 -c lock_timeout=5000",  # status never hangs
    )


def applied(settings: Settings) -> dict[int, int]:
    with _connect(settings) as conn:
        return checkpoint(conn, settings.pricing_schema, LIVE)


def describe_live(settings: Settings) -> str:
    with _connect(settings) as conn:
        build = model.build_of(conn, settings.pricing_schema)
    return f"schema {settings.pricing_schema} version {build.version}"


def outdated(settings: Settings) -> str | None:
    with psycopg.connect(postgres_conninfo(settings), autocommit=True) as conn:
        try:
            model.check_writable(conn, settings.pricing_schema)
        except model.OutdatedReadModelError as exc:
            return str(exc)
    return None


PRICING = ReadModel(
    name="pricing",
    role=PRICING_PROJECTION,
    store="PostgreSQL",
    live_sink=lambda settings: _sink(settings, checkpointed=True),
    repair_sink=lambda settings: _sink(settings, checkpointed=False),
    applied=applied,
    describe_live=describe_live,
    lock_name=lambda settings: settings.pricing_schema,
    outdated=outdated,
    rebuild=PricingRebuild(),
    check=PricingCheck(),
)
