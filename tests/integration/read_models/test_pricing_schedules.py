"""Scheduled prices in the real PostgreSQL: the rows whatever the batches, the migration's
backfill, what ``eventcart verify`` compares, the schedule queries and their routes.

Every event is made by the real decider and the real firing
(:class:`tests.unit.read_models.schedule_shop.Shop`) and applied by the real sink.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql
from psycopg.conninfo import make_conninfo

from read_models.pricing import schedule_queries as sq
from read_models.pricing.check import PricingCheck, rows_of
from read_models.pricing.fold import fold_rows
from read_models.pricing.migrate import migrate, migrations
from read_models.pricing.sink import PricingSink
from read_models.projection import PositionedEvent
from read_models.query_api import create_app
from schemas.config.settings import Settings
from tests.unit.read_models.schedule_shop import Shop, black_friday

pytestmark = pytest.mark.services

Schema = Callable[[], str]


@pytest.fixture
def new_schema(pg: psycopg.Connection[Any], unique: str) -> Iterator[Schema]:
    """Fresh migrated schemas, dropped afterwards."""
    made: list[str] = []

    def make() -> str:
        name = f"pricing_s{unique}_{len(made)}"
        migrate(pg, name)
        made.append(name)
        return name

    yield make
    for name in made:
        pg.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def dsn(settings: Settings) -> str:
    return settings.postgres_dsn.get_secret_value()


def two_products() -> Shop:
    """The year of schedules of KNIFE-1, and a second product in the same campaign."""
    shop = black_friday()
    other = Shop()
    base = datetime(2025, 11, 1, tzinfo=UTC)
    other.register("PAN-2", base)
    other.price("PAN-2", "20.00", base)
    other.sale(
        "PAN-2", "bf", "15.00", base + timedelta(26), base + timedelta(30), base, campaign="bf-25"
    )
    other.tick(base + timedelta(27))
    for event in other.events:
        shop.events.append(event)
    return shop


def apply(sink: PricingSink, events: list[PositionedEvent], cuts: list[int]) -> None:
    bounds = sorted({0, len(events), *cuts})
    for a, b in itertools.pairwise(bounds):
        report = sink.apply(events[a:b])
        assert report.failed == [] and report.gaps == []


# --------------------------------------------------------------------------- the rows


def test_any_batches_give_the_fold(settings: Settings, new_schema: Schema) -> None:
    events = two_products().positioned()
    expected = fold_rows(events)
    rng = random.Random(7)
    splits = [
        [],  # one batch
        list(range(1, len(events))),  # one event per batch
        sorted(rng.sample(range(1, len(events)), 5)),
        sorted(rng.sample(range(1, len(events)), 12)),
    ]
    with psycopg.connect(dsn(settings), autocommit=True) as conn:
        for cuts in splits:
            schema = new_schema()
            with PricingSink(dsn(settings), schema) as sink:
                apply(sink, events, cuts)
            assert rows_of(conn, schema, sorted(expected)) == expected, cuts
            # at-least-once: the same events again, past the checkpoint, change nothing
            with PricingSink(dsn(settings), schema, checkpointed=False) as again:
                report = again.apply(events)
                assert (report.applied, report.skipped) == (0, len(events))
            assert rows_of(conn, schema, sorted(expected)) == expected, cuts


def test_verify_compares_the_schedule_rows_and_repair_restores_them(
    settings: Settings, new_schema: Schema
) -> None:
    events = two_products().positioned()
    expected = fold_rows(events)
    schema = new_schema()
    with psycopg.connect(dsn(settings), autocommit=True) as conn:
        with PricingSink(dsn(settings), schema) as sink:
            apply(sink, events, [10, 20])
        s = sql.Identifier(schema)
        conn.execute(
            sql.SQL(
                "UPDATE {}.scheduled_price SET status = 'planned' WHERE schedule_id = 'xmas'"
            ).format(s)
        )
        conn.execute(
            sql.SQL("UPDATE {}.current_price SET regular_amount = 1 WHERE sku = 'PAN-2'").format(s)
        )
        conn.execute(
            sql.SQL("UPDATE {}.price_history SET planned_at = NULL WHERE schedule_id = 'a'").format(
                s
            )
        )
        found = rows_of(conn, schema, ["KNIFE-1", "PAN-2"])
        check = PricingCheck()
        [knife] = check.differences(expected["KNIFE-1"], found["KNIFE-1"])
        assert "schedules:" in knife and "history:" in knife
        [pan] = check.differences(expected["PAN-2"], found["PAN-2"])
        assert pan.startswith("current:")

        by_sku: dict[str, list[PositionedEvent]] = {}
        for e in events:
            by_sku.setdefault(e.event["sku"], []).append(e)
        with PricingSink(dsn(settings), schema, checkpointed=False) as sink:
            assert sink.replace(by_sku) == ["KNIFE-1", "PAN-2"]
        assert rows_of(conn, schema, ["KNIFE-1", "PAN-2"]) == expected


def test_the_migration_backfills_the_regular_price(
    settings: Settings, pg: psycopg.Connection[Any], unique: str
) -> None:
    """A schema built before schedules: its rows get the regular price the projection
    computes, so verify finds nothing to repair and no rebuild is needed."""
    shop = Shop()
    base = datetime(2025, 1, 1, tzinfo=UTC)
    shop.register("OLD-1", base)
    shop.price("OLD-1", "10.00", base + timedelta(1))
    shop.price("OLD-1", "12.00", base + timedelta(2), currency="USD")
    shop.price("OLD-1", "8.00", base + timedelta(3), price_type="sale")
    shop.price("OLD-1", "13.00", base + timedelta(4), currency="USD")
    shop.price("OLD-1", "9.00", base + timedelta(5), currency="GBP", price_type="sale")
    events = shop.positioned()
    [expected] = fold_rows(events).values()

    schema = f"pricing_old{unique}"
    s = sql.Identifier(schema)
    try:
        pg.execute(sql.SQL("CREATE SCHEMA {}").format(s))
        pg.execute(
            sql.SQL(
                "CREATE TABLE {}.schema_migrations (name text PRIMARY KEY, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            ).format(s)
        )
        with pg.transaction():
            pg.execute(sql.SQL("SET LOCAL search_path TO {}").format(s))
            for m in migrations()[:3]:
                pg.execute(m.sql)
                pg.execute(
                    "INSERT INTO schema_migrations (name, checksum) VALUES (%s, %s)",
                    [m.name, m.checksum],
                )
            pg.execute(
                "INSERT INTO product VALUES (%s, %s, 'active', %s)",
                ["OLD-1", expected.version, expected.updated_at],
            )
            for currency, (amount, kind, since, version, _) in expected.current.items():
                pg.execute(
                    "INSERT INTO current_price VALUES (%s, %s, %s, %s, %s, %s)",
                    ["OLD-1", currency, amount, kind, since, version],
                )
            for version, currency, amount, kind, since, until, event_id, *_ in expected.history:
                pg.execute(
                    "INSERT INTO price_history VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    ["OLD-1", currency, amount, kind, since, until, event_id, version],
                )
        assert migrate(pg, schema) == ["0004_schedules"]
        [found] = rows_of(pg, schema, ["OLD-1"]).values()
        assert {c: row[4] for c, row in found.current.items()} == {
            "EUR": Decimal("10.00"),
            "USD": Decimal("13.00"),
            "GBP": None,
        }
        assert found == expected
    finally:
        pg.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(s))


# --------------------------------------------------------------------------- the queries

#: The queries' "now": 27 days after the start of the scenario below.
BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(days=27)


def d(days: float) -> datetime:
    return BASE + timedelta(days=days)


NOW = d(27)


def upcoming() -> Shop:
    """Q-1: a running sale, a regular rise inside it, a sale later; Q-2: the same campaign,
    and a schedule of it cancelled. The processor has fired what was due up to day 27."""
    shop = Shop()
    for sku, amount in (("Q-1", "50.00"), ("Q-2", "20.00")):
        shop.register(sku, d(0))
        shop.price(sku, amount, d(0.1))
    shop.price("Q-1", "60.00", d(0.1), currency="USD")
    shop.sale("Q-1", "bf", "40.00", d(26), d(30), d(1), campaign="bf-25")
    shop.regular("Q-1", "rise", "55.00", d(28), d(1))
    shop.sale("Q-1", "xmas", "45.00", d(50), d(57), d(1), campaign="xmas-25")
    shop.sale("Q-2", "bf", "15.00", d(26), d(30), d(2), campaign="bf-25")
    shop.sale("Q-2", "bf-2", "14.00", d(40), d(45), d(2), campaign="bf-25")
    shop.cancel("Q-2", "bf-2", d(3), "moved to spring")
    shop.tick(d(26))
    return shop


@pytest.fixture
def loaded(settings: Settings, new_schema: Schema) -> str:
    schema = new_schema()
    with PricingSink(dsn(settings), schema) as sink:
        report = sink.apply(upcoming().positioned())
        assert report.failed == []
    return schema


@pytest.fixture
def reader(settings: Settings) -> Iterator[psycopg.Connection[Any]]:
    info = make_conninfo(
        dsn(settings),
        user=f"{settings.postgres_user}_reader",
        password=settings.postgres_reader_password.get_secret_value(),
    )
    with psycopg.connect(info, autocommit=True) as conn:
        yield conn


def test_the_schedules_of_a_sku(reader: psycopg.Connection[Any], loaded: str) -> None:
    found = sq.schedules_of(reader, loaded, "Q-1", now=NOW)
    assert found is not None and found.now == NOW
    assert [(s.schedule_id, s.status) for s in found.schedules] == [
        ("bf", "running"),
        ("rise", "planned"),
        ("xmas", "planned"),
    ]
    bf, rise, xmas = found.schedules
    assert bf.started_at == d(26) and bf.campaign_id == "bf-25"
    assert [(p.step, p.effective_at, p.outcome) for p in bf.steps] == [
        ("end", d(30), "price_changed")
    ]
    assert bf.steps[0].price is not None
    assert (bf.steps[0].price.amount, bf.steps[0].price.price_type) == (Decimal("55"), "regular")
    assert bf.omnibus is not None
    assert (bf.omnibus.reference_at, bf.omnibus.lowest_30_days, bf.omnibus.is_reduction) == (
        d(26),
        Decimal("50"),
        True,
    )
    [quiet] = rise.steps
    assert quiet.outcome == "regular_price_changed" and quiet.price is not None
    assert (quiet.price.amount, quiet.price.regular_amount) == (Decimal("40"), Decimal("55"))
    assert rise.omnibus is None
    assert [(p.step, p.effective_at) for p in xmas.steps] == [("start", d(50)), ("end", d(57))]
    # xmas at 45: the running sale at 40 lies in its 30 days: no reduction to announce
    assert xmas.omnibus is not None
    assert (xmas.omnibus.lowest_30_days, xmas.omnibus.is_reduction) == (Decimal("40"), False)

    mine = sq.schedules_of(reader, loaded, "Q-2", now=NOW)
    assert mine is not None and [s.schedule_id for s in mine.schedules] == ["bf"]
    everything = sq.schedules_of(reader, loaded, "Q-2", include_finished=True, now=NOW)
    assert everything is not None
    cancelled = next(s for s in everything.schedules if s.schedule_id == "bf-2")
    assert (cancelled.status, cancelled.reason, cancelled.steps, cancelled.omnibus) == (
        "cancelled",
        "moved to spring",
        [],
        None,
    )
    assert sq.schedules_of(reader, loaded, "NOPE", now=NOW) is None


def test_the_price_at_an_instant_past_or_planned(
    reader: psycopg.Connection[Any], loaded: str
) -> None:
    past = sq.price_at(reader, loaded, "Q-1", d(1), now=NOW)
    assert [(p.currency, p.amount, p.planned) for p in past] == [
        ("EUR", Decimal("50"), False),
        ("USD", Decimal("60"), False),
    ]
    during = sq.price_at(reader, loaded, "Q-1", d(29), now=NOW)
    assert [
        (p.currency, p.amount, p.price_type, p.valid_from, p.valid_to, p.planned) for p in during
    ] == [
        ("EUR", Decimal("40"), "sale", d(26), d(30), True),
        ("USD", Decimal("60"), "regular", d(0.1), None, True),
    ]
    after = sq.price_at(reader, loaded, "Q-1", d(31), "EUR", now=NOW)
    assert [(p.amount, p.price_type, p.valid_from, p.valid_to) for p in after] == [
        (Decimal("55"), "regular", d(30), d(50))
    ]
    assert sq.price_at(reader, loaded, "NOPE", d(31), now=NOW) == []


def test_campaigns(reader: psycopg.Connection[Any], loaded: str) -> None:
    bf = sq.campaign(reader, loaded, "bf-25")
    assert bf is not None
    assert (bf.total, bf.skus, bf.starts_at, bf.ends_at, bf.truncated) == (
        3,
        2,
        d(26),
        d(45),
        False,
    )
    assert (bf.counts.planned, bf.counts.running, bf.counts.cancelled) == (0, 2, 1)
    assert [(s.sku, s.schedule_id, s.status) for s in bf.schedules] == [
        ("Q-1", "bf", "running"),
        ("Q-2", "bf", "running"),
        ("Q-2", "bf-2", "cancelled"),
    ]
    first = sq.campaign(reader, loaded, "bf-25", limit=2)
    assert first is not None and first.truncated and len(first.schedules) == 2
    assert sq.campaign(reader, loaded, "nope") is None

    listed = sq.campaigns(reader, loaded)
    assert [(c.campaign_id, c.total) for c in listed.campaigns] == [("bf-25", 3), ("xmas-25", 1)]
    assert listed.next_after is None
    page = sq.campaigns(reader, loaded, limit=1)
    assert [c.campaign_id for c in page.campaigns] == ["bf-25"] and page.next_after == "bf-25"
    rest = sq.campaigns(reader, loaded, after="bf-25", limit=1)
    assert [c.campaign_id for c in rest.campaigns] == ["xmas-25"] and rest.next_after is None


def test_the_routes(settings: Settings, loaded: str) -> None:
    mine = settings.model_copy(update={"pricing_schema": loaded})
    with TestClient(create_app(mine)) as api:
        schedules = api.get("/prices/Q-1/schedules")
        assert schedules.status_code == 200, schedules.text
        body = schedules.json()
        assert [s["schedule_id"] for s in body["schedules"]] == ["bf", "rise", "xmas"]
        assert body["schedules"][2]["omnibus"]["lowest_30_days"] == "40"
        finished = api.get("/prices/Q-2/schedules", params={"include_finished": "true"}).json()
        assert {s["status"] for s in finished["schedules"]} == {"running", "cancelled"}
        assert api.get("/prices/NOPE/schedules").status_code == 404

        planned = api.get("/prices/Q-1/as-of", params={"at": d(29).isoformat()}).json()
        assert [(p["currency"], p["amount"], p["planned"]) for p in planned] == [
            ("EUR", "40", True),
            ("USD", "60", True),
        ]
        charged = api.get("/prices/Q-1/as-of", params={"at": d(1).isoformat(), "currency": "EUR"})
        assert [(p["amount"], p["planned"]) for p in charged.json()] == [("50", False)]

        listed = api.get("/campaigns").json()
        assert [c["campaign_id"] for c in listed["campaigns"]] == ["bf-25", "xmas-25"]
        bf = api.get("/campaigns/bf-25").json()
        assert bf["counts"]["running"] == 2 and len(bf["schedules"]) == 3
        missing = api.get("/campaigns/no-such")
        assert missing.status_code == 404 and missing.json() == {"detail": "no campaign no-such"}
        assert api.get("/campaigns/a%2Fb").status_code == 404  # a "/" in an id is an id
        bad = api.get("/campaigns/-bad")
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "path.campaign_id"
        assert api.get("/campaigns", params={"limit": 0}).status_code == 422
