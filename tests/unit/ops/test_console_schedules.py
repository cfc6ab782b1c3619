"""The console's scheduled prices, pure parts: the schedule form's checks (wall-clock
times in a zone, the daylight-saving nights refused), the upcoming changes' rows, a
campaign's progress bar, and the chart's planned part."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from ops.console import price_chart, price_panel
from ops.console import schedule_view as sv
from read_models.pricing.models import CurrentPrice, PriceInterval, ProductPrices
from read_models.pricing.schedule_models import (
    PlannedStep,
    ProductSchedules,
    SaleReference,
    ScheduleCounts,
    UpcomingChange,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def form(**fields: str) -> sv.ScheduleForm:
    base = {"currency": "EUR", "amount": "19.99", "starts": "2026-11-27T00:00", "tz": "UTC"}
    return sv.ScheduleForm(**(base | fields))


def sale(**fields: str) -> sv.ScheduleForm:
    return form(**({"price_type": "sale", "ends": "2026-11-30T23:59:59"} | fields))


# --- the form's checks ------------------------------------------------------------------
def test_a_regular_change_is_accepted_at_the_instant_typed() -> None:
    plan, errors = sv.check(form())
    assert errors == {} and plan is not None
    assert plan.starts_at == datetime(2026, 11, 27, tzinfo=UTC)
    assert plan.ends_at is None and plan.campaign_id is None
    assert (plan.currency, plan.amount) == ("EUR", "19.99")
    assert plan.schedule_id == "price-EUR-20261127T000000Z"


def test_a_regular_change_ignores_an_end_left_in_the_hidden_field() -> None:
    plan, errors = sv.check(form(ends="2026-11-20T00:00"))  # before its start: no matter
    assert errors == {} and plan is not None and plan.ends_at is None


def test_a_sale_is_accepted_with_its_end_and_campaign() -> None:
    plan, errors = sv.check(sale(campaign_id="black-friday/2026", schedule_id="bf-1"))
    assert errors == {} and plan is not None
    assert plan.ends_at == datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC)
    assert plan.campaign_id == "black-friday/2026" and plan.schedule_id == "bf-1"


@pytest.mark.parametrize(
    ("typed", "utc"),
    [
        ("2026-11-27T00:00", datetime(2026, 11, 26, 23, 0, tzinfo=UTC)),  # CET, +01:00
        ("2027-07-01T12:00:30", datetime(2027, 7, 1, 10, 0, 30, tzinfo=UTC)),  # CEST, +02:00
        ("2027-03-28T03:00", datetime(2027, 3, 28, 1, 0, tzinfo=UTC)),  # just after the jump
        ("2027-03-28 01:59", datetime(2027, 3, 28, 0, 59, tzinfo=UTC)),  # just before it
    ],
)
def test_a_berlin_wall_clock_time_names_its_utc_instant(typed: str, utc: datetime) -> None:
    plan, errors = sv.check(form(starts=typed, tz="Europe/Berlin"))
    assert errors == {} and plan is not None
    assert plan.starts_at == utc and plan.starts_at.utcoffset() == timedelta(0)


def test_an_offset_typed_with_the_time_wins_over_the_zone() -> None:
    plan, _ = sv.check(form(starts="2026-11-27T00:00:00+05:00", tz="Europe/Berlin"))
    assert plan is not None and plan.starts_at == datetime(2026, 11, 26, 19, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("field", "typed", "says"),
    [
        ("starts", "2027-03-28T02:30", "does not exist in Europe/Berlin"),  # skipped
        ("starts", "2027-10-31T02:30", "happens twice in Europe/Berlin"),  # repeated
        ("ends", "2027-03-28T02:30:00", "does not exist"),
        ("ends", "2027-10-31T02:30", "happens twice"),
    ],
)
def test_a_time_the_clocks_skip_or_repeat_is_refused_on_its_field(
    field: str, typed: str, says: str
) -> None:
    fields = {"starts": "2027-03-01T00:00", "ends": "2027-12-01T00:00"} | {field: typed}
    plan, errors = sv.check(sale(tz="Europe/Berlin", **fields))
    assert plan is None
    assert list(errors) == [field] and says in errors[field]


def test_the_repeated_time_message_offers_both_offsets() -> None:
    _, errors = sv.check(form(starts="2027-10-31T02:30", tz="Europe/Berlin"))
    assert "+02:00" in errors["starts"] and "+01:00" in errors["starts"]
    # the same wall-clock time is one instant in UTC
    assert sv.check(form(starts="2027-10-31T02:30", tz="UTC"))[1] == {}


@pytest.mark.parametrize("tz", ["Europe/Atlantis", "../etc/passwd", "Not A Zone"])
def test_an_unknown_zone_is_refused_on_the_zone_field(tz: str) -> None:
    plan, errors = sv.check(form(tz=tz))
    assert plan is None and "tz" in errors and "unknown time zone" in errors["tz"]
    assert "starts" not in errors  # no time is read in a zone that does not exist


def test_a_sale_needs_an_end_after_its_start() -> None:
    plan, errors = sv.check(form(price_type="sale"))
    assert plan is None and errors == {"ends": "a sale needs an end: a date and time"}
    for ends in ("2026-11-27T00:00", "2026-11-26T23:59:59"):
        plan, errors = sv.check(form(price_type="sale", ends=ends))
        assert plan is None and errors == {"ends": "the sale must end after it starts"}


def test_a_missing_or_unreadable_start_is_refused() -> None:
    assert set(sv.check(form(starts=""))[1]) == {"starts"}
    assert "is not a time" in sv.check(form(starts="next friday"))[1]["starts"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"amount": ""}, "amount"),
        ({"amount": "1e3"}, "amount"),
        ({"amount": "-5"}, "amount"),
        ({"amount": "19.99999"}, "amount"),  # five decimals
        ({"amount": "1234567890123"}, "amount"),  # thirteen digits
        ({"amount": "0.00"}, "amount"),
        ({"amount": "019.99"}, "amount"),  # the contract allows no leading zero
        ({"currency": "EURO"}, "currency"),
        ({"currency": "eu"}, "currency"),
        ({"price_type": "clearance"}, "price_type"),
        ({"schedule_id": "-starts-with-a-dash"}, "schedule_id"),
        ({"schedule_id": "has space"}, "schedule_id"),
        ({"schedule_id": "x" * 129}, "schedule_id"),
        ({"campaign_id": "summer?sale"}, "campaign_id"),
        ({"campaign_id": "/summer"}, "campaign_id"),
    ],
)
def test_what_the_contract_refuses_is_refused_on_its_field(
    fields: dict[str, str], field: str
) -> None:
    plan, errors = sv.check(form(**fields))
    assert plan is None and list(errors) == [field]


@pytest.mark.parametrize("amount", ["0.5", "10", "999999999999.9999", "0.0001"])
def test_amounts_the_contract_takes_are_taken(amount: str) -> None:
    plan, errors = sv.check(form(amount=amount))
    assert errors == {} and plan is not None and plan.amount == amount


def test_every_wrong_field_is_named_at_once() -> None:
    _, errors = sv.check(
        sv.ScheduleForm(currency="x", amount="", price_type="sale", schedule_id="?")
    )
    assert set(errors) == {"currency", "amount", "starts", "ends", "schedule_id"}


def test_the_form_reads_what_was_typed_trimmed_with_defaults() -> None:
    typed = sv.ScheduleForm.from_fields(
        {"currency": [" gbp "], "amount": ["5 "], "starts": ["2026-11-27T00:00"], "tz": [""]}
    )
    assert typed == sv.ScheduleForm(currency="GBP", amount="5", starts="2026-11-27T00:00")
    assert typed.tz == "UTC" and typed.price_type == "regular" and not typed.sale
    assert sv.ScheduleForm.from_fields({"price_type": ["sale"]}).sale


# --- the default schedule id -------------------------------------------------------------
def test_the_default_id_is_the_campaign_else_kind_currency_and_start() -> None:
    at = datetime(2026, 11, 27, 8, 30, 5, tzinfo=UTC)
    assert sv.default_id(form(), at) == "price-EUR-20261127T083005Z"
    assert sv.default_id(sale(currency="USD"), at) == "sale-USD-20261127T083005Z"
    assert sv.default_id(sale(campaign_id="bf/2026"), at) == "bf/2026"
    # two currencies at one instant never replace each other
    assert sv.default_id(form(currency="USD"), at) != sv.default_id(form(), at)
    assert sv.ID.match(sv.default_id(sale(), at))


# --- the upcoming changes' rows ------------------------------------------------------------
def step(
    kind: str,
    at: datetime,
    amount: str | None,
    price_type: str = "regular",
    *,
    effective_at: datetime | None = None,
    outcome: str = "price_changed",
) -> PlannedStep:
    price = None if amount is None else {"amount": amount, "price_type": price_type}
    return PlannedStep.model_validate(
        {
            "step": kind,
            "planned_at": at,
            "effective_at": effective_at or at,
            "outcome": outcome,
            "price": price and price | {"regular_amount": None},
        }
    )


def change(
    schedule_id: str,
    status: str,
    starts: datetime,
    ends: datetime | None = None,
    *,
    amount: str = "9.90",
    currency: str = "EUR",
    steps: list[PlannedStep] | None = None,
    omnibus: SaleReference | None = None,
    campaign_id: str | None = None,
) -> UpcomingChange:
    return UpcomingChange(
        sku="S-1",
        schedule_id=schedule_id,
        currency=currency,
        amount=Decimal(amount),
        price_type="sale" if ends else "regular",
        starts_at=starts,
        ends_at=ends,
        campaign_id=campaign_id,
        status=status,  # type: ignore[arg-type]
        started_at=None,
        ended_at=None,
        reason=None,
        steps=steps or [],
        omnibus=omnibus,
    )


def schedules(*changes: UpcomingChange, now: datetime = T0) -> ProductSchedules:
    return ProductSchedules(sku="S-1", now=now, schedules=list(changes))


def test_only_planned_and_running_schedules_are_rows_with_their_omnibus_reference() -> None:
    day = timedelta(days=1)
    reference = SaleReference(
        reference_at=T0 + day,
        window_start=T0 - 29 * day,
        amount=Decimal("7.5000"),
        lowest_30_days=Decimal("9.9000"),
        is_reduction=True,
    )
    found = schedules(
        change("old", "done", T0 - 9 * day),
        change("gone", "cancelled", T0 - day),
        change("late-sale", "missed", T0 - 2 * day, T0 - day),
        change("bf", "planned", T0 + day, T0 + 2 * day, amount="7.5000", omnibus=reference),
        change("now", "running", T0 - day, T0 + 3 * day, campaign_id="c/1"),
        change("rise", "planned", T0 + 5 * day, amount="12"),
    )
    rows = sv.schedule_rows(found)
    assert [(r.schedule_id, r.status) for r in rows] == [
        ("bf", "planned"),
        ("now", "running"),
        ("rise", "planned"),
    ]
    bf, running, rise = rows
    assert (bf.amount, bf.lowest_30_days, bf.is_reduction) == ("7.5", "9.9", True)
    assert (rise.amount, rise.lowest_30_days, rise.is_reduction) == ("12", None, None)
    assert running.campaign_id == "c/1" and rise.campaign_id is None
    assert (bf.cancel_label, running.cancel_label) == ("Cancel", "End sale now")
    assert sv.schedule_rows(None) == [] and sv.schedule_rows(schedules()) == []


def test_a_sale_with_no_earlier_price_has_no_lowest_price() -> None:
    reference = SaleReference(
        reference_at=T0,
        window_start=T0 - timedelta(days=30),
        amount=Decimal(5),
        lowest_30_days=None,
        is_reduction=False,
    )
    (row,) = sv.schedule_rows(
        schedules(change("s", "planned", T0, T0 + timedelta(days=1), omnibus=reference))
    )
    assert (row.lowest_30_days, row.is_reduction) == (None, False)


def test_a_schedule_whose_step_is_overdue_is_flagged_late() -> None:
    now = T0 + timedelta(minutes=5)
    on_time = change("a", "planned", now + timedelta(hours=1), steps=[step("start", now, "9.9")])
    behind = change(
        "b",
        "planned",
        T0,
        steps=[step("start", T0, "9.9", effective_at=now)],
    )
    rows = {r.schedule_id: r.late for r in sv.schedule_rows(schedules(on_time, behind, now=now))}
    assert rows == {"a": False, "b": True}


# --- a campaign's progress ---------------------------------------------------------------
def counts(**n: int) -> ScheduleCounts:
    return ScheduleCounts(
        **({"planned": 0, "running": 0, "done": 0, "cancelled": 0, "missed": 0} | n)
    )


@pytest.mark.parametrize(
    "numbers",
    [
        {"planned": 1},
        {"done": 1, "running": 1, "planned": 1},
        {"done": 7, "running": 2, "planned": 3, "cancelled": 1, "missed": 1},
        {"done": 1, "missed": 8000},
    ],
)
def test_the_progress_bar_fills_the_whole_width_in_life_order(numbers: dict[str, int]) -> None:
    segments = sv.progress(counts(**numbers))
    assert [s.status for s in segments] == [st for st in sv.STATUSES if numbers.get(st)]
    assert [s.count for s in segments] == [numbers[s.status] for s in segments]
    assert sum(s.width for s in segments) == pytest.approx(100, abs=0.01)
    assert segments[0].start == 0
    for before, after in itertools.pairwise(segments):
        assert after.start == pytest.approx(before.start + before.width, abs=0.01)
    assert all(s.width > 0 for s in segments)


def test_the_widths_are_shares_of_all_schedules() -> None:
    done, planned = sv.progress(counts(done=3, planned=1))
    assert (done.start, done.width) == (0, 75) and (planned.start, planned.width) == (75, 25)
    assert sv.progress(counts()) == []


# --- instants and campaign links -----------------------------------------------------------
def test_instants_are_written_in_utc_with_seconds_only_when_there_are_some() -> None:
    assert sv.instant_text(datetime(2026, 11, 27, 8, 30, tzinfo=UTC)) == "2026-11-27 08:30 UTC"
    assert sv.instant_text(datetime(2026, 11, 27, 8, 30, 5, tzinfo=UTC)) == (
        "2026-11-27 08:30:05 UTC"
    )
    assert sv.instant_text(None) == "\u2013"


def test_a_campaign_url_keeps_its_slashes_and_escapes_the_rest() -> None:
    assert sv.campaign_url("black-friday") == "/console/campaigns/black-friday"
    assert sv.campaign_url("spring/2027") == "/console/campaigns/spring/2027"
    assert sv.campaign_url("a:b.c_d") == "/console/campaigns/a%3Ab.c_d"
    assert sv.campaign_url("v1.0/..x/y.") == "/console/campaigns/v1.0/..x/y."
    # a browser would take "x/../y" for "y": a dot segment escapes the slashes
    assert sv.campaign_url("x/../y") == "/console/campaigns/x%2F..%2Fy"
    assert sv.campaign_url("x/./y/") == "/console/campaigns/x%2F.%2Fy%2F"


# --- the chart's planned part ----------------------------------------------------------------
def test_planned_points_come_in_the_order_the_processor_takes_the_steps() -> None:
    t1, t2 = T0 + timedelta(days=1), T0 + timedelta(days=2)
    found = schedules(
        # a new regular price and a sale's end at the same instant: the end first
        change("b-rise", "planned", t2, amount="12", steps=[step("start", t2, "12")]),
        change(
            "a-sale",
            "planned",
            t1,
            t2,
            amount="7",
            steps=[step("start", t1, "7", "sale"), step("end", t2, "10")],
        ),
        # a sale with nothing to return to, a missed one: no price change, no point
        change(
            "c-usd",
            "planned",
            t1,
            t2,
            currency="USD",
            steps=[step("start", t1, None, outcome="missed")],
        ),
        change("d-reg", "running", t1, steps=[step("end", t2, "9", outcome="cancelled")]),
    )
    points = price_chart.planned_points(found)
    assert [(p.at, str(p.amount), p.price_type) for p in points] == [
        (t1, "7", "sale"),
        (t2, "10", "regular"),
        (t2, "12", "regular"),
    ]
    assert price_chart.planned_points(None) == []


def test_overdue_steps_are_drawn_at_the_instant_they_take_effect() -> None:
    now = T0 + timedelta(minutes=1)
    found = schedules(
        change("s", "planned", T0, steps=[step("start", T0, "5", effective_at=now)]), now=now
    )
    (point,) = price_chart.planned_points(found)
    assert point.at == now


def interval(minutes: int, amount: str, currency: str = "EUR") -> PriceInterval:
    return PriceInterval(
        sku="S-1",
        currency=currency,
        amount=Decimal(amount),
        price_type="regular",
        valid_from=T0 + timedelta(minutes=minutes),
        valid_to=None,
        version=1,
    )


def planned(currency: str, at: datetime, amount: str, sale: bool = False) -> Any:
    return price_chart.PlannedPoint(currency, at, Decimal(amount), "sale" if sale else "regular")


def test_the_series_goes_on_past_now_with_planned_points_and_a_tail() -> None:
    now = T0 + timedelta(days=10)
    start, end = now + timedelta(days=1), now + timedelta(days=3)
    series = price_chart.price_series(
        [interval(0, "10")],
        now,
        [planned("EUR", start, "7.50", sale=True), planned("EUR", end, "10")],
    )
    (eur,) = series
    assert (eur["points"], eur["planned"]) == (1, 2)
    flags = [(p["y"], p["sale"], p.get("planned", False), p.get("end", False)) for p in eur["data"]]
    assert flags == [
        ("10", False, False, False),  # history
        ("10", False, False, True),  # ... drawn to now
        ("7.5", True, True, False),  # the plan
        ("10", False, True, False),
        ("10", False, True, True),  # its tail
    ]
    xs = [p["x"] for p in eur["data"]]
    assert xs == sorted(xs) and xs[1] == price_chart.ms(now)
    # the tail: a tenth of the span from the first price, as it is more than an hour
    span = end - T0
    assert xs[-1] == price_chart.ms(end + span / 10)


def test_a_plan_close_to_now_is_drawn_on_for_at_least_the_minimum_tail() -> None:
    now = T0 + timedelta(minutes=10)
    at = now + timedelta(seconds=20)
    (eur,) = price_chart.price_series([interval(0, "10")], now, [planned("EUR", at, "8")])
    assert eur["data"][-1]["x"] == price_chart.ms(at + price_chart.MIN_TAIL)


def test_a_currency_with_only_planned_prices_starts_at_its_first() -> None:
    now = T0
    at = now + timedelta(days=2)
    eur, usd = price_chart.price_series([interval(0, "10")], now, [planned("USD", at, "12")])
    assert eur["currency"] == "EUR" and eur["planned"] == 0
    assert all(not p.get("planned") for p in eur["data"])
    assert (usd["currency"], usd["points"], usd["planned"]) == ("USD", 0, 1)
    assert [p["x"] for p in usd["data"]] == [
        price_chart.ms(at),
        price_chart.ms(at + price_chart.MIN_TAIL),
    ]
    assert all(p["planned"] for p in usd["data"])


def test_the_panel_counts_history_and_plan_apart() -> None:
    now = T0 + timedelta(days=1)
    current = ProductPrices(
        sku="S-1",
        status="active",
        version=3,
        stock=1,
        prices={
            "EUR": CurrentPrice(
                currency="EUR", amount=Decimal(10), price_type="regular", valid_from=T0
            )
        },
    )
    at = now + timedelta(hours=2)
    found = schedules(
        change("s", "planned", at, amount="8", steps=[step("start", at, "8")]), now=now
    )
    view = price_panel.view_of(now, current, [interval(0, "10")], {}, found)
    assert (view["points"], view["planned_points"]) == (1, 1)
    assert [r.schedule_id for r in view["schedules"]] == ["s"]
    assert view["now_ms"] == price_chart.ms(now)
    assert '"planned":true' in view["series_json"]
    empty = price_panel.view_of(now, current, [interval(0, "10")], {}, None)
    assert (empty["planned_points"], empty["schedules"]) == (0, [])
