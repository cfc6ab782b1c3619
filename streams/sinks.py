"""Building each read model's sink from settings: shared by live workers, DLQ re-drives and replays.

A worker builds its sink when it starts; the store may not be up yet, so the
projection runner retries this (see Projection.run). The pricing sink applies
pending migrations first (advisory-locked and idempotent), like a Kafka Connect
JDBC sink creating its tables.
"""

from __future__ import annotations

import psycopg
from elasticsearch import Elasticsearch

from read_models.pricing import model as pricing_model
from read_models.pricing.migrate import migrate
from read_models.pricing.writer import PricingSink
from read_models.projection import Sink
from read_models.search import client as es_client
from read_models.search import model as search_model
from read_models.search.index import ensure_index
from read_models.search.positions import ensure_positions_index
from read_models.search.writer import SearchSink
from schemas.connections import postgres_conninfo
from schemas.settings import Settings


def elasticsearch_client(settings: Settings) -> Elasticsearch:
    # No client-side retries: the projection runner retries whole batches.
    return es_client.connect(settings, request_timeout=settings.store_timeout_s, max_retries=0)


def search_sink(settings: Settings) -> SearchSink:
    es = elasticsearch_client(settings)
    ensure_index(es, alias=settings.search_index)
    ensure_positions_index(es, settings.search_index)
    search_model.check_writable(es, settings.search_index)
    return SearchSink(es, settings.search_index, live=True)


def pricing_sink(settings: Settings, projection: str = "pricing") -> PricingSink:
    dsn = postgres_conninfo(settings)
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        migrate(conn, settings.pricing_schema)
        pricing_model.check_writable(conn, settings.pricing_schema)
    return PricingSink(
        dsn,
        settings.pricing_schema,
        projection,
        statement_timeout_ms=int(settings.store_timeout_s * 1000),
    )


def sink_for(role: str, settings: Settings) -> Sink:
    if role == "search-projection":
        return search_sink(settings)
    if role == "pricing-projection":
        return pricing_sink(settings)
    raise ValueError(f"{role} has no read model")


def out_of_order_sink(role: str, settings: Settings) -> Sink:
    """A sink for events applied after the live projection moved past them (a
    dead-letter re-drive, a gap filled from the log): guarded by each SKU's
    version alone. The pricing sink also skips events at or below its
    per-partition checkpoint, which such events always are, so it writes under
    a checkpoint name of its own."""
    if role == "pricing-projection":
        return pricing_sink(settings, projection="pricing-out-of-order")
    return sink_for(role, settings)
