"""SetStock: stock from a count, decided against the product's own log of adjustments.

The rule (README, "Setting stock from a count"): the stock a SetStock sets is
``quantity`` + the deltas of every AdjustStock accepted with an ``occurred_at``
strictly after ``counted_at``; earlier SetStocks are never added.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import timestamps
from streams.catalog import (
    COUNT_IN_FUTURE,
    COUNT_TOO_OLD,
    DISCONTINUED,
    INSUFFICIENT_STOCK,
    MAX_STOCK,
    NOT_FOUND,
    STOCK_LIMIT,
    STOCK_LOG_KEPT,
    Accepted,
    ProductState,
    Rejected,
    decide,
    evolve,
    evolve_all,
)
from tests.unit.builders import accepted, make_command, rejected

SKU = "SKU-1"
T0 = datetime(2025, 6, 1, tzinfo=UTC)
_counter = iter(range(1_000_000))


def at(minutes: int) -> str:
    """The instant ``minutes`` after midnight of 2025-06-01 UTC, canonical."""
    return timestamps.format_utc(T0 + timedelta(minutes=minutes))


def adjust(delta: int, minute: int) -> dict[str, Any]:
    return make_command(
        "AdjustStock", {"delta": delta}, command_id=f"adj-{next(_counter)}", occurred_at=at(minute)
    )


def count(quantity: int, counted: int, *, sent: int | None = None, **kw: Any) -> dict[str, Any]:
    """A SetStock of ``quantity`` counted at minute ``counted``, sent at minute ``sent``
    (default: an hour after the count, as a feed arrives)."""
    data = {"quantity": quantity, "counted_at": at(counted), "reason": "nightly feed"}
    kw.setdefault("command_id", f"set-{next(_counter)}")
    kw.setdefault("occurred_at", at(counted + 60 if sent is None else sent))
    return make_command("SetStock", data, **kw)


def apply(state: ProductState, command: dict[str, Any]) -> ProductState:
    return evolve_all(state, accepted(decide(command, state)))


def registered() -> ProductState:
    """A product registered at midnight, before every instant used here."""
    command = make_command("RegisterProduct", {"name": "Mug"}, occurred_at=at(0))
    return apply(ProductState.empty(SKU), command)


def adjusted(*moves: tuple[int, int]) -> ProductState:
    """A registered product after the adjustments ``(delta, minute)``, in this order."""
    state = registered()
    for delta, minute in moves:
        state = apply(state, adjust(delta, minute))
    return state


# ------------------------------------------------------------------ the rule


def test_set_from_nothing() -> None:
    state = registered()
    (event,) = accepted(decide(count(40, 120), state))
    assert event["type"] == "StockAdjusted" and event["schema_version"] == 2
    assert event["data"] == {
        "delta": 40,
        "quantity": 40,
        "reason": "nightly feed",
        "counted_at": "2025-06-01T02:00:00.000000Z",
    }
    after = evolve(state, event)
    assert (after.stock, after.stock_log, after.stock_log_since) == (40, (), "")


def test_counted_at_in_any_offset_is_stated_canonical() -> None:
    command = count(3, 120)
    command["data"]["counted_at"] = "2025-06-01t04:00:00.1234567+02:00"
    (event,) = accepted(decide(command, registered()))
    assert event["data"]["counted_at"] == "2025-06-01T02:00:00.123456Z"


def test_set_to_the_current_stock_is_a_no_op() -> None:
    state = adjusted((10, 60))
    assert decide(count(10, 120), state) == Accepted([])


def test_adjustments_before_and_at_the_count_are_in_it_later_ones_are_added() -> None:
    state = adjusted((5, 60), (7, 120), (11, 180))
    (event,) = accepted(decide(count(100, 120), state))
    assert event["data"]["quantity"] == 100 + 11  # +5 before, +7 at: in the count
    assert event["data"]["delta"] == 111 - 23


def test_a_delivery_racing_the_feed_is_kept_once_whichever_arrives_first() -> None:
    # counted 50 at 02:00; a delivery of 7 at 03:00 was not in the count
    feed_first = apply(adjusted((5, 60)), count(50, 120, sent=170))
    feed_first = apply(feed_first, adjust(7, 180))
    delivery_first = apply(adjusted((5, 60), (7, 180)), count(50, 120, sent=240))
    assert feed_first.stock == delivery_first.stock == 57


@pytest.mark.parametrize("order", ["older first", "newer first"])
def test_two_counts_in_either_order_give_the_right_figure(order: str) -> None:
    state = adjusted((5, 60), (7, 180), (-2, 300))
    older, newer = count(50, 120, sent=400), count(57, 240, sent=400)
    first, second = (older, newer) if order == "older first" else (newer, older)
    state = apply(state, first)
    assert state.stock == 55
    # the first count is a restatement: never added by the second
    assert decide(second, state) == Accepted([])
    assert [delta for _, delta in state.stock_log] == [5, 7, -2]


def test_a_count_sent_again_gives_no_second_event() -> None:
    state = adjusted((5, 60), (7, 180))
    command = count(50, 120)
    state = apply(state, command)
    assert state.stock == 57
    assert decide(command, state) == Accepted([])
    assert decide({**command, "command_id": "resent"}, state) == Accepted([])


def test_an_adjustment_clamped_to_a_later_event_counts_at_that_instant() -> None:
    """The log holds the event's occurred_at: never before the product's last event."""
    state = apply(adjusted((5, 300)), adjust(7, 60))  # stamped 01:00, written at 05:00
    assert state.stock_log == ((at(300), 5), (at(300), 7))
    (event,) = accepted(decide(count(3, 120), state))
    assert event["data"]["quantity"] == 3 + 12


# ------------------------------------------------------------------ the log


def overflowed() -> ProductState:
    """65 adjustments of +1, one a minute from 01:00: the first is dropped."""
    return adjusted(*[(1, 60 + i) for i in range(STOCK_LOG_KEPT + 1)])


def test_the_log_keeps_the_last_adjustments_and_when_it_forgot() -> None:
    state = overflowed()
    assert len(state.stock_log) == STOCK_LOG_KEPT
    assert state.stock_log[0] == (at(61), 1)
    assert state.stock_log_since == at(60)


def test_a_count_older_than_what_the_log_remembers_is_refused() -> None:
    message = rejected(decide(count(0, 59), overflowed()), COUNT_TOO_OLD).message
    assert str(STOCK_LOG_KEPT) in message and "AdjustStock" in message


@pytest.mark.parametrize("counted", [60, 61, 124])
def test_a_count_at_or_after_the_forgotten_adjustment_is_decided(counted: int) -> None:
    state = overflowed()
    (event,) = accepted(decide(count(1000, counted), state))
    remembered_after = sum(1 for t, _ in state.stock_log if t > at(counted))
    assert event["data"]["quantity"] == 1000 + remembered_after


def test_counts_do_not_enter_the_log() -> None:
    state = apply(adjusted((5, 60)), count(50, 120))
    assert state.stock_log == ((at(60), 5),)


def test_a_historic_v1_event_enters_the_log() -> None:
    state = registered()
    old = {
        **accepted(decide(adjust(4, 60), state))[0],
        "schema_version": 1,
        "occurred_at": "2025-06-01T01:00:00Z",
    }
    assert evolve(state, old).stock_log == ((at(60), 4),)


# ------------------------------------------------------------------ rejections


def test_a_count_in_the_future_is_refused() -> None:
    state = registered()
    sent = 120
    assert accepted(decide(count(3, sent + 5, sent=sent), state))  # 5 min: clocks disagree
    late = count(3, sent + 5, sent=sent)
    late["data"]["counted_at"] = "2025-06-01T02:05:00.000001Z"
    message = rejected(decide(late, state), COUNT_IN_FUTURE).message
    assert "5 min" in message
    offset = count(3, 0, sent=sent)
    offset["data"]["counted_at"] = "2025-06-01T04:05:00+02:00"  # 02:05Z
    assert accepted(decide(offset, state))


def test_a_count_that_sales_after_it_take_below_zero_is_refused() -> None:
    state = adjusted((10, 60), (-8, 180))
    message = rejected(decide(count(5, 120), state), INSUFFICIENT_STOCK).message
    assert "-8" in message and "-3" in message


def test_a_count_above_the_limit_is_refused() -> None:
    state = adjusted((1, 180))
    rejected(decide(count(MAX_STOCK, 120), state), STOCK_LIMIT)
    (event,) = accepted(decide(count(MAX_STOCK, 240), state))
    assert event["data"]["delta"] == MAX_STOCK - 1  # beyond AdjustStock's ±1,000,000


def test_discontinued_and_unknown_products() -> None:
    state = apply(registered(), make_command("DiscontinueProduct", {}, occurred_at=at(1)))
    rejected(decide(count(1, 120), state), DISCONTINUED)
    rejected(decide(count(1, 120), ProductState.empty(SKU)), NOT_FOUND)


# ------------------------------------------------------------------ stored state


@pytest.mark.parametrize("state", [registered(), adjusted((3, 60)), overflowed()])
def test_state_round_trips_through_json(state: ProductState) -> None:
    raw = state.to_dict()
    assert "stock_log" in raw  # always: its absence marks a state stored before it
    assert ("stock_log_since" in raw) == bool(state.stock_log_since)
    assert ProductState.from_dict(orjson.loads(orjson.dumps(raw))) == state


def test_a_state_stored_before_the_log_takes_counts_after_its_last_event_only() -> None:
    """Its adjustments are unknown: a count from before its last event could miss
    some, and is refused rather than silently wrong."""
    old = {"sku": SKU, "version": 3, "registered": True, "stock": 9, "updated_at": at(60)}
    state = ProductState.from_dict(old)
    assert state.stock_log == ()
    rejected(decide(count(4, 30), state), COUNT_TOO_OLD)
    (event,) = accepted(decide(count(4, 120), state))
    assert event["data"]["quantity"] == 4


# ------------------------------------------------------------------ property


@st.composite
def interleavings(draw: st.DrawFn) -> tuple[list[tuple[int, int]], int, int, int, int]:
    """Adjustments ``(delta, minute)`` in the order they happen and reach the
    processor, the position of the SetStock among them, its count, when it was
    counted, and when it was sent. Every adjustment decided after the SetStock
    happened after the count (one at or before it would be in the count)."""
    n = draw(st.integers(0, 30))
    gaps = draw(st.lists(st.integers(0, 30), min_size=n, max_size=n))
    deltas = draw(st.lists(st.integers(-5, 20).filter(bool), min_size=n, max_size=n))
    minutes = [60 + sum(gaps[: i + 1]) for i in range(n)]
    position = draw(st.integers(0, n))
    latest = minutes[position] - 1 if position < n else (minutes[-1] if n else 60) + 60
    counted = draw(st.integers(1, latest))
    sent = counted + draw(st.integers(-5, 600))
    quantity = draw(st.integers(0, 200))
    return list(zip(deltas, minutes, strict=True)), position, quantity, counted, sent


@settings(max_examples=300, deadline=None)
@given(interleavings())
def test_the_stock_is_the_count_plus_the_adjustments_after_it(
    case: tuple[list[tuple[int, int]], int, int, int, int],
) -> None:
    moves, position, quantity, counted, sent = case
    state = registered()
    applied: list[tuple[int, int]] = []
    for index, (delta, minute) in enumerate([*moves, (0, 0)]):
        if index == position:
            decision = decide(count(quantity, counted, sent=sent), state)
            if isinstance(decision, Rejected):  # sales after the count below zero
                assert decision.reason == INSUFFICIENT_STOCK
                later = sum(d for d, m in applied if m > counted)
                assert quantity + later < 0
                return
            state = evolve_all(state, accepted(decision))
        if index < len(moves):
            decision = decide(adjust(delta, minute), state)
            if isinstance(decision, Accepted):
                state = evolve_all(state, decision.events)
                applied.append((delta, minute))
    assert state.stock == quantity + sum(d for d, m in applied if m > counted)
