"""The planned timeline of a SKU's schedules: the processor's firing rules played
forward, future prices, and the Omnibus reference of planned sales."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from read_models.pricing import planned
from read_models.pricing.fold import SkuRows, fold_rows
from read_models.pricing.planned import CurrencyNow, Pending, Price, price_at, references, timeline
from schemas import timestamps
from streams.catalog import ProductState, evolve, evolve_all
from tests.unit.read_models.schedule_shop import Shop, day

D = Decimal
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def at(days: float) -> datetime:
    return NOW + timedelta(days=days)


def eur(amount: str, price_type: str = "regular", regular: str | None = "50", since: float = -40):
    return CurrencyNow(
        "EUR", D(amount), price_type, None if regular is None else D(regular), at(since)
    )


def sale(sid: str, amount: str, start: float, end: float, **kw: Any) -> Pending:
    return Pending(sid, kw.pop("currency", "EUR"), D(amount), "sale", at(start), at(end), **kw)


def regular(sid: str, amount: str, start: float, currency: str = "EUR") -> Pending:
    return Pending(sid, currency, D(amount), "regular", at(start), None)


def summary(steps: list[planned.Step]) -> list[tuple[Any, ...]]:
    return [
        (
            s.schedule_id,
            s.step,
            s.effective_at,
            s.outcome,
            None if s.price is None else (s.price.amount, s.price.price_type),
            s.regular_amount,
        )
        for s in steps
    ]


# --------------------------------------------------------------------------- timeline


def test_a_sale_starts_then_returns_to_the_regular_price() -> None:
    steps = timeline([eur("50")], [sale("bf", "40", 2, 5)], NOW)
    assert summary(steps) == [
        ("bf", "start", at(2), "price_changed", (D(40), "sale"), D(50)),
        ("bf", "end", at(5), "price_changed", (D(50), "regular"), D(50)),
    ]


def test_a_regular_change_during_a_sale_changes_only_what_it_returns_to() -> None:
    steps = timeline([eur("50")], [sale("bf", "40", 2, 5), regular("rise", "55", 3)], NOW)
    assert summary(steps) == [
        ("bf", "start", at(2), "price_changed", (D(40), "sale"), D(50)),
        ("rise", "start", at(3), "regular_price_changed", (D(40), "sale"), D(55)),
        ("bf", "end", at(5), "price_changed", (D(55), "regular"), D(55)),
    ]


def test_a_regular_change_equal_to_the_price_is_stated_only() -> None:
    steps = timeline([eur("50")], [regular("same", "50", 1), regular("up", "52", 2)], NOW)
    assert [(s.schedule_id, s.outcome) for s in steps] == [
        ("same", "regular_price_changed"),
        ("up", "price_changed"),
    ]


def test_a_running_sale_ends_and_one_without_a_regular_price_is_cancelled() -> None:
    running = sale("bf", "40", -1, 2, running=True, started_at=at(-1))
    steps = timeline([eur("40", "sale")], [running], NOW)
    assert summary(steps) == [("bf", "end", at(2), "price_changed", (D(50), "regular"), D(50))]
    orphan = timeline([eur("40", "sale", regular=None)], [running], NOW)
    assert summary(orphan) == [("bf", "end", at(2), "cancelled", (D(40), "sale"), None)]


def test_back_to_back_sales_end_before_the_next_starts() -> None:
    steps = timeline([eur("50")], [sale("b", "42", 5, 9), sale("a", "40", 1, 5)], NOW)
    assert [(s.schedule_id, s.step, s.effective_at) for s in steps] == [
        ("a", "start", at(1)),
        ("a", "end", at(5)),  # the end first at one instant, whatever the ids
        ("b", "start", at(5)),
        ("b", "end", at(9)),
    ]


def test_steps_whose_instant_passed_take_effect_now_and_a_passed_window_is_missed() -> None:
    steps = timeline(
        [eur("50")],
        [sale("gone", "30", -9, -2), sale("late", "40", -1, 3), regular("up", "55", -3)],
        NOW,
    )
    assert summary(steps) == [
        ("gone", "start", NOW, "missed", (D(50), "regular"), D(50)),
        ("up", "start", NOW, "price_changed", (D(55), "regular"), D(55)),
        ("late", "start", NOW, "price_changed", (D(40), "sale"), D(55)),
        ("late", "end", at(3), "price_changed", (D(55), "regular"), D(55)),
    ]
    assert [s.planned_at for s in steps[:3]] == [at(-9), at(-3), at(-1)]


def test_instants_are_ordered_as_instants_not_as_local_times() -> None:
    # The night the clocks go back in Berlin: 02:15+01:00 comes after 02:30+02:00.
    first = timestamps.parse("2025-10-26T02:30:00+02:00")
    second = timestamps.parse("2025-10-26T02:15:00+01:00")
    now = datetime(2025, 10, 1, tzinfo=UTC)
    prices = [CurrencyNow("EUR", D(50), "regular", D(50), now)]
    steps = timeline(
        prices,
        [
            Pending("late-local", "EUR", D(45), "regular", second, None),
            Pending("early-local", "EUR", D(47), "regular", first, None),
        ],
        now,
    )
    assert [(s.schedule_id, s.effective_at) for s in steps] == [
        ("early-local", first),
        ("late-local", second),
    ]
    assert second - first == timedelta(minutes=45)


def test_currencies_are_their_own_price_lists() -> None:
    usd = CurrencyNow("USD", D(60), "regular", D(60), at(-40))
    steps = timeline(
        [eur("50"), usd], [sale("u", "45", 1, 3, currency="USD"), regular("e", "52", 2)], NOW
    )
    assert [(s.currency, s.price) for s in steps] == [
        ("USD", Price(D(45), "sale")),
        ("EUR", Price(D(52), "regular")),
        ("USD", Price(D(60), "regular")),
    ]


# --------------------------------------------------------------------------- prices


def test_the_price_at_a_future_instant() -> None:
    prices = [eur("50")]
    steps = timeline(prices, [sale("bf", "40", 2, 5), regular("rise", "55", 3)], NOW)
    now = price_at(prices, steps, "EUR", at(1))
    assert now is not None
    assert (now.amount, now.valid_from, now.valid_to, now.schedule_id) == (
        D(50),
        at(-40),
        at(2),
        None,
    )
    during = price_at(prices, steps, "EUR", at(4))  # the rise is quiet: still the sale
    assert during is not None
    assert (during.amount, during.price_type, during.valid_from, during.valid_to) == (
        D(40),
        "sale",
        at(2),
        at(5),
    )
    at_end = price_at(prices, steps, "EUR", at(5))  # an instant of change: the new price
    assert at_end is not None
    assert (at_end.amount, at_end.valid_to, at_end.schedule_id) == (D(55), None, "bf")
    assert price_at(prices, steps, "USD", at(4)) is None


def test_a_currency_priced_only_by_a_schedule() -> None:
    steps = timeline([], [regular("gbp", "40", 3, currency="GBP")], NOW)
    assert price_at([], steps, "GBP", at(2)) is None
    point = price_at([], steps, "GBP", at(3))
    assert point is not None and (point.amount, point.valid_from) == (D(40), at(3))


# --------------------------------------------------------------------------- Omnibus


def interval(amount: str, start: float, end: float | None, version: int) -> planned.Interval:
    return planned.Interval(
        "EUR", D(amount), "regular", at(start), None if end is None else at(end), version
    )


def test_a_planned_sale_counts_the_history_and_the_planned_prices_before_it() -> None:
    history = [interval("45", -60, -20, 2), interval("50", -20, None, 3)]
    schedules = [sale("early", "44", 1, 4), sale("main", "43", 10, 20)]
    steps = timeline([eur("50", since=-20)], schedules, NOW)
    refs = references(history, schedules, steps)
    # early: the window [1 - 30, 1) still holds 45 (until day -20)
    assert (refs["early"].lowest, refs["early"].is_reduction) == (D(45), True)
    # main: its window [-20, 10) holds 50 (45 ended at -20, its start) and the planned
    # sale at 44, then 50 again: 43 is below them all
    assert refs["main"].at == at(10) and refs["main"].window_start == at(-20)
    assert (refs["main"].lowest, refs["main"].is_reduction) == (D(44), True)


def test_back_to_back_sales_cannot_announce_a_staircase() -> None:
    history = [interval("50", -60, None, 2)]
    schedules = [sale("a", "40", 1, 5), sale("b", "42", 5, 9)]
    steps = timeline([eur("50", since=-60)], schedules, NOW)
    refs = references(history, schedules, steps)
    assert (refs["a"].lowest, refs["a"].is_reduction) == (D(50), True)
    # b starts when a ends: the regular price in between lasts no time and does not count
    assert (refs["b"].lowest, refs["b"].is_reduction) == (D(40), False)


def test_the_window_is_720_hours_whatever_the_clocks_do() -> None:
    # A sale starting just after the clocks went forward in Berlin (2026-03-29).
    start = timestamps.parse("2026-03-29T03:30:00+02:00")
    now = datetime(2026, 3, 20, tzinfo=UTC)
    boundary = start - timedelta(hours=720)
    history = [
        planned.Interval("EUR", D(30), "sale", boundary - timedelta(days=2), boundary, 2),
        planned.Interval("EUR", D(50), "regular", boundary, None, 3),
    ]
    schedules = [Pending("s", "EUR", D(45), "sale", start, start + timedelta(days=3))]
    prices = [CurrencyNow("EUR", D(50), "regular", D(50), boundary)]
    refs = references(history, schedules, timeline(prices, schedules, now))
    assert refs["s"].window_start == boundary
    assert (refs["s"].lowest, refs["s"].is_reduction) == (D(50), True)  # 30 ended at it
    history[0] = planned.Interval(
        "EUR", D(30), "sale", boundary - timedelta(days=2), boundary + timedelta(microseconds=1), 2
    )
    refs = references(history, schedules, timeline(prices, schedules, now))
    assert (refs["s"].lowest, refs["s"].is_reduction) == (D(30), False)


def test_a_running_sale_is_referenced_at_its_start_and_a_missed_one_not_at_all() -> None:
    history = [interval("55", -60, -2, 2), interval("40", -2, None, 3)]
    schedules = [
        sale("now", "40", -2, 3, running=True, started_at=at(-2)),
        sale("gone", "30", -9, -3),
    ]
    steps = timeline([eur("40", "sale", since=-2)], schedules, NOW)
    refs = references(history, schedules, steps)
    assert set(refs) == {"now"}
    assert (refs["now"].at, refs["now"].lowest, refs["now"].is_reduction) == (at(-2), D(55), True)


# --------------------------------------------------------------------------- the mirror


def inputs(rows: SkuRows) -> tuple[list[CurrencyNow], list[Pending]]:
    """What the read model holds, as planned.py takes it (what the queries build)."""
    prices = [
        CurrencyNow(currency, amount, price_type, regular_amount, valid_from)
        for currency, (amount, price_type, valid_from, _, regular_amount) in rows.current.items()
    ]
    pending = [
        Pending(sid, cur, amount, kind, starts, ends, status == "running", started)
        for sid, (cur, amount, kind, starts, ends, _, status, started, *_) in rows.schedules.items()
        if status in ("planned", "running")
    ]
    return prices, pending


OUTCOMES = {
    "PriceChanged": "price_changed",
    "RegularPriceChanged": "regular_price_changed",
}


@st.composite
def plans(draw: st.DrawFn) -> tuple[Shop, datetime]:
    """A product with schedules planned (some started) by the real decider, and a `now`
    the processor has not ticked at yet (so some steps may be overdue)."""
    shop = Shop()
    sku = "P-1"
    shop.register(sku, day(0))
    shop.price(sku, "50.00", day(0))
    shop.price(sku, "60.00", day(0), currency="USD")
    now = 0.0
    for _ in range(draw(st.integers(1, 12))):
        now += draw(st.sampled_from([0.0, 0.5, 2.0]))
        currency = draw(st.sampled_from(["EUR", "USD"]))
        name = draw(st.sampled_from(["s1", "s2", "s3", "r1", "r2"]))
        amount = f"{draw(st.integers(10, 90))}.00"
        start = now + draw(st.sampled_from([0.0, 1.0, 2.0, 4.0]))
        action = draw(st.sampled_from(["sale", "sale", "regular", "cancel", "price", "tick"]))
        if action == "sale":
            length = draw(st.sampled_from([1.0, 2.0, 5.0]))
            shop.sale(sku, name, amount, day(start), day(start + length), day(now), currency)
        elif action == "regular":
            shop.regular(sku, name, amount, day(start), day(now), currency)
        elif action == "cancel":
            shop.cancel(sku, name, day(now))
        elif action == "price":
            kind = draw(st.sampled_from(["regular", "sale"]))
            data = {"amount": amount, "currency": currency, "price_type": kind}
            shop.send("ChangePrice", sku, data, day(now))
        else:
            shop.tick(day(now))
    return shop, day(now + draw(st.sampled_from([0.0, 0.5, 1.5, 3.0, 8.0])))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans())
def test_the_timeline_is_what_the_processor_does(case: tuple[Shop, datetime]) -> None:
    shop, now = case
    [rows] = fold_rows(shop.positioned()).values()
    prices, pending = inputs(rows)
    steps = timeline(prices, pending, now)

    fired: list[dict[str, Any]] = []
    for instant in [now, *sorted({s.effective_at for s in steps if s.effective_at > now})]:
        fired.extend(shop.tick(instant))
    assert len(fired) == len(steps)
    for step, event in zip(steps, fired, strict=True):
        data = event["data"]
        outcome = OUTCOMES.get(event["type"]) or data["reason"]
        if outcome == "cancelled":
            assert data.get("note") == "no regular price to return to"
        expected = (step.schedule_id, step.effective_at, step.outcome)
        assert (data["schedule_id"], timestamps.parse(event["occurred_at"]), outcome) == expected
        if "schedule_step" in data:
            assert data["schedule_step"] == step.step
            assert timestamps.parse(data["planned_at"]) == step.planned_at
    # the prices after each step: the state replayed event by event
    state = evolve_all(ProductState.empty("P-1"), shop.events[: len(shop.events) - len(fired)])
    for step, event in zip(steps, fired, strict=True):
        state = evolve(state, event)
        price = state.prices.get(step.currency)
        assert step.price == (
            None if price is None else Price(D(price["amount"]), price["price_type"])
        )
        regular_now = state.regular.get(step.currency)
        assert step.regular_amount == (None if regular_now is None else D(regular_now))
