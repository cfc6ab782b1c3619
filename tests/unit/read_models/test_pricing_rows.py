"""The pure pricing planner: rows for every event type, version guard, validity intervals."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from read_models.pricing import rows
from read_models.pricing.rows import (
    CurrentPriceDelete,
    CurrentPriceUpsert,
    HistoryClose,
    HistoryRow,
    ProductUpsert,
    StockSet,
    plan,
    price_as_of,
)
from read_models.projection import PositionedEvent
from schemas.registry import CURRENT_EVENT_VERSIONS

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def event(
    type_: str, version: int, data: dict[str, Any], *, sku: str = "SKU-1", minutes: int = 0
) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{sku}:{version}")),
        "type": type_,
        "schema_version": CURRENT_EVENT_VERSIONS.get(type_, 1),
        "sku": sku,
        "version": version,
        "occurred_at": at(minutes).isoformat(),
        "command_id": f"cmd-{sku}-{version}",
        "correlation_id": f"cmd-{sku}-{version}",
        "causation_id": f"cmd-{sku}-{version}",
        "data": data,
    }


def registered(version: int = 1, **kw: Any) -> dict[str, Any]:
    data = {
        "name": "Knife",
        "description": "",
        "brand": "Acme",
        "category_path": [],
        "attributes": {},
        "tags": [],
    }
    return event("ProductRegistered", version, data, **kw)


def price(
    version: int, amount: str, currency: str = "EUR", price_type: str = "regular", **kw: Any
) -> dict[str, Any]:
    data = {"amount": amount, "currency": currency, "price_type": price_type}
    return event("PriceChanged", version, data, **kw)


def stock(version: int, delta: int, quantity: int, **kw: Any) -> dict[str, Any]:
    return event(
        "StockAdjusted", version, {"delta": delta, "quantity": quantity, "reason": "x"}, **kw
    )


def discontinued(version: int, **kw: Any) -> dict[str, Any]:
    return event("ProductDiscontinued", version, {"reason": "end of line"}, **kw)


def positioned(*events: dict[str, Any], partition: int = 0) -> list[PositionedEvent]:
    return [PositionedEvent(e, partition, offset) for offset, e in enumerate(events)]


def eid(sku: str, version: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{sku}:{version}"))


# --- every event type -------------------------------------------------------------


def test_registered_creates_an_active_product() -> None:
    result = plan(positioned(registered(minutes=1)), {})
    assert result.products == [ProductUpsert("SKU-1", 1, "active", at(1))]
    assert (result.applied, result.skipped, result.invalid) == (1, 0, [])
    assert not (result.current_prices or result.history_rows or result.history_closes)


def test_details_update_only_advances_the_version_and_keeps_the_status() -> None:
    details = event("ProductDetailsUpdated", 2, {"name": "Knife 2"}, minutes=5)
    result = plan(positioned(details), {"SKU-1": 1})
    assert result.products == [ProductUpsert("SKU-1", 2, None, at(5))]
    assert not (result.current_prices or result.history_rows or result.stock)


def test_unknown_event_type_only_advances_the_version() -> None:
    result = plan(positioned(event("ProductImageAdded", 2, {"url": "x"})), {"SKU-1": 1})
    assert result.products == [ProductUpsert("SKU-1", 2, None, at(0))]
    assert result.applied == 1


def test_price_change_upserts_current_price_closes_previous_and_opens_interval() -> None:
    result = plan(positioned(price(2, "19.90", minutes=3)), {"SKU-1": 1})
    assert result.current_prices == [
        CurrentPriceUpsert(
            "SKU-1", "EUR", Decimal("19.90"), "regular", at(3), 2, regular_amount=Decimal("19.90")
        )
    ]
    assert result.history_closes == [HistoryClose("SKU-1", "EUR", at(3), 2)]
    assert result.history_rows == [
        HistoryRow("SKU-1", "EUR", Decimal("19.90"), "regular", at(3), None, eid("SKU-1", 2), 2)
    ]
    assert result.products == [ProductUpsert("SKU-1", 2, None, at(3))]


def test_stock_adjusted_sets_the_absolute_quantity() -> None:
    result = plan(positioned(stock(2, 5, 5), stock(3, -2, 3)), {"SKU-1": 1})
    assert result.stock == [StockSet("SKU-1", 3, 3)]
    assert result.products == [ProductUpsert("SKU-1", 3, None, at(0))]


def test_a_count_sets_the_absolute_quantity() -> None:
    """SetStock's StockAdjusted (v2, with counted_at): the same quantity, the same row."""
    count = stock(3, 2**40, 2**40 + 5)
    count["data"]["counted_at"] = "2025-06-01T02:00:00.000000Z"
    result = plan(positioned(stock(2, 5, 5), count), {"SKU-1": 1})
    assert result.stock == [StockSet("SKU-1", 2**40 + 5, 3)]


def test_discontinue_closes_all_intervals_and_deletes_current_prices() -> None:
    result = plan(positioned(discontinued(4, minutes=9)), {"SKU-1": 3})
    assert result.products == [ProductUpsert("SKU-1", 4, "discontinued", at(9))]
    assert result.history_closes == [HistoryClose("SKU-1", None, at(9), 4, ())]
    assert result.current_price_deletes == [CurrentPriceDelete("SKU-1", 4)]
    assert result.current_prices == []


# --- version guard -----------------------------------------------------------------


def test_events_at_or_below_the_applied_version_are_skipped() -> None:
    batch = positioned(registered(), price(2, "10"), stock(3, 4, 4))
    result = plan(batch, {"SKU-1": 2})
    assert result.skipped == 2
    assert result.applied == 1
    assert result.events["SKU-1"] == [batch[2]]
    assert result.current_prices == [] and result.history_rows == []


def test_duplicates_inside_the_batch_are_skipped_and_order_is_by_version() -> None:
    batch = positioned(price(3, "12", minutes=2), price(2, "10", minutes=1), price(2, "10"))
    result = plan(batch, {"SKU-1": 1})
    assert result.skipped == 1
    assert [e.event["version"] for e in result.events["SKU-1"]] == [2, 3]
    assert result.current_prices[0].amount == Decimal("12")


def test_fully_applied_batch_plans_nothing() -> None:
    batch = positioned(registered(), price(2, "10"), discontinued(3))
    result = plan(batch, {"SKU-1": 3})
    assert result.skipped == 3
    assert result.applied == 0
    assert result.products == [] and result.history_closes == []


# --- intervals inside one batch ---------------------------------------------------------


def test_several_price_changes_in_one_batch_chain_their_intervals() -> None:
    batch = positioned(
        registered(minutes=0),
        price(2, "10", minutes=1),
        price(3, "11", "USD", minutes=2),
        price(4, "12", minutes=3),
        price(5, "13", "EUR", "sale", minutes=4),
    )
    result = plan(batch, {})
    eur = [r for r in result.history_rows if r.currency == "EUR"]
    assert [(r.amount, r.valid_from, r.valid_to) for r in sorted(eur, key=lambda r: r.version)] == [
        (Decimal("10"), at(1), at(3)),
        (Decimal("12"), at(3), at(4)),
        (Decimal("13"), at(4), None),
    ]
    usd = [r for r in result.history_rows if r.currency == "USD"]
    assert [(r.valid_from, r.valid_to) for r in usd] == [(at(2), None)]
    # Only the first change of each currency closes the interval stored before the batch.
    assert result.history_closes == [
        HistoryClose("SKU-1", "EUR", at(1), 2),
        HistoryClose("SKU-1", "USD", at(2), 3),
    ]
    assert {(c.currency, c.amount, c.price_type) for c in result.current_prices} == {
        ("EUR", Decimal("13"), "sale"),
        ("USD", Decimal("11"), "regular"),
    }


def test_discontinue_in_batch_closes_batch_intervals_and_the_remaining_stored_ones() -> None:
    batch = positioned(
        price(5, "10", minutes=1), price(6, "9", minutes=2), discontinued(7, minutes=5)
    )
    result = plan(batch, {"SKU-1": 4})
    assert sorted((r.version, r.valid_from, r.valid_to) for r in result.history_rows) == [
        (5, at(1), at(2)),
        (6, at(2), at(5)),
    ]
    assert result.history_closes == [
        HistoryClose("SKU-1", "EUR", at(1), 5),
        HistoryClose("SKU-1", None, at(5), 7, ("EUR",)),
    ]
    assert result.current_prices == []
    assert result.current_price_deletes == [CurrentPriceDelete("SKU-1", 7)]
    assert result.products[0].status == "discontinued"


def test_out_of_order_clock_never_makes_a_negative_interval() -> None:
    result = plan(positioned(price(2, "10", minutes=5), price(3, "11", minutes=4)), {"SKU-1": 1})
    for row in result.history_rows:
        assert row.valid_to is None or row.valid_to >= row.valid_from


def test_skus_are_planned_independently() -> None:
    batch = positioned(price(2, "10", sku="A"), price(7, "20", sku="B"), stock(3, 1, 1, sku="A"))
    result = plan(batch, {"A": 1, "B": 6})
    assert sorted(result.events) == ["A", "B"]
    only_b = result.only(["B"])
    assert [p.sku for p in only_b.products] == ["B"]
    assert only_b.stock == [] and only_b.applied == 1


# --- malformed events -------------------------------------------------------------------


def test_malformed_event_fails_every_event_of_its_sku_in_the_batch() -> None:
    batch = positioned(
        price(2, "10", sku="A"),
        price(3, "1e5", sku="A"),  # not a contract amount
        price(2, "20", sku="B"),
    )
    result = plan(batch, {"A": 1, "B": 1})
    assert [e.event["version"] for e, _ in result.invalid] == [2, 3]
    assert all(e.event["sku"] == "A" for e, _ in result.invalid)
    assert "not a valid amount" in result.invalid[1][1]
    assert list(result.events) == ["B"]
    # A's version moves past its refused events; its status and time stay as stored.
    assert [(p.sku, p.version, p.status, p.updated_at) for p in result.products] == [
        ("A", 3, None, None),
        ("B", 2, None, result.products[1].updated_at),
    ]


def test_events_without_sku_or_version_or_offset_are_invalid() -> None:
    bad_time = price(1, "10")
    bad_time["occurred_at"] = "2025-06-01T12:00:00"  # no offset
    no_version = price(2, "10", sku="C")
    del no_version["version"]
    no_sku = price(2, "10")
    del no_sku["sku"]
    result = plan(positioned(bad_time, no_version, no_sku), {})
    reasons = sorted(reason for _, reason in result.invalid)
    assert len(reasons) == 3
    assert any("not an RFC 3339 date-time with an offset" in r for r in reasons)
    assert any("no sku" in r for r in reasons)
    assert any("version" in r for r in reasons)


def test_price_as_of_picks_the_last_change_at_or_before_t() -> None:
    history = plan(
        positioned(price(2, "10", minutes=1), price(3, "12", minutes=1), price(4, "15", minutes=3)),
        {"SKU-1": 1},
    ).history_rows
    assert price_as_of(history, "EUR", at(0)) is None
    found = price_as_of(history, "EUR", at(1))
    assert found is not None and found.amount == Decimal("12")  # same instant: the later version
    found = price_as_of(history, "EUR", at(2))
    assert found is not None and found.amount == Decimal("12")
    found = price_as_of(history, "EUR", at(3))
    assert found is not None and found.amount == Decimal("15")
    assert price_as_of(history, "USD", at(3)) is None


# --- properties -------------------------------------------------------------------------


class MemoryStore:
    """Executes plans the way sink.py's SQL does, to check plans across batches."""

    def __init__(self) -> None:
        self.versions: dict[str, int] = {}
        self.history: dict[tuple[str, int, str], HistoryRow] = {}
        self.current: dict[tuple[str, str], CurrentPriceUpsert] = {}

    def apply(self, batch: Sequence[PositionedEvent]) -> rows.Plan:
        planned = plan(batch, self.versions)
        for close in planned.history_closes:
            for key, row in self.history.items():
                if (
                    row.sku == close.sku
                    and row.valid_to is None
                    and row.version < close.version
                    and (close.currency is None or row.currency == close.currency)
                    and row.currency not in close.except_currencies
                ):
                    self.history[key] = replace(row, valid_to=max(row.valid_from, close.valid_to))
        for row in planned.history_rows:
            self.history.setdefault((row.sku, row.version, row.currency), row)
        for delete in planned.current_price_deletes:
            for price_key in [k for k in self.current if k[0] == delete.sku]:
                if self.current[price_key].version < delete.version:
                    del self.current[price_key]
        for upsert in planned.current_prices:
            stored = self.current.get((upsert.sku, upsert.currency))
            if stored is None or stored.version < upsert.version:
                self.current[(upsert.sku, upsert.currency)] = upsert
        for product in planned.products:
            if self.versions.get(product.sku, 0) < product.version:
                self.versions[product.sku] = product.version
        return planned


CURRENCIES = ("EUR", "USD", "GBP")

changes = st.lists(
    st.tuples(
        st.sampled_from(CURRENCIES),
        st.integers(min_value=1, max_value=10_000),  # amount in cents
        st.integers(min_value=1, max_value=120),  # minutes since the previous event
    ),
    min_size=1,
    max_size=25,
)


def build(price_changes: list[tuple[str, int, int]], discontinue: bool) -> list[dict[str, Any]]:
    out = [registered(1, minutes=0)]
    minutes = 0
    for version, (currency, cents, gap) in enumerate(price_changes, start=2):
        minutes += gap
        out.append(price(version, str(Decimal(cents) / 100), currency, minutes=minutes))
    if discontinue:
        out.append(discontinued(len(out) + 1, minutes=minutes + 1))
    return out


def split(events: list[dict[str, Any]], cuts: list[int]) -> list[list[PositionedEvent]]:
    batch = positioned(*events)
    bounds = sorted({c % (len(batch) + 1) for c in cuts} | {0, len(batch)})
    return [batch[a:b] for a, b in itertools.pairwise(bounds) if b > a]


@settings(max_examples=200, deadline=None)
@given(
    price_changes=changes,
    discontinue=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=40), max_size=5),
    redeliver=st.booleans(),
)
def test_intervals_are_contiguous_and_price_as_of_is_the_last_change(
    price_changes: list[tuple[str, int, int]],
    discontinue: bool,
    cuts: list[int],
    redeliver: bool,
) -> None:
    events = build(price_changes, discontinue)
    store = MemoryStore()
    for batch in split(events, cuts):
        store.apply(batch)
        if redeliver:  # at-least-once: the same batch again changes nothing
            again = store.apply(batch)
            assert again.applied == 0 and again.skipped == len(batch)

    # Same state as one batch: a rebuild ends where the live projection did.
    single = MemoryStore()
    single.apply(positioned(*events))
    assert single.history == store.history
    assert single.current == store.current

    history = list(store.history.values())
    assert len(history) == len(price_changes)
    discontinued_at = at(sum(gap for _, _, gap in price_changes) + 1)
    for currency in CURRENCIES:
        mine = sorted((r for r in history if r.currency == currency), key=lambda r: r.version)
        if not mine:
            assert price_as_of(history, currency, discontinued_at) is None
            continue
        for previous, following in itertools.pairwise(mine):
            assert previous.valid_to == following.valid_from  # contiguous, non-overlapping
            assert previous.valid_from <= previous.valid_to
        open_rows = [r for r in mine if r.valid_to is None]
        if discontinue:
            assert open_rows == []
            assert mine[-1].valid_to == discontinued_at
            assert (store.current.get(("SKU-1", currency))) is None
        else:
            assert open_rows == [mine[-1]]
            assert store.current[("SKU-1", currency)].version == mine[-1].version

        # "price as of t" = the last change of that currency at or before t
        for row in mine:
            for t in (row.valid_from, row.valid_from + timedelta(seconds=30)):
                expected = [r for r in mine if r.valid_from <= t]
                found = price_as_of(history, currency, t)
                if discontinue and t >= discontinued_at:
                    assert found is None
                else:
                    assert found is not None
                    assert found == expected[-1]
        before = mine[0].valid_from - timedelta(seconds=1)
        assert price_as_of(history, currency, before) is None


def test_a_float_amount_is_refused_not_rounded() -> None:
    bad = price(2, "10")
    bad["data"]["amount"] = 10.1
    result = plan(positioned(bad), {"SKU-1": 1})
    assert [reason for _, reason in result.invalid] == ["version 2: amount is not a decimal string"]


def test_a_version_gap_stops_the_skus_events_and_is_reported() -> None:
    events = [
        PositionedEvent(registered(1), 0, 10),
        PositionedEvent(event("StockAdjusted", 2, {"delta": 1, "quantity": 1}), 0, 11),
        PositionedEvent(event("StockAdjusted", 4, {"delta": 1, "quantity": 3}), 0, 13),
        PositionedEvent(event("StockAdjusted", 5, {"delta": 1, "quantity": 4}), 0, 14),
        PositionedEvent(event("StockAdjusted", 1, {"delta": 1, "quantity": 9}, sku="B"), 0, 15),
    ]
    planned = plan(events, {})
    assert planned.stock == [StockSet("SKU-1", 1, 2), StockSet("B", 9, 1)]
    assert [(g.event.offset, g.applied) for g in planned.gaps] == [(13, 2), (14, 2)]
    assert "SKU-1 is at version 2 in the read model, this event has version 4" in (
        planned.gaps[0].reason
    )
    # Against a store that holds version 3, the same events apply without a gap.
    assert plan(events[2:4], {"SKU-1": 3}).gaps == []
