"""PricingSink against the real PostgreSQL: rows, intervals, idempotence, poison, outages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg_pool import ConnectionPool

from read_models.pricing import rows
from read_models.pricing.migrate import migrate
from read_models.pricing.sink import PricingSink
from read_models.projection import PositionedEvent, Sink, TransientStoreError
from schemas.config.settings import Settings
from tests.unit.read_models.test_pricing_rows import at, discontinued, price, registered, stock

pytestmark = pytest.mark.services

AS_OF = (
    "SELECT amount, version FROM {}.price_history WHERE sku = %s AND currency = %s"
    " AND valid_from <= %s AND (valid_to IS NULL OR %s < valid_to)"
    " ORDER BY valid_from DESC, version DESC LIMIT 1"
)


@pytest.fixture
def schema(pg: psycopg.Connection[Any], unique: str) -> Iterator[str]:
    name = f"pricing_t{unique}"
    migrate(pg, name)
    yield name
    pg.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def sink(settings: Settings, schema: str, unique: str) -> Iterator[PricingSink]:
    conninfo = psycopg.conninfo.make_conninfo(
        settings.postgres_dsn.get_secret_value(), application_name=f"sink_{unique}"
    )
    with PricingSink(conninfo, schema) as made:
        yield made


def q(pg: psycopg.Connection[Any], schema: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    return pg.execute(sql.SQL(query).format(sql.Identifier(schema)), params).fetchall()


def at_offsets(
    events: list[dict[str, Any]], start: int = 0, partition: int = 0
) -> list[PositionedEvent]:
    return [PositionedEvent(e, partition, start + i) for i, e in enumerate(events)]


def snapshot(pg: psycopg.Connection[Any], schema: str) -> dict[str, list[tuple[Any, ...]]]:
    return {
        table: q(pg, schema, f"SELECT * FROM {{}}.{table} ORDER BY 1, 2, 3")
        for table in ("product", "current_price", "price_history", "stock")
    }


def history(pg: psycopg.Connection[Any], schema: str, sku: str) -> list[tuple[Any, ...]]:
    return q(
        pg,
        schema,
        "SELECT currency, amount, valid_from, valid_to, version FROM {}.price_history"
        " WHERE sku = %s ORDER BY currency, version",
        sku,
    )


def test_is_a_sink(sink: PricingSink) -> None:
    checked: Sink = sink
    assert checked.name == "pricing"


def test_lifecycle_across_batches(
    pg: psycopg.Connection[Any], schema: str, sink: PricingSink
) -> None:
    first = at_offsets(
        [
            registered(minutes=0),
            price(2, "10.00", "EUR", minutes=1),
            price(3, "12.00", "USD", minutes=2),
            stock(4, 5, 5, minutes=3),
            price(5, "9.50", "EUR", "sale", minutes=4),
        ]
    )
    report = sink.apply(first)
    assert (report.applied, report.skipped, report.failed) == (5, 0, [])

    assert q(pg, schema, "SELECT sku, version, status FROM {}.product") == [("SKU-1", 5, "active")]
    assert q(
        pg, schema, "SELECT currency, amount, price_type, version FROM {}.current_price ORDER BY 1"
    ) == [
        ("EUR", Decimal("9.5000"), "sale", 5),
        ("USD", Decimal("12.0000"), "regular", 3),
    ]
    assert history(pg, schema, "SKU-1") == [
        ("EUR", Decimal("10.0000"), at(1), at(4), 2),
        ("EUR", Decimal("9.5000"), at(4), None, 5),
        ("USD", Decimal("12.0000"), at(2), None, 3),
    ]
    assert q(pg, schema, "SELECT quantity, version FROM {}.stock") == [(5, 4)]

    # A second batch closes the intervals stored by the first one, then discontinues.
    second = at_offsets(
        [
            price(6, "11.00", "EUR", minutes=10),
            stock(7, -2, 3, minutes=11),
            discontinued(8, minutes=20),
        ],
        start=5,
    )
    report = sink.apply(second)
    assert (report.applied, report.skipped, report.failed) == (3, 0, [])
    assert q(pg, schema, "SELECT version, status FROM {}.product") == [(8, "discontinued")]
    assert q(pg, schema, "SELECT * FROM {}.current_price") == []
    assert history(pg, schema, "SKU-1") == [
        ("EUR", Decimal("10.0000"), at(1), at(4), 2),
        ("EUR", Decimal("9.5000"), at(4), at(10), 5),
        ("EUR", Decimal("11.0000"), at(10), at(20), 6),
        ("USD", Decimal("12.0000"), at(2), at(20), 3),
    ]
    assert q(pg, schema, "SELECT quantity, version FROM {}.stock") == [(3, 7)]
    assert q(pg, schema, 'SELECT projection, partition, "offset" FROM {}.checkpoint') == [
        ("pricing", 0, 7)
    ]

    # "Price as of t" in SQL agrees with the pure helper over the same rows.
    stored = [
        rows.HistoryRow("SKU-1", cur, amount, "", start, end, "", version)
        for cur, amount, start, end, version in history(pg, schema, "SKU-1")
    ]
    for minute in (0, 1, 3, 4, 5, 10, 19, 20, 30):
        for currency in ("EUR", "USD"):
            expected = rows.price_as_of(stored, currency, at(minute))
            found = q(pg, schema, AS_OF, "SKU-1", currency, at(minute), at(minute))
            assert found == ([(expected.amount, expected.version)] if expected else [])


def test_same_batch_twice_changes_nothing(
    pg: psycopg.Connection[Any], schema: str, sink: PricingSink
) -> None:
    batch = at_offsets(
        [registered(), price(2, "10", minutes=1), price(3, "11", minutes=2), stock(4, 1, 1)],
        partition=2,
    )
    assert sink.apply(batch).applied == 4
    before = snapshot(pg, schema)
    checkpoint = q(pg, schema, 'SELECT partition, "offset", updated_at FROM {}.checkpoint')

    again = sink.apply(batch)
    assert (again.applied, again.skipped, again.failed) == (0, 4, [])
    assert snapshot(pg, schema) == before
    assert (
        [r[:2] for r in q(pg, schema, 'SELECT partition, "offset" FROM {}.checkpoint')]
        == [r[:2] for r in checkpoint]
        == [(2, 3)]
    )


def test_version_guard_skips_duplicates_even_at_new_offsets(
    pg: psycopg.Connection[Any], schema: str, sink: PricingSink
) -> None:
    sink.apply(at_offsets([registered(), price(2, "10", minutes=1)]))
    before = snapshot(pg, schema)
    # The same events re-published (new offsets, e.g. a producer retry): the SKU guard skips them.
    report = sink.apply(at_offsets([registered(), price(2, "10", minutes=1)], start=10))
    assert (report.applied, report.skipped) == (0, 2)
    assert snapshot(pg, schema) == before
    assert q(pg, schema, 'SELECT "offset" FROM {}.checkpoint') == [(11,)]


def test_events_at_or_below_the_checkpoint_are_skipped(
    pg: psycopg.Connection[Any], schema: str, sink: PricingSink
) -> None:
    sink.apply(at_offsets([registered(), price(2, "10", minutes=1)], start=100))
    # A new version, but at an offset the checkpoint already covers: skipped.
    stale = [PositionedEvent(price(3, "99", minutes=2), 0, 101)]
    report = sink.apply(stale)
    assert (report.applied, report.skipped) == (0, 1)
    assert q(pg, schema, "SELECT amount FROM {}.current_price") == [(Decimal("10.0000"),)]
    # Other partitions have their own checkpoints.
    other = [PositionedEvent(registered(sku="SKU-9"), 1, 5)]
    assert sink.apply(other).applied == 1
    assert q(pg, schema, 'SELECT partition, "offset" FROM {}.checkpoint ORDER BY 1') == [
        (0, 101),
        (1, 5),
    ]


def test_poison_skus_fail_and_the_rest_of_the_batch_is_applied(
    pg: psycopg.Connection[Any], schema: str, sink: PricingSink
) -> None:
    batch = at_offsets(
        [
            registered(sku="GOOD"),
            registered(sku="NEG"),
            price(2, "10", sku="GOOD", minutes=1),
            price(2, "5", sku="NEG", minutes=1),
            stock(3, -1, -1, sku="NEG"),  # violates stock.quantity >= 0
            registered(sku="LOWER"),
            price(2, "5", "eur", sku="LOWER"),  # violates the currency check
            registered(sku="HUGE"),
            price(2, "1000000000000", sku="HUGE"),  # 13 integer digits: beyond numeric(16,4)
            stock(3, 2, 2, sku="GOOD"),
        ]
    )
    report = sink.apply(batch)
    failed: dict[str, list[tuple[int, str]]] = {}
    for positioned, reason in report.failed:
        failed.setdefault(positioned.event["sku"], []).append((positioned.event["version"], reason))
    assert sorted(failed) == ["HUGE", "LOWER", "NEG"]
    assert [v for v, _ in failed["NEG"]] == [1, 2, 3]  # every event of the SKU in the batch
    assert "stock_quantity_check" in failed["NEG"][2][1]
    assert (
        "current_price_currency_check" in failed["LOWER"][0][1]
        or "price_history_currency_check" in failed["LOWER"][0][1]
    )
    assert "not a valid amount" in failed["HUGE"][0][1]
    assert report.applied == 3 and report.skipped == 0

    # A refused SKU's version moves past its dead-lettered events (so its next
    # events follow without a version gap); none of its rows are written.
    assert q(pg, schema, "SELECT sku, version FROM {}.product ORDER BY sku") == [
        ("GOOD", 3),
        ("HUGE", 2),
        ("LOWER", 2),
        ("NEG", 3),
    ]
    assert q(pg, schema, "SELECT sku, quantity FROM {}.stock") == [("GOOD", 2)]
    assert q(pg, schema, "SELECT sku, amount FROM {}.current_price") == [
        ("GOOD", Decimal("10.0000"))
    ]
    # The failed events go to the dead-letter topic: the checkpoint moves past them.
    assert q(pg, schema, 'SELECT "offset" FROM {}.checkpoint') == [(len(batch) - 1,)]


def test_unreachable_postgres_is_transient(settings: Settings) -> None:
    conninfo = psycopg.conninfo.make_conninfo(
        settings.postgres_dsn.get_secret_value(), port=1, connect_timeout=1
    )
    with PricingSink(conninfo, "pricing_unused", timeout=1) as sink:
        with pytest.raises(TransientStoreError):
            sink.apply(at_offsets([registered()]))
        assert sink.apply([]).applied == 0


def terminate(pg: psycopg.Connection[Any], application_name: str) -> int:
    killed = pg.execute(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
        (application_name,),
    ).fetchone()
    assert killed is not None
    return int(killed[0])


def test_idle_connections_dropped_by_the_server_are_replaced(
    pg: psycopg.Connection[Any], schema: str, sink: PricingSink, unique: str
) -> None:
    sink.apply(at_offsets([registered()]))
    assert terminate(pg, f"sink_{unique}") >= 1
    report = sink.apply(at_offsets([price(2, "10", minutes=1)], start=1))
    assert report.applied == 1


def test_admin_shutdown_is_transient_and_the_retry_applies_once(
    settings: Settings, pg: psycopg.Connection[Any], schema: str, unique: str
) -> None:
    name = f"shared_{unique}"
    conninfo = psycopg.conninfo.make_conninfo(
        settings.postgres_dsn.get_secret_value(), application_name=name
    )
    # A shared pool that does not check connections: the batch meets the dead one.
    with ConnectionPool(conninfo, min_size=1, max_size=1, open=True) as pool:
        sink = PricingSink(pool, schema)
        sink.apply(at_offsets([registered()]))
        assert terminate(pg, name) == 1
        batch = at_offsets([price(2, "10", minutes=1), stock(3, 4, 4)], start=1)
        with pytest.raises(TransientStoreError, match=r"administrator command|closed"):
            sink.apply(batch)
        report = sink.apply(batch)  # the runner's retry
        assert (report.applied, report.skipped) == (2, 0)
        assert sink.apply(batch).skipped == 2
    assert q(pg, schema, "SELECT version FROM {}.product") == [(3,)]


def test_shared_pool_and_custom_projection(
    settings: Settings, pg: psycopg.Connection[Any], schema: str
) -> None:
    with ConnectionPool(settings.postgres_dsn.get_secret_value(), min_size=1, open=True) as pool:
        sink = PricingSink(pool, schema, projection="pricing-replay")
        assert sink.apply(at_offsets([registered(), price(2, "1.5", minutes=1)])).applied == 2
        sink.close()  # a shared pool is not closed by the sink
        assert not pool.closed
    assert q(pg, schema, 'SELECT projection, "offset" FROM {}.checkpoint') == [
        ("pricing-replay", 1)
    ]
    valid_from: datetime = q(pg, schema, "SELECT valid_from FROM {}.current_price")[0][0]
    assert valid_from == at(1)
