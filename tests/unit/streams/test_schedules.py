"""Scheduled price changes: every rule, and what firing publishes (pure, no services)."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.codec import validate_event
from streams.catalog import (
    DISCONTINUED,
    NO_REGULAR_PRICE,
    PRICE_NOT_POSITIVE,
    SCHEDULE_ALREADY_EFFECTIVE,
    SCHEDULE_IN_PAST,
    SCHEDULE_NOT_FOUND,
    SCHEDULE_OVERLAP,
    SCHEDULE_WINDOW,
    ProductState,
    decide,
    evolve_all,
    fire,
    next_due,
)
from tests.unit.builders import accepted, make_command, rejected

SKU = "SKU-1"
NOW = "2025-06-01T12:00:00Z"  # every command's occurred_at (make_command)
_counter = iter(range(1_000_000))


def command(type_: str, data: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return make_command(type_, data, command_id=f"cmd-{next(_counter)}", **kw)


def apply(state: ProductState, type_: str, data: dict[str, Any], **kw: Any) -> ProductState:
    return evolve_all(state, accepted(decide(command(type_, data, **kw), state)))


def sale(
    schedule_id: str, start: str, end: str, amount: str = "15", **extra: Any
) -> dict[str, Any]:
    return {
        "schedule_id": schedule_id,
        "currency": "EUR",
        "amount": amount,
        "price_type": "sale",
        "starts_at": start,
        "ends_at": end,
        **extra,
    }


def regular(schedule_id: str, start: str, amount: str) -> dict[str, Any]:
    return {"schedule_id": schedule_id, "currency": "EUR", "amount": amount, "starts_at": start}


def tick(state: ProductState, now: str) -> tuple[ProductState, list[dict[str, Any]]]:
    events = fire(state, now)
    for event in events:
        validate_event(event)
    return evolve_all(state, events), events


def price(state: ProductState) -> tuple[str, str]:
    current = state.prices["EUR"]
    return current["amount"], current["price_type"]


@pytest.fixture
def priced() -> ProductState:
    state = apply(ProductState.empty(SKU), "RegisterProduct", {"name": "Mug"})
    return apply(state, "ChangePrice", {"amount": "20", "currency": "EUR"})


# ------------------------------------------------------------------ planning


def test_schedule_is_an_event_and_the_state_knows_what_is_due(priced: ProductState) -> None:
    data = sale("bf", "2025-06-02T00:00:00+02:00", "2025-06-03T00:00:00+02:00", campaign_id="bf")
    (event,) = accepted(decide(command("SchedulePriceChange", data), priced))
    assert event["type"] == "PriceChangeScheduled"
    assert event["data"] == {
        "schedule_id": "bf",
        "currency": "EUR",
        "amount": "15",
        "price_type": "sale",
        "starts_at": "2025-06-01T22:00:00.000000Z",  # canonical UTC
        "ends_at": "2025-06-02T22:00:00.000000Z",
        "campaign_id": "bf",
        "replaces": False,
    }
    state = evolve_all(priced, [event])
    assert next_due(state) == "2025-06-01T22:00:00.000000Z"
    assert ProductState.from_dict(state.to_dict()) == state
    assert state.to_dict()["due"] == "2025-06-01T22:00:00.000000Z"


def test_same_id_replaces_a_pending_schedule_and_unchanged_is_no_event(
    priced: ProductState,
) -> None:
    state = apply(priced, "SchedulePriceChange", regular("rise", "2025-07-01T00:00:00Z", "25"))
    moved = regular("rise", "2025-08-01T00:00:00Z", "25")
    (event,) = accepted(decide(command("SchedulePriceChange", moved), state))
    assert event["data"]["replaces"] is True
    state = evolve_all(state, [event])
    assert state.schedules["rise"]["starts_at"] == "2025-08-01T00:00:00.000000Z"
    same = regular("rise", "2025-08-01T02:00:00+02:00", "25.00")  # same instant, same amount
    assert accepted(decide(command("SchedulePriceChange", same), state)) == []


@pytest.mark.parametrize(
    ("start", "outcome"),
    [
        ("2025-06-01T11:59:00Z", None),  # 60 s before occurred_at: tolerated
        ("2025-06-01T11:58:59Z", SCHEDULE_IN_PAST),
        ("0001-01-01T00:00:00Z", SCHEDULE_IN_PAST),
        ("9999-12-31T23:59:59Z", None),
    ],
)
def test_the_past_tolerance(priced: ProductState, start: str, outcome: str | None) -> None:
    decision = decide(command("SchedulePriceChange", regular("r", start, "21")), priced)
    if outcome is None:
        accepted(decision)
    else:
        rejected(decision, outcome)


def test_rules_with_named_reasons(priced: ProductState) -> None:
    start, end = "2025-06-10T00:00:00Z", "2025-06-12T00:00:00Z"
    bad_window = sale("s", end, start)
    rejected(decide(command("SchedulePriceChange", bad_window), priced), SCHEDULE_WINDOW)
    zero = regular("r", start, "0")
    rejected(decide(command("SchedulePriceChange", zero), priced), PRICE_NOT_POSITIVE)
    usd = sale("s", start, end) | {"currency": "USD"}
    rejected(decide(command("SchedulePriceChange", usd), priced), NO_REGULAR_PRICE)
    state = apply(priced, "SchedulePriceChange", sale("a", start, end))
    overlapping = sale("b", "2025-06-11T00:00:00Z", "2025-06-13T00:00:00Z")
    rejected(decide(command("SchedulePriceChange", overlapping), state), SCHEDULE_OVERLAP)
    back_to_back = sale("b", end, "2025-06-13T00:00:00Z")  # windows are [start, end)
    accepted(decide(command("SchedulePriceChange", back_to_back), state))
    other_currency = {**overlapping, "currency": "USD"}
    usd_state = apply(state, "ChangePrice", {"amount": "22", "currency": "USD"})
    accepted(decide(command("SchedulePriceChange", other_currency), usd_state))
    rejected(
        decide(command("CancelScheduledPriceChange", {"schedule_id": "x"}), state),
        SCHEDULE_NOT_FOUND,
    )


def test_a_sale_may_return_to_a_regular_price_planned_before_it(priced: ProductState) -> None:
    usd_rise = regular("usd", "2025-06-05T00:00:00Z", "30") | {"currency": "USD"}
    state = apply(priced, "SchedulePriceChange", usd_rise)
    usd_sale = sale("s", "2025-06-06T00:00:00Z", "2025-06-07T00:00:00Z") | {"currency": "USD"}
    accepted(decide(command("SchedulePriceChange", usd_sale), state))


def test_discontinuing_cancels_every_schedule(priced: ProductState) -> None:
    state = apply(priced, "SchedulePriceChange", regular("r", "2025-07-01T00:00:00Z", "25"))
    state = apply(
        state, "SchedulePriceChange", sale("s", "2025-06-02T00:00:00Z", "2025-06-03T00:00:00Z")
    )
    events = accepted(decide(command("DiscontinueProduct", {}), state))
    assert [(e["type"], e["data"].get("schedule_id"), e["data"].get("reason")) for e in events] == [
        ("PriceChangeScheduleCancelled", "r", "discontinued"),
        ("PriceChangeScheduleCancelled", "s", "discontinued"),
        ("ProductDiscontinued", None, ""),
    ]
    state = evolve_all(state, events)
    assert state.schedules == {} and next_due(state) is None
    rejected(
        decide(command("SchedulePriceChange", regular("n", "2025-07-01T00:00:00Z", "1")), state),
        DISCONTINUED,
    )


# ------------------------------------------------------------------ firing


def test_a_sale_starts_and_ends_with_its_schedule_as_cause(priced: ProductState) -> None:
    planned = sale("s", "2025-06-02T00:00:00Z", "2025-06-03T00:00:00Z", campaign_id="c1")
    state = apply(priced, "SchedulePriceChange", planned, correlation_id="flow-7")
    cause = next(iter(state.schedules.values()))["cause"]
    assert fire(state, "2025-06-01T23:59:59.999999Z") == []
    state, (start,) = tick(state, "2025-06-02T00:00:00.120000Z")
    assert start["type"] == "PriceChanged"
    assert start["data"] == {
        "amount": "15",
        "currency": "EUR",
        "price_type": "sale",
        "schedule_id": "s",
        "schedule_step": "start",
        "planned_at": "2025-06-02T00:00:00.000000Z",
    }
    assert start["occurred_at"] == "2025-06-02T00:00:00.120000Z"  # when it took effect
    assert (start["causation_id"], start["correlation_id"]) == (cause, "flow-7")
    assert price(state) == ("15", "sale")
    assert next_due(state) == "2025-06-03T00:00:00.000000Z"
    rejected(decide(command("SchedulePriceChange", planned), state), SCHEDULE_ALREADY_EFFECTIVE)
    state, (end,) = tick(state, "2025-06-03T00:00:00.050000Z")
    assert end["data"]["schedule_step"] == "end" and price(state) == ("20", "regular")
    assert state.schedules == {} and "s" in state.effective
    cancel = command("CancelScheduledPriceChange", {"schedule_id": "s"})
    rejected(decide(cancel, state), SCHEDULE_ALREADY_EFFECTIVE)


def test_a_regular_change_during_a_sale_is_what_the_sale_returns_to(priced: ProductState) -> None:
    state = apply(
        priced, "SchedulePriceChange", sale("s", "2025-06-02T00:00:00Z", "2025-06-04T00:00:00Z")
    )
    state = apply(state, "SchedulePriceChange", regular("r", "2025-06-03T00:00:00Z", "24"))
    state, _ = tick(state, "2025-06-02T00:00:01Z")
    state, (quiet,) = tick(state, "2025-06-03T00:00:01Z")
    assert quiet["type"] == "RegularPriceChanged" and price(state) == ("15", "sale")
    # and one sent directly, by a command, while the sale runs
    direct = decide(command("ChangePrice", {"amount": "26", "currency": "EUR"}), state)
    (direct_event,) = accepted(direct)
    assert direct_event["type"] == "RegularPriceChanged"
    state = evolve_all(state, [direct_event])
    state, (end,) = tick(state, "2025-06-04T00:00:01Z")
    assert end["data"]["amount"] == "26" and price(state) == ("26", "regular")


def test_cancelling_a_running_sale_ends_it_now(priced: ProductState) -> None:
    state = apply(
        priced, "SchedulePriceChange", sale("s", "2025-06-01T12:00:00Z", "2025-06-09T00:00:00Z")
    )
    state, _ = tick(state, "2025-06-01T12:00:00.100000Z")
    events = accepted(
        decide(command("CancelScheduledPriceChange", {"schedule_id": "s", "reason": "oops"}), state)
    )
    assert [e["type"] for e in events] == ["PriceChangeScheduleCancelled", "PriceChanged"]
    assert events[0]["data"]["note"] == "oops"
    assert "schedule_id" not in events[1]["data"]  # a restore, not a planned step
    state = evolve_all(state, events)
    assert price(state) == ("20", "regular") and next_due(state) is None


def test_after_an_outage_overdue_steps_fire_in_order_and_a_passed_sale_is_missed(
    priced: ProductState,
) -> None:
    state = apply(
        priced, "SchedulePriceChange", sale("a", "2025-06-02T00:00:00Z", "2025-06-03T00:00:00Z")
    )
    state = apply(
        state,
        "SchedulePriceChange",
        sale("b", "2025-06-03T00:00:00Z", "2025-06-09T00:00:00Z", "12"),
    )
    state = apply(state, "SchedulePriceChange", regular("r", "2025-06-02T12:00:00Z", "22"))
    state, events = tick(state, "2025-06-04T00:00:00Z")
    assert [(e["type"], e["data"]["schedule_id"], e["data"].get("reason")) for e in events] == [
        ("PriceChangeScheduleCancelled", "a", "missed"),  # its whole window passed
        ("PriceChanged", "r", None),
        ("PriceChanged", "b", None),
    ]
    assert {e["occurred_at"] for e in events} == {"2025-06-04T00:00:00.000000Z"}
    assert [e["version"] for e in events] == [6, 7, 8]
    assert price(state) == ("12", "sale") and state.regular["EUR"] == "22"


def test_back_to_back_sales_end_before_the_next_starts(priced: ProductState) -> None:
    state = apply(
        priced, "SchedulePriceChange", sale("a", "2025-06-02T00:00:00Z", "2025-06-03T00:00:00Z")
    )
    state = apply(
        state,
        "SchedulePriceChange",
        sale("b", "2025-06-03T00:00:00Z", "2025-06-04T00:00:00Z", "12"),
    )
    state, _ = tick(state, "2025-06-02T00:00:00Z")
    state, events = tick(state, "2025-06-03T00:00:00Z")
    assert [(e["data"]["schedule_id"], e["data"]["schedule_step"]) for e in events] == [
        ("a", "end"),
        ("b", "start"),
    ]
    assert price(state) == ("12", "sale")


def test_a_planned_price_equal_to_the_current_one_changes_no_price(priced: ProductState) -> None:
    state = apply(priced, "SchedulePriceChange", regular("same", "2025-06-02T00:00:00Z", "20.00"))
    state, (event,) = tick(state, "2025-06-02T00:00:00Z")
    assert event["type"] == "RegularPriceChanged" and state.schedules == {}


def test_firing_is_deterministic_and_event_time_never_runs_backwards(
    priced: ProductState,
) -> None:
    state = apply(priced, "SchedulePriceChange", regular("r", "2025-06-01T12:00:00Z", "21"))
    late_clock = "2025-06-01T11:00:00Z"  # a processor whose clock is behind the product's events
    assert fire(state, late_clock) == []
    first = fire(state, "2025-06-01T12:00:00Z")
    again = fire(ProductState.from_dict(state.to_dict()), "2025-06-01T12:00:00Z")
    assert first == again
    assert first[0]["occurred_at"] >= state.updated_at
