"""The read models do not depend on how the events fall into batches.

The same events, applied in one batch, one by one, and in batches of other
sizes, give identical rows in PostgreSQL and identical documents in
Elasticsearch. The events include what the processor no longer writes but the
log may hold from before: event times that run backwards within a product
(a back-dated price). Both projections clamp a product's event time to its
previous event, the same way whatever the batch boundaries; an interval that
starts before the one it closes is impossible, and the pricing tables refuse
overlapping intervals outright (an exclusion constraint).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from elasticsearch import Elasticsearch
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from psycopg import sql

from read_models.pricing.migrate import migrate
from read_models.pricing.sink import PricingSink
from read_models.projection import PositionedEvent
from read_models.search.index import ensure_index
from read_models.search.sink import SearchSink
from schemas.config.settings import Settings
from schemas.registry import CURRENT_EVENT_VERSIONS

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TABLES = ("product", "current_price", "price_history", "stock")


def event(sku: str, version: int, kind: str, data: dict[str, Any], minute: int) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": kind,
        "schema_version": CURRENT_EVENT_VERSIONS.get(kind, 1),
        "sku": sku,
        "version": version,
        "occurred_at": (T0 + timedelta(minutes=minute)).isoformat(),
        "command_id": f"c-{sku}-{version}",
        "correlation_id": f"c-{sku}-{version}",
        "causation_id": f"c-{sku}-{version}",
        "data": data,
    }


@st.composite
def histories(draw: st.DrawFn) -> list[PositionedEvent]:
    """Two products: registered, then prices (two currencies), stock and a discontinue,
    at minutes drawn freely, so time often runs backwards within a product."""
    events: list[dict[str, Any]] = []
    for sku in ("BI-1", "BI-2"):
        version = 1
        events.append(
            event(
                sku,
                1,
                "ProductRegistered",
                {
                    "name": sku,
                    "description": "",
                    "brand": "",
                    "category_path": [],
                    "attributes": {},
                    "tags": [],
                },
                draw(st.integers(0, 50)),
            )
        )
        for _ in range(draw(st.integers(1, 8))):
            version += 1
            minute = draw(st.integers(0, 60))
            if draw(st.booleans()):
                data = {
                    "amount": draw(st.sampled_from(["1.00", "2.50", "9.99"])),
                    "currency": draw(st.sampled_from(["EUR", "USD"])),
                    "price_type": draw(st.sampled_from(["regular", "sale"])),
                }
                events.append(event(sku, version, "PriceChanged", data, minute))
            else:
                events.append(
                    event(
                        sku,
                        version,
                        "StockAdjusted",
                        {"delta": 1, "quantity": version, "reason": ""},
                        minute,
                    )
                )
        if draw(st.booleans()):
            events.append(
                event(
                    sku,
                    version + 1,
                    "ProductDiscontinued",
                    {"reason": ""},
                    draw(st.integers(0, 60)),
                )
            )
    # Interleave the products, each in its own order (the log keeps per-key order).
    per_sku: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        per_sku.setdefault(e["sku"], []).append(e)
    order = draw(st.permutations([e["sku"] for e in events]))
    merged = [per_sku[sku].pop(0) for sku in order]
    return [PositionedEvent(e, 0, offset) for offset, e in enumerate(merged)]


def batches(events: list[PositionedEvent], size: int) -> Iterator[list[PositionedEvent]]:
    for start in range(0, len(events), size):
        yield events[start : start + size]


@pytest.fixture
def schemas(pg: psycopg.Connection[Any], unique: str) -> Iterator[list[str]]:
    names = [f"pricing_bi{i}_{unique}" for i in range(3)]
    for name in names:
        migrate(pg, name)
    yield names
    for name in names:
        pg.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def aliases(es: Elasticsearch, unique: str) -> Iterator[list[str]]:
    names = [f"test-bi{i}-{unique}" for i in range(3)]
    for name in names:
        ensure_index(es, name)
    yield names
    for name in names:
        made = es.indices.get(index=f"{name}*", allow_no_indices=True, expand_wildcards="all").body
        for index in made:
            es.options(ignore_status=404).indices.delete(index=index)


def rows(
    pg: psycopg.Connection[Any], schema: str, skus: list[str]
) -> dict[str, list[tuple[Any, ...]]]:
    found = {}
    for table in TABLES:
        query = sql.SQL("SELECT * FROM {}.{} WHERE sku = ANY(%s)").format(
            sql.Identifier(schema), sql.Identifier(table)
        )
        found[table] = sorted(pg.execute(query, [skus]).fetchall(), key=repr)  # every column
    return found


@hypothesis_settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(histories(), st.integers(2, 7))
def test_rows_and_documents_do_not_depend_on_batch_boundaries(
    settings: Settings,
    pg: psycopg.Connection[Any],
    es: Elasticsearch,
    schemas: list[str],
    aliases: list[str],
    events: list[PositionedEvent],
    size: int,
) -> None:
    dsn = settings.postgres_dsn.get_secret_value()
    # Fresh SKUs per example: the stores need no reset between examples.
    suffix = uuid.uuid4().hex[:8]
    events = [
        PositionedEvent({**e.event, "sku": f"{e.event['sku']}-{suffix}"}, e.partition, e.offset)
        for e in events
    ]
    skus = sorted({str(e.event["sku"]) for e in events})
    for schema, alias, batch_size in zip(schemas, aliases, (len(events), 1, size), strict=True):
        with PricingSink(dsn, schema) as pricing:
            search = SearchSink(es, alias)
            for batch in batches(events, batch_size):
                assert pricing.apply(batch).failed == []
                assert search.apply(batch).failed == []

    assert rows(pg, schemas[1], skus) == rows(pg, schemas[0], skus)
    assert rows(pg, schemas[2], skus) == rows(pg, schemas[0], skus)
    docs = [[d.get("_source") for d in es.mget(index=a, ids=skus)["docs"]] for a in aliases]
    assert docs[1] == docs[0] and docs[2] == docs[0]
    for sku, currency, _a, _t, start, end, *_ in rows(pg, schemas[0], skus)["price_history"]:
        assert end is None or end >= start, (sku, currency)
