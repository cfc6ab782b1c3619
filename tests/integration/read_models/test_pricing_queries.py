"""The pricing queries against the real PostgreSQL, on data made by the real decider and sink."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from producers.commands import adjust_stock, change_price, discontinue_product, register_product
from read_models.pricing import omnibus, queries
from read_models.pricing.migrate import migrate
from read_models.pricing.models import PriceInterval
from read_models.pricing.queries import (
    PricingUnavailable,
    bulk_current_prices,
    current_prices,
    lowest_price_30_days,
    price_as_of,
    price_history,
)
from read_models.pricing.sink import PricingSink
from read_models.projection import PositionedEvent
from schemas.config.settings import Settings
from streams.catalog import Accepted, ProductState, decide, evolve_all

pytestmark = pytest.mark.services

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


class Catalog:
    """Decides commands with the real decider and applies the events through the real sink."""

    def __init__(self, sink: PricingSink) -> None:
        self.sink = sink
        self.states: dict[str, ProductState] = {}
        self.pending: list[dict[str, Any]] = []
        self.offset = 0

    def do(self, command: dict[str, Any]) -> None:
        sku = command["sku"]
        state = self.states.get(sku, ProductState.empty(sku))
        decision = decide(command, state)
        assert isinstance(decision, Accepted), decision
        self.states[sku] = evolve_all(state, decision.events)
        self.pending.extend(decision.events)

    def register(self, sku: str, when: datetime = T0) -> None:
        self.do(register_product(sku, f"Product {sku}", occurred_at=when))

    def price(
        self, sku: str, amount: str, currency: str, when: datetime, price_type: str = "regular"
    ) -> None:
        self.do(change_price(sku, amount, currency, price_type=price_type, occurred_at=when))

    def flush(self) -> None:
        batch = []
        for event in self.pending:
            batch.append(PositionedEvent(event, 0, self.offset))
            self.offset += 1
        self.pending = []
        report = self.sink.apply(batch)
        assert report.failed == []


def _new_schema(pg: psycopg.Connection[Any], name: str) -> str:
    migrate(pg, name)
    return name


def _drop(pg: psycopg.Connection[Any], name: str) -> None:
    pg.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def schema(pg: psycopg.Connection[Any], unique: str) -> Iterator[str]:
    name = _new_schema(pg, f"pricing_q{unique}")
    yield name
    _drop(pg, name)


@pytest.fixture
def catalog(settings: Settings, schema: str) -> Iterator[Catalog]:
    with PricingSink(settings.postgres_dsn.get_secret_value(), schema) as sink:
        yield Catalog(sink)


def reader_conninfo(settings: Settings, **overrides: Any) -> str:
    return make_conninfo(
        settings.postgres_dsn.get_secret_value(),
        user="eventcart_reader",
        password=settings.postgres_reader_password.get_secret_value(),
        **overrides,
    )


@pytest.fixture
def reader(settings: Settings) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(reader_conninfo(settings), autocommit=True) as conn:
        yield conn


# --------------------------------------------------------------------------- current prices


def test_current_prices(reader: psycopg.Connection[Any], catalog: Catalog, schema: str) -> None:
    catalog.register("SKU-A", day(0))
    catalog.price("SKU-A", "19.99", "EUR", day(1))
    catalog.price("SKU-A", "21.50", "USD", day(1))
    catalog.price("SKU-A", "17.49", "EUR", day(3), "sale")
    catalog.do(adjust_stock("SKU-A", 7, occurred_at=day(4)))
    catalog.register("SKU-B", day(0))
    catalog.flush()

    found = current_prices(reader, schema, "SKU-A")
    assert found is not None
    assert (found.sku, found.status, found.stock, found.version) == ("SKU-A", "active", 7, 5)
    assert sorted(found.prices) == ["EUR", "USD"]
    eur = found.prices["EUR"]
    assert (eur.amount, eur.price_type, eur.valid_from) == (Decimal("17.49"), "sale", day(3))
    assert eur.valid_from.tzinfo is not None
    assert found.prices["USD"].amount == Decimal("21.50")
    dumped = json.loads(found.model_dump_json())
    assert dumped["prices"]["USD"]["amount"] == "21.5"
    assert dumped["prices"]["EUR"]["amount"] == "17.49"

    bare = current_prices(reader, schema, "SKU-B")
    assert bare is not None and (bare.prices, bare.stock, bare.status) == ({}, 0, "active")
    assert current_prices(reader, schema, "SKU-NOPE") is None

    catalog.do(discontinue_product("SKU-A", occurred_at=day(5)))
    catalog.flush()
    gone = current_prices(reader, schema, "SKU-A")
    assert gone is not None and (gone.status, gone.prices, gone.stock) == ("discontinued", {}, 7)


# --------------------------------------------------------------------------- price as of


def test_price_as_of_at_interval_boundaries(
    reader: psycopg.Connection[Any], catalog: Catalog, schema: str
) -> None:
    catalog.register("SKU-A", day(0))
    catalog.price("SKU-A", "10", "EUR", day(1))
    catalog.price("SKU-A", "12", "USD", day(2))
    catalog.price("SKU-A", "8", "EUR", day(5), "sale")
    catalog.price("SKU-A", "11", "EUR", day(9))
    catalog.do(discontinue_product("SKU-A", occurred_at=day(20)))
    catalog.flush()

    def eur_at(t: datetime) -> Decimal | None:
        points = price_as_of(reader, schema, "SKU-A", t, "EUR")
        assert len(points) <= 1
        return points[0].amount if points else None

    assert price_as_of(reader, schema, "SKU-A", day(1) - timedelta(microseconds=1)) == []
    assert eur_at(day(1)) == Decimal("10")  # at == valid_from: the new price
    assert eur_at(day(5) - timedelta(microseconds=1)) == Decimal("10")
    assert eur_at(day(5)) == Decimal("8")  # at == valid_to of 10: the next price
    assert eur_at(day(9)) == Decimal("11")
    assert eur_at(day(20) - timedelta(microseconds=1)) == Decimal("11")
    assert eur_at(day(20)) is None  # discontinued: the last interval ended

    both = price_as_of(reader, schema, "SKU-A", day(6))
    assert [(p.currency, p.amount, p.price_type) for p in both] == [
        ("EUR", Decimal("8"), "sale"),
        ("USD", Decimal("12"), "regular"),
    ]
    assert (both[0].valid_from, both[0].valid_to) == (day(5), day(9))
    assert (both[1].valid_from, both[1].valid_to) == (day(2), day(20))
    # Only EUR existed on day 1.5; an unknown SKU has no prices.
    assert [p.currency for p in price_as_of(reader, schema, "SKU-A", day(1.5))] == ["EUR"]
    assert price_as_of(reader, schema, "SKU-NOPE", day(6)) == []
    # Another session time zone changes nothing but the offset of the returned times.
    reader.execute("SET TimeZone TO 'America/New_York'")
    again = price_as_of(reader, schema, "SKU-A", day(6))
    assert again == both and again[0].valid_from.utcoffset() == timedelta(0)


def test_bad_arguments_are_refused_before_io(reader: psycopg.Connection[Any], schema: str) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        price_as_of(reader, schema, "SKU-A", datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="currency"):
        price_as_of(reader, schema, "SKU-A", day(1), "eur")
    with pytest.raises(ValueError, match="currency"):
        lowest_price_30_days(reader, schema, "SKU-A", "EURO")
    with pytest.raises(ValueError, match="limit"):
        price_history(reader, schema, "SKU-A", limit=0)
    with pytest.raises(ValueError, match="sku"):
        current_prices(reader, schema, "")


# --------------------------------------------------------------------------- history


def test_history_is_ordered_by_valid_from(
    reader: psycopg.Connection[Any], catalog: Catalog, schema: str
) -> None:
    catalog.register("SKU-A", day(0))
    catalog.price("SKU-A", "10", "EUR", day(1))
    catalog.price("SKU-A", "12", "USD", day(2))
    catalog.flush()
    catalog.price("SKU-A", "9", "EUR", day(3))
    catalog.price("SKU-A", "13", "USD", day(3))
    catalog.price("SKU-A", "11", "EUR", day(7))
    catalog.flush()

    full = price_history(reader, schema, "SKU-A")
    assert [(h.valid_from, h.currency, h.amount, h.valid_to) for h in full] == [
        (day(1), "EUR", Decimal("10"), day(3)),
        (day(2), "USD", Decimal("12"), day(3)),
        (day(3), "EUR", Decimal("9"), day(7)),
        (day(3), "USD", Decimal("13"), None),
        (day(7), "EUR", Decimal("11"), None),
    ]
    assert [h.version for h in full] == [2, 3, 4, 5, 6]
    eur = price_history(reader, schema, "SKU-A", "EUR")
    assert [h.amount for h in eur] == [Decimal("10"), Decimal("9"), Decimal("11")]
    assert price_history(reader, schema, "SKU-A", limit=2) == full[:2]
    assert price_history(reader, schema, "SKU-A", "GBP") == []
    assert price_history(reader, schema, "SKU-NOPE") == []


# --------------------------------------------------------------------------- Omnibus


def pure_omnibus(
    conn: psycopg.Connection[Any], schema: str, sku: str, currency: str, t: datetime | None
) -> tuple[Any, ...] | None:
    rows: list[PriceInterval] = price_history(conn, schema, sku, limit=10_000)
    result = omnibus.omnibus(rows, currency, t)
    if result is None:
        return None
    return (result.at, result.price.amount, result.lowest, result.is_reduction)


def sql_omnibus(
    conn: psycopg.Connection[Any], schema: str, sku: str, currency: str, t: datetime | None
) -> tuple[Any, ...] | None:
    found = lowest_price_30_days(conn, schema, sku, currency, t)
    if found is None:
        return None
    assert found.window_start == found.reference_at - timedelta(days=30)
    return (found.reference_at, found.amount, found.lowest_30_days, found.is_reduction)


def test_omnibus_per_currency(
    reader: psycopg.Connection[Any], catalog: Catalog, schema: str
) -> None:
    catalog.register("SKU-A", day(0))
    catalog.price("SKU-A", "100", "EUR", day(0))
    catalog.price("SKU-A", "110", "USD", day(0))
    # EUR had a low price for a day, 10 days before the sale; USD never did.
    catalog.price("SKU-A", "60", "EUR", day(40))
    catalog.price("SKU-A", "100", "EUR", day(41))
    catalog.price("SKU-A", "79.99", "EUR", day(50), "sale")
    catalog.price("SKU-A", "89.99", "USD", day(50), "sale")
    catalog.flush()

    eur = lowest_price_30_days(reader, schema, "SKU-A", "EUR")
    usd = lowest_price_30_days(reader, schema, "SKU-A", "USD")
    assert eur is not None and usd is not None
    assert (eur.reference_at, eur.window_start) == (day(50), day(20))
    assert (eur.amount, eur.price_type, eur.lowest_30_days, eur.is_reduction) == (
        Decimal("79.99"),
        "sale",
        Decimal("60"),
        False,  # 79.99 is not below 60: may not be announced as a reduction
    )
    assert (usd.amount, usd.lowest_30_days, usd.is_reduction) == (
        Decimal("89.99"),
        Decimal("110"),
        True,
    )
    assert json.loads(usd.model_dump_json())["lowest_30_days"] == "110"
    assert lowest_price_30_days(reader, schema, "SKU-A", "GBP") is None
    assert lowest_price_30_days(reader, schema, "SKU-NOPE", "EUR") is None


def test_omnibus_window_edges(
    reader: psycopg.Connection[Any], catalog: Catalog, schema: str
) -> None:
    catalog.register("SKU-OLD", day(0))
    catalog.price("SKU-OLD", "50", "EUR", day(0))
    catalog.price("SKU-OLD", "100", "EUR", day(5))
    catalog.price("SKU-OLD", "90", "EUR", day(40))  # window from day 10: 50 ended on day 5
    catalog.register("SKU-SPAN", day(0))
    catalog.price("SKU-SPAN", "60", "EUR", day(0))
    catalog.price("SKU-SPAN", "100", "EUR", day(35))
    catalog.price("SKU-SPAN", "90", "EUR", day(40))  # 60 was still valid on day 10
    catalog.register("SKU-EDGE", day(0))
    catalog.price("SKU-EDGE", "40", "EUR", day(0))
    catalog.price("SKU-EDGE", "100", "EUR", day(10))  # exactly at T - 30d
    catalog.price("SKU-EDGE", "95", "EUR", day(40))
    catalog.register("SKU-NEW", day(0))
    catalog.price("SKU-NEW", "30", "EUR", day(1))
    catalog.flush()

    def lowest(sku: str, t: datetime | None = None) -> Decimal | None:
        found = lowest_price_30_days(reader, schema, sku, "EUR", t)
        assert found is not None
        return found.lowest_30_days

    assert lowest("SKU-OLD") == Decimal("100")
    assert lowest("SKU-SPAN") == Decimal("60")
    assert lowest("SKU-EDGE") == Decimal("100")
    assert lowest("SKU-EDGE", day(40) - timedelta(microseconds=1)) == Decimal("40")
    new = lowest_price_30_days(reader, schema, "SKU-NEW", "EUR")
    assert new is not None and (new.amount, new.lowest_30_days, new.is_reduction) == (
        Decimal("30"),
        None,
        False,
    )
    # Before the first price there is nothing to announce.
    assert lowest_price_30_days(reader, schema, "SKU-NEW", "EUR", day(0.5)) is None


def test_omnibus_sql_agrees_with_the_pure_rule(
    reader: psycopg.Connection[Any], catalog: Catalog, schema: str
) -> None:
    rng = random.Random(20250301)
    skus = [f"SKU-R{i}" for i in range(6)]
    for sku in skus:
        catalog.register(sku, day(0))
        when = day(0)
        for _ in range(rng.randint(1, 25)):
            when += timedelta(minutes=rng.choice([0, 30, 60 * 24, 60 * 24 * 12, 60 * 24 * 31]))
            currency = rng.choice(["EUR", "USD"])
            amount = rng.choice(["5", "9.99", "10", "10.01", "20", "100"])
            state = catalog.states[sku].prices.get(currency)
            if state is not None and state["amount"] == amount:
                continue  # the decider emits nothing for an unchanged price
            catalog.price(sku, amount, currency, when, rng.choice(["regular", "sale"]))
        if rng.random() < 0.3:
            catalog.do(discontinue_product(sku, occurred_at=when + timedelta(days=3)))
        catalog.flush()

    checked = 0
    for sku in skus:
        history = price_history(reader, schema, sku, limit=10_000)
        instants: set[datetime | None] = {None, day(-1)}
        for h in history:
            for edge in (h.valid_from, h.valid_to):
                if edge is not None:
                    instants |= {edge, edge + omnibus.WINDOW, edge - timedelta(microseconds=1)}
                    instants.add(edge + omnibus.WINDOW + timedelta(microseconds=1))
        for currency in ("EUR", "USD"):
            for t in instants:
                expected = pure_omnibus(reader, schema, sku, currency, t)
                assert sql_omnibus(reader, schema, sku, currency, t) == expected, (sku, currency, t)
                checked += expected is not None
    assert checked > 50


# --------------------------------------------------------------------------- bulk, plans


@pytest.fixture(scope="module")
def big(settings: Settings) -> Iterator[str]:
    """1,000 SKUs with EUR and USD histories (~4,500 history rows), one SKU with 2,000 changes."""
    dsn = settings.postgres_dsn.get_secret_value()
    name = f"pricing_qbig{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as owner:
        _new_schema(owner, name)
        try:
            with PricingSink(dsn, name) as sink:
                catalog = Catalog(sink)
                for i in range(1000):
                    sku = f"BULK-{i:04d}"
                    catalog.register(sku, day(0))
                    catalog.price(sku, f"{10 + i % 50}.99", "EUR", day(1))
                    catalog.price(sku, f"{12 + i % 50}.49", "USD", day(1))
                    catalog.price(sku, f"{9 + i % 50}.99", "EUR", day(10))
                    catalog.do(adjust_stock(sku, i % 7 + 1, occurred_at=day(11)))
                    if i % 2:
                        catalog.price(sku, f"{8 + i % 50}.99", "EUR", day(20), price_type="sale")
                catalog.flush()
                catalog.register("LONG", day(0))
                for n in range(2000):
                    catalog.price("LONG", f"{100 + n % 37}", "EUR", day(n / 10))
                catalog.flush()
            for table in ("price_history", "product", "current_price", "stock"):
                owner.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(name, table)))
            yield name
        finally:
            _drop(owner, name)


class CountingCursor(psycopg.Cursor[Any]):
    executed: list[str] = []

    def execute(self, query: Any, params: Any = None, **kw: Any) -> Any:
        CountingCursor.executed.append(str(query))
        return super().execute(query, params, **kw)


def test_bulk_current_prices_one_query(settings: Settings, big: str) -> None:
    skus = [f"BULK-{i:04d}" for i in range(1000)]
    with psycopg.connect(reader_conninfo(settings), autocommit=True) as conn:
        conn.cursor_factory = CountingCursor
        CountingCursor.executed = []
        found = bulk_current_prices(conn, big, skus, None)
        assert len(CountingCursor.executed) == 1
        assert "ANY(" in CountingCursor.executed[0] or "= ANY" in CountingCursor.executed[0]
        assert sorted(found) == skus
        assert found["BULK-0001"].prices["EUR"].amount == Decimal("9.99")
        assert found["BULK-0001"].prices["EUR"].price_type == "sale"
        assert found["BULK-0002"].prices["EUR"].amount == Decimal("11.99")
        assert found["BULK-0002"].prices["USD"].amount == Decimal("14.49")
        assert found["BULK-0003"].stock == 4

        eur_only = bulk_current_prices(conn, big, [*skus[:10], "NOPE", skus[0]], "EUR")
        assert sorted(eur_only) == skus[:10]
        assert all(list(p.prices) == ["EUR"] for p in eur_only.values())
        assert bulk_current_prices(conn, big, [], None) == {}

        CountingCursor.executed = []
        with pytest.raises(ValueError, match="1000"):
            bulk_current_prices(conn, big, [f"X-{i}" for i in range(1001)], None)
        assert CountingCursor.executed == []  # refused before any I/O
        # Duplicates are counted once.
        assert len(bulk_current_prices(conn, big, skus + skus[:5], "USD")) == 1000


def _plan(conn: psycopg.Connection[Any], query: sql.Composed, params: dict[str, Any]) -> str:
    explained = conn.execute(sql.SQL("EXPLAIN (FORMAT JSON) ") + query, params).fetchone()
    assert explained is not None
    return json.dumps(explained[0])


def test_queries_use_the_indexes(pg: psycopg.Connection[Any], big: str) -> None:
    count = pg.execute(
        sql.SQL("SELECT count(*) FROM {}.price_history").format(sql.Identifier(big))
    ).fetchone()
    assert count is not None and count[0] > 5000
    stmts = queries._statements(big)
    for query, params in [
        (stmts.as_of_all, {"sku": "LONG", "at": day(55), "currency": None}),
        (stmts.as_of_one, {"sku": "LONG", "at": day(55), "currency": "EUR"}),
        (stmts.as_of_all, {"sku": "BULK-0007", "at": day(15), "currency": None}),
        (stmts.omnibus, {"sku": "LONG", "currency": "EUR", "before": None}),
        (stmts.history_one, {"sku": "BULK-0007", "currency": "EUR", "limit": 500}),
    ]:
        plan = _plan(pg, query, params)
        assert "price_history_as_of" in plan, plan[:2000]
        assert '"Node Type": "Seq Scan"' not in plan, plan[:2000]
    # The current-price tables hold ~1,000 rows here, so PostgreSQL rightly scans them;
    # with scans priced out it must still be able to serve them from the primary keys
    # (no cast or expression on the key columns keeps the indexes out).
    with pg.transaction():
        pg.execute("SET LOCAL enable_seqscan = off")
        skus = [f"BULK-{i:04d}" for i in range(0, 1000, 100)]
        plan = _plan(pg, stmts.current_one, {"skus": skus, "currency": "EUR"})
        assert "product_pkey" in plan and "current_price_pkey" in plan, plan[:2000]
        assert '"Node Type": "Seq Scan"' not in plan, plan[:2000]

    # And the answers on the long history: the price at day 55 is change #550.
    points = price_as_of(pg, big, "LONG", day(55))
    assert [(p.amount, p.valid_from) for p in points] == [(Decimal(100 + 550 % 37), day(55))]
    found = lowest_price_30_days(pg, big, "LONG", "EUR")
    assert found is not None and found.lowest_30_days == Decimal("100")


# --------------------------------------------------------------------------- roles, outages


def test_read_only_role_through_a_pool(settings: Settings, catalog: Catalog, schema: str) -> None:
    catalog.register("SKU-A", day(0))
    catalog.price("SKU-A", "10", "EUR", day(1))
    catalog.price("SKU-A", "8", "EUR", day(2))
    catalog.flush()
    with queries.reader_pool(reader_conninfo(settings), max_size=2, name="test-reader") as pool:
        found = current_prices(pool, schema, "SKU-A")
        assert found is not None and found.prices["EUR"].amount == Decimal("8")
        assert bulk_current_prices(pool, schema, ["SKU-A"], "EUR")["SKU-A"] == found
        assert [p.amount for p in price_as_of(pool, schema, "SKU-A", day(1))] == [Decimal("10")]
        assert len(price_history(pool, schema, "SKU-A")) == 2
        omni = lowest_price_30_days(pool, schema, "SKU-A", "EUR")
        assert omni is not None and omni.is_reduction
        with pool.connection() as conn:
            user = conn.execute("SELECT current_user").fetchone()
            assert user == ("eventcart_reader",)


def test_reader_role_cannot_write(
    reader: psycopg.Connection[Any], catalog: Catalog, schema: str
) -> None:
    catalog.register("SKU-A", day(0))
    catalog.price("SKU-A", "10", "EUR", day(1))
    catalog.flush()
    assert current_prices(reader, schema, "SKU-A") is not None
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        reader.execute(
            sql.SQL(
                "INSERT INTO {}.product (sku, version, status) VALUES ('SKU-X', 1, 'active')"
            ).format(sql.Identifier(schema))
        )
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        reader.execute(
            sql.SQL("UPDATE {}.current_price SET amount = 0").format(sql.Identifier(schema))
        )


def test_non_autocommit_connection_is_left_idle(
    settings: Settings, catalog: Catalog, schema: str
) -> None:
    catalog.register("SKU-A", day(0))
    catalog.flush()
    with psycopg.connect(reader_conninfo(settings)) as conn:
        assert current_prices(conn, schema, "SKU-A") is not None
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_unreachable_database_is_unavailable(settings: Settings, schema: str) -> None:
    with queries.reader_pool(
        reader_conninfo(settings, port=1, connect_timeout=1), timeout=1.0, name="test-port-1"
    ) as pool:
        with pytest.raises(PricingUnavailable):
            current_prices(pool, schema, "SKU-A")
        with pytest.raises(PricingUnavailable):
            bulk_current_prices(pool, schema, ["SKU-A"], None)
        with pytest.raises(PricingUnavailable):
            lowest_price_30_days(pool, schema, "SKU-A", "EUR")
    closed = psycopg.connect(reader_conninfo(settings), autocommit=True)
    closed.close()
    with pytest.raises(PricingUnavailable):
        price_as_of(closed, schema, "SKU-A", day(1))
    with pytest.raises(PricingUnavailable):
        price_history(closed, schema, "SKU-A")
