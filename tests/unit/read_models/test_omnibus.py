"""The pure EU Omnibus rule: lowest price in force during the 30 days before a change."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from read_models.pricing import omnibus, rows
from read_models.pricing.models import OmnibusPrice
from read_models.pricing.rows import HistoryRow, plan
from read_models.projection import PositionedEvent
from tests.unit.read_models.test_pricing_rows import T0, at, discontinued, price, registered

DAY = 24 * 60  # minutes
CURRENCIES = ("EUR", "USD", "GBP")


def history(events: list[dict[str, Any]]) -> list[HistoryRow]:
    """The history rows the real planner makes from these events (one batch, empty store)."""
    planned = plan([PositionedEvent(e, 0, i) for i, e in enumerate(events)], {})
    assert planned.invalid == []
    return planned.history_rows


def changes(*steps: tuple[int, str, str]) -> list[HistoryRow]:
    """``(minute, amount, currency)`` price changes of SKU-1, in order."""
    events = [registered(minutes=0)]
    for version, (minute, amount, currency) in enumerate(steps, start=2):
        events.append(price(version, amount, currency, minutes=minute))
    return history(events)


def brute_force(rows_: list[HistoryRow], currency: str, t: datetime) -> Decimal | None:
    """Min of "price as of" sampled at T-30d and at every change time inside the window."""
    start = t - timedelta(days=30)
    instants = {start} | {r.valid_from for r in rows_ if start < r.valid_from < t}
    seen = [rows.price_as_of(rows_, currency, i) for i in instants]
    amounts = [r.amount for r in seen if r is not None]
    return min(amounts) if amounts else None


# --------------------------------------------------------------------------- examples


def test_window_is_exactly_720_hours() -> None:
    assert omnibus.WINDOW.total_seconds() == 720 * 3600
    assert omnibus.window_start(at(0)) == at(-30 * DAY)


def test_lowest_of_the_30_days_before_the_change() -> None:
    h = history(
        [
            registered(),
            price(2, "100", minutes=0),
            price(3, "80", minutes=10 * DAY),
            price(4, "90", minutes=20 * DAY),
            price(5, "70", "EUR", "sale", minutes=45 * DAY),
        ]
    )
    result = omnibus.omnibus(h, "EUR")
    assert result is not None
    assert result.at == at(45 * DAY)
    assert result.window_start == at(15 * DAY)
    assert result.price.amount == Decimal("70")
    # 80 was in force from day 10 to day 20, i.e. during [day 15, day 45): it counts.
    assert result.lowest == Decimal("80")
    assert result.is_reduction


def test_a_price_older_than_30_days_does_not_count() -> None:
    h = changes((0, "50", "EUR"), (5 * DAY, "100", "EUR"), (40 * DAY, "90", "EUR"))
    # 50 ended on day 5, the window of the day-40 change starts on day 10.
    assert omnibus.lowest_price_before(h, "EUR", at(40 * DAY)) == Decimal("100")


def test_a_price_still_valid_at_the_window_start_counts() -> None:
    h = changes((0, "60", "EUR"), (35 * DAY, "100", "EUR"), (40 * DAY, "90", "EUR"))
    # 60 started 40 days before the change but was valid until day 35 (window from day 10).
    assert omnibus.lowest_price_before(h, "EUR", at(40 * DAY)) == Decimal("60")


def test_change_exactly_at_the_window_start() -> None:
    # At T-30d the price changed from 40 to 100: the new price counts, the old one does not.
    h = changes((0, "40", "EUR"), (10 * DAY, "100", "EUR"), (40 * DAY, "95", "EUR"))
    t = at(40 * DAY)
    assert omnibus.window_start(t) == at(10 * DAY)
    assert omnibus.lowest_price_before(h, "EUR", t) == Decimal("100")
    # Had the window started one microsecond earlier, 40 would have been in force in it.
    assert omnibus.lowest_price_before(h, "EUR", t - timedelta(microseconds=1)) == Decimal("40")


def test_the_new_price_is_not_its_own_reference() -> None:
    h = changes((0, "100", "EUR"), (DAY, "10", "EUR"))
    assert omnibus.lowest_price_before(h, "EUR", at(DAY)) == Decimal("100")


def test_zero_length_interval_never_counts() -> None:
    # Two changes in the same clock tick: 1 was never in force.
    h = changes((0, "100", "EUR"), (DAY, "1", "EUR"), (DAY, "100", "EUR"), (2 * DAY, "90", "EUR"))
    assert [(r.amount, r.valid_from == r.valid_to) for r in h if r.amount == 1] == [
        (Decimal("1"), True)
    ]
    assert omnibus.lowest_price_before(h, "EUR", at(2 * DAY)) == Decimal("100")


def test_no_prior_price_gives_no_reference() -> None:
    h = changes((0, "100", "EUR"))
    result = omnibus.omnibus(h, "EUR")
    assert result is not None
    assert (result.price.amount, result.lowest, result.is_reduction) == (
        Decimal("100"),
        None,
        False,
    )


def test_currencies_are_independent() -> None:
    h = changes(
        (0, "100", "EUR"),
        (0, "110", "USD"),
        (10 * DAY, "50", "EUR"),
        (11 * DAY, "100", "EUR"),
        (20 * DAY, "80", "EUR"),
        (20 * DAY, "90", "USD"),
    )
    eur, usd = omnibus.omnibus(h, "EUR"), omnibus.omnibus(h, "USD")
    assert eur is not None and usd is not None
    assert (eur.lowest, eur.is_reduction) == (Decimal("50"), False)
    assert (usd.lowest, usd.is_reduction) == (Decimal("110"), True)


def test_default_reference_is_the_current_price_and_none_after_discontinue() -> None:
    events = [registered(), price(2, "100", minutes=0), price(3, "90", minutes=DAY)]
    assert omnibus.current_change_at(history(events), "EUR") == at(DAY)
    gone = history([*events, discontinued(4, minutes=2 * DAY)])
    assert omnibus.current_change_at(gone, "EUR") is None
    assert omnibus.omnibus(gone, "EUR") is None
    # An explicit instant still works on the closed history, and nothing after it.
    past = omnibus.omnibus(gone, "EUR", at(DAY))
    assert past is not None and past.lowest == Decimal("100")
    assert omnibus.omnibus(gone, "EUR", at(2 * DAY)) is None
    assert omnibus.omnibus(gone, "EUR", at(-1)) is None


def test_naive_instant_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        omnibus.lowest_price_before([], "EUR", datetime(2025, 1, 1))


def test_result_model_serialises_exact_amounts() -> None:
    model = OmnibusPrice(
        sku="SKU-1",
        currency="EUR",
        reference_at=T0,
        window_start=T0 - omnibus.WINDOW,
        amount=Decimal("9.5000"),
        price_type="sale",
        lowest_30_days=Decimal("10.10"),
        is_reduction=True,
    )
    dumped = model.model_dump(mode="json")
    assert (dumped["amount"], dumped["lowest_30_days"]) == ("9.5", "10.1")
    assert dumped["reference_at"].startswith("2025-06-01T12:00:00")
    with pytest.raises(ValueError):
        OmnibusPrice.model_validate({**model.model_dump(), "amount": 9.5})


# --------------------------------------------------------------------------- properties

_step = st.tuples(
    # minutes since the previous change: same tick, near, or weeks apart
    st.one_of(st.just(0), st.integers(1, 3 * DAY), st.integers(3 * DAY, 40 * DAY)),
    st.sampled_from(CURRENCIES),
    st.sampled_from(["1", "9.99", "10", "10.5", "19.99", "20", "100", "0"]),
    st.sampled_from(["regular", "sale"]),
)


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[HistoryRow], list[datetime]]:
    steps = draw(st.lists(_step, min_size=1, max_size=25))
    events = [registered(minutes=0)]
    minute = 0
    for version, (gap, currency, amount, price_type) in enumerate(steps, start=2):
        minute += gap
        events.append(price(version, amount, currency, price_type, minutes=minute))
    if draw(st.booleans()):
        minute += draw(st.integers(0, 40 * DAY))
        events.append(discontinued(len(events) + 1, minutes=minute))
    h = history(events)
    change_times = sorted({r.valid_from for r in h})
    # Probe every change, every change + 30 days (a change exactly at T - 30d), and around them.
    probes = set(change_times)
    for c in change_times:
        probes |= {c + omnibus.WINDOW, c + omnibus.WINDOW + timedelta(minutes=1)}
        probes |= {c + omnibus.WINDOW - timedelta(minutes=1), c - timedelta(minutes=1)}
    probes.add(at(draw(st.integers(-DAY, minute + 60 * DAY))))
    return h, sorted(probes)


@settings(max_examples=300, deadline=None)
@given(histories())
def test_lowest_equals_brute_force_sampling(case: tuple[list[HistoryRow], list[datetime]]) -> None:
    h, probes = case
    for currency in CURRENCIES:
        for t in probes:
            assert omnibus.lowest_price_before(h, currency, t) == brute_force(h, currency, t)


@settings(max_examples=200, deadline=None)
@given(histories(), st.data())
def test_only_intervals_overlapping_the_window_count(
    case: tuple[list[HistoryRow], list[datetime]], data: st.DataObject
) -> None:
    h, probes = case
    t = data.draw(st.sampled_from(probes))
    currency = data.draw(st.sampled_from(CURRENCIES))
    start = t - omnibus.WINDOW
    outside = [
        r
        for r in h
        if r.valid_from >= t or (r.valid_to is not None and r.valid_to <= max(start, r.valid_from))
    ]
    # Making every interval outside the window free changes nothing ...
    cheap = [r if r not in outside else HistoryRow(**{**vars(r), "amount": Decimal(0)}) for r in h]
    before = omnibus.lowest_price_before(h, currency, t)
    assert omnibus.lowest_price_before(cheap, currency, t) == before
    # ... while making one interval inside it free is seen.
    inside = [r for r in h if r.currency == currency and r not in outside]
    assert (before is None) == (not inside)
    if inside:
        pick = data.draw(st.sampled_from(inside))
        changed = [HistoryRow(**{**vars(r), "amount": Decimal(0)}) if r is pick else r for r in h]
        assert omnibus.lowest_price_before(changed, currency, t) == 0
    # Other currencies never influence this one.
    alone = [r for r in h if r.currency == currency]
    assert omnibus.lowest_price_before(alone, currency, t) == before


@settings(max_examples=200, deadline=None)
@given(histories())
def test_reduction_flag_and_price_at(case: tuple[list[HistoryRow], list[datetime]]) -> None:
    h, probes = case
    for currency in CURRENCIES:
        for t in probes:
            result = omnibus.omnibus(h, currency, t)
            expected_price = rows.price_as_of(h, currency, t)
            if expected_price is None:
                assert result is None
                continue
            assert result is not None
            assert result.price == expected_price
            assert result.lowest == brute_force(h, currency, t)
            assert result.is_reduction == (
                result.lowest is not None and expected_price.amount < result.lowest
            )
        default = omnibus.omnibus(h, currency)
        open_rows = [r for r in h if r.currency == currency and r.valid_to is None]
        assert (default is None) == (not open_rows)
        if default is not None:
            assert default.at == open_rows[-1].valid_from
            assert default.price == open_rows[-1]
