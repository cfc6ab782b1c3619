"""The pure planner and scheduled prices: every new event's rows, their folding within
a batch, and the same tables whatever the batches, the redeliveries and the order
of the merges (events made by the real decider and the real firing)."""

from __future__ import annotations

import itertools
import random
from datetime import timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from read_models.pricing.fold import fold_rows
from read_models.pricing.ops import (
    CurrentPriceUpsert,
    RegularPriceSet,
    ScheduleRow,
    ScheduleUpdate,
)
from read_models.pricing.rows import plan
from read_models.projection import PositionedEvent
from schemas import timestamps
from tests.unit.read_models.pricing_memory import GROUPS, MemoryStore
from tests.unit.read_models.schedule_shop import Shop, black_friday, day

SKU = "KNIFE-1"


def utc(value: str) -> Any:
    return timestamps.parse(value)


def batch(shop: Shop, first: int, last: int | None = None) -> list[PositionedEvent]:
    """The events of versions first..last (all SKUs share none here: one product)."""
    return [
        p
        for p in shop.positioned()
        if p.event["version"] >= first and (last is None or p.event["version"] <= last)
    ]


def versions(shop: Shop, event_type: str) -> list[int]:
    return [e["version"] for e in shop.events if e["type"] == event_type]


def priced(shop: Shop | None = None) -> Shop:
    shop = shop or Shop()
    shop.register(SKU, day(0))
    shop.price(SKU, "49.90", day(0.5))
    return shop


# --------------------------------------------------------------------------- each event


def test_a_planned_schedule_is_a_whole_row() -> None:
    shop = priced()
    shop.sale(SKU, "bf", "39.90", day(26), day(30), day(1), campaign="bf-25")
    planned = plan(batch(shop, 3), {SKU: 2})
    assert planned.schedules == [
        ScheduleRow(
            SKU, "bf", "EUR", Decimal("39.90"), "sale", day(26), day(30), "bf-25",
            "planned", None, None, None, 3,
        )
    ]  # fmt: skip
    assert planned.schedule_updates == [] and planned.history_rows == []
    assert planned.current_prices == []


def test_planning_the_same_id_again_replaces_the_row() -> None:
    shop = priced()
    shop.sale(SKU, "bf", "39.90", day(26), day(30), day(1), campaign="bf-25")
    shop.sale(SKU, "bf", "37.90", day(25), day(29), day(2))
    planned = plan(batch(shop, 3), {SKU: 2})
    assert [(r.amount, r.starts_at, r.campaign_id, r.version) for r in planned.schedules] == [
        (Decimal("37.90"), day(25), None, 4)
    ]


def test_a_sale_that_starts_late_keeps_both_instants_and_runs() -> None:
    shop = priced()
    shop.sale(SKU, "bf", "39.90", day(26), day(30), day(1))
    late = day(26) + timedelta(hours=3)  # the processor was down
    shop.tick(late)
    planned = plan(batch(shop, 4), {SKU: 3})
    [row] = planned.history_rows
    assert (row.amount, row.price_type, row.valid_from) == (Decimal("39.90"), "sale", late)
    assert (row.planned_at, row.schedule_id) == (day(26), "bf")
    # A sale alone in the batch knows no regular price: the stored one is kept.
    assert planned.current_prices == [
        CurrentPriceUpsert(SKU, "EUR", Decimal("39.90"), "sale", late, 4, regular_amount=None)
    ]
    assert planned.schedule_updates == [ScheduleUpdate(SKU, "bf", 4, "running", started_at=late)]


def test_a_regular_price_change_carries_the_regular_amount() -> None:
    planned = plan(batch(priced(), 1), {})
    assert [(c.amount, c.regular_amount) for c in planned.current_prices] == [
        (Decimal("49.90"), Decimal("49.90"))
    ]
    assert [(h.planned_at, h.schedule_id) for h in planned.history_rows] == [(None, None)]


def test_a_regular_price_while_a_sale_runs_changes_only_the_regular_amount() -> None:
    shop = priced()
    shop.sale(SKU, "bf", "39.90", day(26), day(30), day(1))
    shop.tick(day(26))
    shop.price(SKU, "54.90", day(27))  # decided as RegularPriceChanged
    assert versions(shop, "RegularPriceChanged") == [5]

    alone = plan(batch(shop, 5), {SKU: 4})
    assert alone.regular_prices == [RegularPriceSet(SKU, "EUR", Decimal("54.90"), 5)]
    assert alone.current_prices == [] and alone.history_rows == []

    # With the sale's start in the same batch, the current price carries it.
    together = plan(batch(shop, 4), {SKU: 3})
    assert together.regular_prices == []
    assert together.current_prices == [
        CurrentPriceUpsert(SKU, "EUR", Decimal("39.90"), "sale", day(26), 5, Decimal("54.90"))
    ]
    # ... and the sale ends with it.
    shop.tick(day(30))
    ended = plan(batch(shop, 6), {SKU: 5})
    assert [(c.amount, c.price_type, c.regular_amount) for c in ended.current_prices] == [
        (Decimal("54.90"), "regular", Decimal("54.90"))
    ]
    assert ended.schedule_updates == [ScheduleUpdate(SKU, "bf", 6, "done", ended_at=day(30))]


def test_a_scheduled_regular_price_is_done_when_it_starts() -> None:
    shop = priced()
    shop.regular(SKU, "rise", "54.90", day(10), day(1))
    shop.regular(SKU, "same", "54.90", day(11), day(1))  # the price already: stated only
    shop.tick(day(12))
    planned = plan(batch(shop, 5), {SKU: 4})
    assert planned.schedule_updates == [
        ScheduleUpdate(SKU, "rise", 5, "done", started_at=day(12)),
        ScheduleUpdate(SKU, "same", 6, "done", started_at=day(12)),
    ]
    assert [(h.amount, h.schedule_id, h.planned_at) for h in planned.history_rows] == [
        (Decimal("54.90"), "rise", day(10))
    ]
    assert [(c.version, c.regular_amount) for c in planned.current_prices] == [
        (6, Decimal("54.90"))
    ]


def test_cancelled_missed_and_discontinued() -> None:
    shop = priced()
    shop.sale(SKU, "xmas", "44.90", day(50), day(57), day(1))
    shop.sale(SKU, "feb", "45.00", day(60), day(62), day(1))
    shop.sale(SKU, "mar", "40.00", day(90), day(95), day(1))
    shop.cancel(SKU, "xmas", day(2), "stock too low")
    shop.tick(day(70))  # feb's whole window passed: missed
    shop.discontinue(SKU, day(71))
    planned = plan(batch(shop, 6), {SKU: 5})
    assert planned.schedule_updates == [
        ScheduleUpdate(SKU, "xmas", 6, "cancelled", ended_at=day(2), reason="stock too low"),
        ScheduleUpdate(SKU, "feb", 7, "missed", ended_at=day(70), reason="missed"),
        ScheduleUpdate(SKU, "mar", 8, "cancelled", ended_at=day(71), reason="discontinued"),
    ]


def test_a_running_sale_cancelled_ends_with_the_regular_price() -> None:
    shop = priced()
    shop.sale(SKU, "jan", "40.00", day(10), day(20), day(1))
    shop.tick(day(10))
    shop.cancel(SKU, "jan", day(12))
    planned = plan(batch(shop, 5), {SKU: 4})
    assert planned.schedule_updates == [
        ScheduleUpdate(SKU, "jan", 5, "cancelled", ended_at=day(12), reason="cancelled")
    ]
    [back] = planned.history_rows
    assert (back.amount, back.price_type, back.schedule_id) == (Decimal("49.90"), "regular", None)


# --------------------------------------------------------------------------- one batch


def test_the_updates_of_a_schedule_fold_into_one() -> None:
    shop = priced()
    shop.sale(SKU, "bf", "39.90", day(26), day(30), day(1))
    shop.tick(day(26))
    shop.tick(day(30))
    planned = plan(batch(shop, 4), {SKU: 3})
    assert planned.schedule_updates == [
        ScheduleUpdate(SKU, "bf", 5, "done", started_at=day(26), ended_at=day(30))
    ]


def test_updates_apply_to_a_row_planned_in_the_same_batch() -> None:
    shop = priced()
    shop.sale(SKU, "bf", "39.90", day(26), day(30), day(1), campaign="bf-25")
    shop.tick(day(26))
    shop.tick(day(30))
    planned = plan(batch(shop, 1), {})
    assert planned.schedule_updates == []
    assert [(r.status, r.started_at, r.ended_at, r.version) for r in planned.schedules] == [
        ("done", day(26), day(30), 5)
    ]


def test_a_replaced_schedule_forgets_the_updates_of_the_one_it_replaced() -> None:
    shop = priced()
    shop.sale(SKU, "xmas", "44.90", day(50), day(57), day(1))
    shop.cancel(SKU, "xmas", day(2))
    shop.sale(SKU, "xmas", "42.90", day(50), day(57), day(3))  # the id is free again
    planned = plan(batch(shop, 4), {SKU: 3})
    assert planned.schedule_updates == []
    assert [(r.status, r.amount, r.ended_at, r.version) for r in planned.schedules] == [
        ("planned", Decimal("42.90"), None, 5)
    ]


def test_a_schedule_step_must_be_complete() -> None:
    shop = priced()
    shop.sale(SKU, "bf", "39.90", day(26), day(30), day(1))
    shop.tick(day(26))
    broken = dict(shop.events[-1], data=dict(shop.events[-1]["data"]))
    del broken["data"]["planned_at"]
    planned = plan([PositionedEvent(broken, 0, 0)], {SKU: 3})
    assert [reason for _, reason in planned.invalid] == ["version 4: planned_at is not a string"]


# --------------------------------------------------------------------------- any batches


def applied_in(
    events: list[PositionedEvent], cuts: list[int], seed: int, redeliver: bool
) -> MemoryStore:
    store = MemoryStore()
    rng = random.Random(seed)
    bounds = sorted({c % (len(events) + 1) for c in cuts} | {0, len(events)})
    for a, b in itertools.pairwise(bounds):
        order = list(GROUPS)
        rng.shuffle(order)
        store.apply(events[a:b], order)
        if redeliver:
            again = store.apply(events[a:b], order)
            assert again.applied == 0
    return store


def test_every_split_of_a_year_of_schedules_gives_the_fold() -> None:
    events = black_friday().positioned()
    expected = fold_rows(events)
    for cuts in itertools.combinations(range(1, len(events)), 2):
        store = applied_in(events, list(cuts), seed=sum(cuts), redeliver=cuts[0] % 3 == 0)
        assert store.rows() == expected, cuts


def test_the_fold_of_a_year_of_schedules() -> None:
    [rows] = fold_rows(black_friday().positioned()).values()
    assert rows.status == "discontinued" and rows.current == {}
    statuses = {sid: row[6] for sid, row in rows.schedules.items()}
    assert statuses == {
        "bf": "done",
        "bf-usd": "done",
        "rise": "done",
        "xmas": "cancelled",
        "jan": "cancelled",
        "feb": "missed",
        "a": "done",
        "b": "done",
        "c": "cancelled",
        "later": "cancelled",
    }
    assert rows.schedules["bf"][1] == Decimal("37.90")  # the replacement
    assert rows.schedules["xmas"][9] == "stock too low"
    # a and b back to back: a's end and b's start at one instant, end first
    history = {(h[8], h[3]): h for h in rows.history if h[8] in ("a", "b")}
    assert history[("a", "regular")][4] == history[("b", "sale")][4] == day(140)
    assert history[("a", "regular")][0] < history[("b", "sale")][0]


@st.composite
def years(draw: st.DrawFn) -> Shop:
    """Two products, random commands and ticks over a year, decided for real."""
    shop = Shop()
    for sku in ("P-1", "P-2"):
        shop.register(sku, day(0))
        shop.price(sku, "50.00", day(0))
        shop.price(sku, "60.00", day(0), currency="USD")
    now = 0.0
    for _ in range(draw(st.integers(1, 25))):
        now += draw(st.sampled_from([0.0, 0.5, 1.0, 3.0, 10.0]))
        sku = draw(st.sampled_from(["P-1", "P-2"]))
        currency = draw(st.sampled_from(["EUR", "USD"]))
        name = draw(st.sampled_from(["s1", "s2", "r1"]))
        cents = draw(st.integers(100, 9000))
        amount = f"{cents // 100}.{cents % 100:02d}"
        start = now + draw(st.sampled_from([0.0, 1.0, 2.0, 5.0]))
        action = draw(
            st.sampled_from(["sale", "regular", "cancel", "price", "during", "tick", "tick"])
        )
        running = [s["currency"] for s in shop.state(sku).schedules.values() if s["active"]]
        if action == "during" and running:  # a regular price while a sale runs
            data = {"amount": amount, "currency": running[0], "price_type": "regular"}
            shop.send("ChangePrice", sku, data, day(now))
            shop.regular(sku, "r2", amount, day(now + 0.5), day(now), running[0])
        elif action == "sale":
            length = draw(st.sampled_from([1.0, 3.0, 8.0]))
            shop.sale(sku, name, amount, day(start), day(start + length), day(now), currency)
        elif action == "regular":
            shop.regular(sku, name, amount, day(start), day(now), currency)
        elif action == "cancel":
            shop.cancel(sku, name, day(now))
        elif action == "price":
            price_type = draw(st.sampled_from(["regular", "sale"]))
            data = {"amount": amount, "currency": currency, "price_type": price_type}
            shop.send("ChangePrice", sku, data, day(now))
        else:
            shop.tick(day(now))
    if draw(st.booleans()):
        shop.discontinue("P-2", day(now + 1))
    late = draw(st.sampled_from([1.0, 30.0]))  # a processor on time, or one that was down
    for later in range(0, 30, int(late)):
        shop.tick(day(now + 1 + later))
    return shop


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shop=years(),
    cuts=st.lists(st.integers(0, 200), max_size=6),
    seed=st.integers(0, 1000),
    redeliver=st.booleans(),
)
def test_random_schedules_give_the_same_tables_whatever_the_batches(
    shop: Shop, cuts: list[int], seed: int, redeliver: bool
) -> None:
    events = shop.positioned()
    planned = plan(events, {})
    assert planned.invalid == [] and planned.gaps == []
    assert applied_in(events, cuts, seed, redeliver).rows() == fold_rows(events)
