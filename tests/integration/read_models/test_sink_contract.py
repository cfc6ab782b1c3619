"""What every sink promises (read_models/projection.py), written once and run against each.

As the ``eventsourcing`` library runs one abstract test case against every
persistence backend: :class:`SinkContract` holds the tests, and each read model's
class below says only how to make its sink on a fresh store, read back a
product's version, lose a product, and build events the store refuses. A new
read model passes this suite before anything else.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from elasticsearch import Elasticsearch
from psycopg import sql

from read_models.pricing.migrate import migrate
from read_models.pricing.sink import PricingSink
from read_models.projection import PositionedEvent, Sink, TransientStoreError
from read_models.search.index import ensure_index
from read_models.search.sink import SearchSink
from schemas.config.settings import Settings
from tests.fixtures.events import history, price, registered, stock


class SinkContract:
    """The tests; a subclass provides the fixtures ``sink``, ``repair_sink``, ``held``,
    ``lose``, ``unreachable`` and ``refused``."""

    def test_applies_a_products_events_and_counts_them(
        self, sink: Sink, held: Callable[[str], int | None]
    ) -> None:
        report = sink.apply(history("A"))
        assert (report.applied, report.skipped, report.failed, report.gaps) == (4, 0, [], [])
        assert held("A") == 4

    def test_the_same_events_again_change_nothing(
        self, sink: Sink, held: Callable[[str], int | None]
    ) -> None:
        events = history("A")
        sink.apply(events)
        again = sink.apply(events)
        assert (again.applied, again.skipped) == (0, 4)
        assert held("A") == 4

    def test_an_old_event_delivered_again_later_is_skipped(
        self, sink: Sink, held: Callable[[str], int | None]
    ) -> None:
        sink.apply(history("A"))
        late = price("A", 2, "10.00")  # a newer offset, an old version
        report = sink.apply([late])
        assert (report.applied, report.skipped) == (0, 1)
        assert held("A") == 4

    def test_a_version_gap_is_reported_with_the_version_held_and_not_applied(
        self, sink: Sink, held: Callable[[str], int | None]
    ) -> None:
        sink.apply([registered("A")])
        report = sink.apply([stock("A", 3, 2), stock("A", 4, 3)])
        assert report.applied == 0
        assert [(g.event.event["version"], g.applied) for g in report.gaps] == [(3, 1), (4, 1)]
        assert held("A") == 1

    def test_events_the_store_refuses_fail_alone_with_a_reason(
        self,
        sink: Sink,
        held: Callable[[str], int | None],
        refused: Callable[[str], list[PositionedEvent]],
    ) -> None:
        bad = refused("BAD")
        report = sink.apply([*bad, *history("OK")])
        assert report.applied == 4
        assert {positioned.event["sku"] for positioned, _ in report.failed} == {"BAD"}
        assert all(reason for _, reason in report.failed)
        assert held("OK") == 4

    def test_a_store_that_cannot_answer_is_transient(self, unreachable: Sink) -> None:
        with pytest.raises(TransientStoreError):
            unreachable.apply(history("A"))

    def test_what_the_store_lost_is_written_again_and_again(
        self,
        sink: Sink,
        repair_sink: Sink,
        held: Callable[[str], int | None],
        lose: Callable[[str], None],
    ) -> None:
        """A repair applies what the store lacks and skips only what it holds, however
        many repairs ran before (the live sink's checkpoint, if any, has moved on)."""
        events = history("A") + history("B")
        sink.apply(events)
        for lost, kept in (("A", "B"), ("B", "A")):
            lose(lost)
            assert held(lost) is None
            report = repair_sink.apply(events)
            assert (report.applied, report.skipped) == (4, 4), (lost, report)
            assert (held(lost), held(kept)) == (4, 4)


class TestSearchSink(SinkContract):
    @pytest.fixture
    def alias(self, es: Elasticsearch) -> Iterator[str]:
        name = f"test-contract-{uuid.uuid4().hex[:10]}"
        ensure_index(es, name)
        yield name
        for index in es.indices.get(index=f"{name}*", expand_wildcards="all").body:
            es.options(ignore_status=404).indices.delete(index=index)

    @pytest.fixture
    def sink(self, es: Elasticsearch, alias: str) -> SearchSink:
        return SearchSink(es, alias)

    @pytest.fixture
    def repair_sink(self, sink: SearchSink) -> SearchSink:
        return sink  # the index has no checkpoint: the live sink decides by the store

    @pytest.fixture
    def held(self, es: Elasticsearch, alias: str) -> Callable[[str], int | None]:
        def version(sku: str) -> int | None:
            found = es.options(ignore_status=404).get(index=alias, id=sku, realtime=True)
            return int(found["_source"]["version"]) if found.get("found") else None

        return version

    @pytest.fixture
    def lose(self, es: Elasticsearch, alias: str) -> Callable[[str], None]:
        # a deletion, which leaves a tombstone the repair must not take for a document
        return lambda sku: es.delete(index=alias, id=sku)

    @pytest.fixture
    def unreachable(self, alias: str) -> Iterator[SearchSink]:
        down = Elasticsearch("http://127.0.0.1:1", max_retries=0, request_timeout=2)
        yield SearchSink(down, alias)
        down.close()

    @pytest.fixture
    def refused(self) -> Callable[[str], list[PositionedEvent]]:
        # beyond a 64-bit long: the mapping refuses the document
        return lambda sku: [registered(sku), stock(sku, 2, 2**64)]


class TestPricingSink(SinkContract):
    @pytest.fixture
    def schema(self, pg: psycopg.Connection[Any]) -> Iterator[str]:
        name = f"pricing_c{uuid.uuid4().hex[:10]}"
        migrate(pg, name)
        yield name
        pg.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))

    @pytest.fixture
    def sink(self, settings: Settings, schema: str) -> Iterator[PricingSink]:
        with PricingSink(settings.postgres_dsn.get_secret_value(), schema) as made:
            yield made

    @pytest.fixture
    def repair_sink(self, settings: Settings, schema: str) -> Iterator[PricingSink]:
        dsn = settings.postgres_dsn.get_secret_value()
        with PricingSink(dsn, schema, checkpointed=False) as made:
            yield made

    @pytest.fixture
    def held(self, pg: psycopg.Connection[Any], schema: str) -> Callable[[str], int | None]:
        def version(sku: str) -> int | None:
            row = pg.execute(
                sql.SQL("SELECT version FROM {}.product WHERE sku = %s").format(
                    sql.Identifier(schema)
                ),
                [sku],
            ).fetchone()
            return None if row is None else int(row[0])

        return version

    @pytest.fixture
    def lose(self, pg: psycopg.Connection[Any], schema: str) -> Callable[[str], None]:
        def delete(sku: str) -> None:
            for table in ("current_price", "price_history", "stock", "product"):
                pg.execute(
                    sql.SQL("DELETE FROM {}.{} WHERE sku = %s").format(
                        sql.Identifier(schema), sql.Identifier(table)
                    ),
                    [sku],
                )

        return delete

    @pytest.fixture
    def unreachable(self, settings: Settings) -> Iterator[PricingSink]:
        conninfo = psycopg.conninfo.make_conninfo(
            settings.postgres_dsn.get_secret_value(), port=1, connect_timeout=1
        )
        with PricingSink(conninfo, "pricing_unused", timeout=1) as made:
            yield made

    @pytest.fixture
    def refused(self) -> Callable[[str], list[PositionedEvent]]:
        # 13 integer digits: beyond numeric(16,4)
        return lambda sku: [registered(sku), price(sku, 2, "1000000000000")]
