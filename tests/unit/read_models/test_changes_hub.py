"""The change stream's pure parts: messages, filters, and the hub's fan-out and ids."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from read_models.changes.change import UNKNOWN, Change, Product, describe, product_after
from read_models.changes.filters import ChangeFilter, FilterError, parse_filter
from read_models.changes.hub import Hub, render, to_positions
from schemas.position_token import parse_token


def event(sku: str, kind: str = "PriceChanged", **data: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "sku": sku,
        "version": 3,
        "occurred_at": "2026-12-07T10:00:00Z",
        "event_id": "e",
        "data": data,
    }


SHOE = Product("Acme", ("Shoes", "Running"))


def change(partition: int, offset: int, sku: str = "A", currency: str = "EUR") -> Change:
    return describe(partition, offset, event(sku, amount="1.00", currency=currency), SHOE)


def test_a_message_is_the_event_s_change_with_the_product_s_brand_and_category() -> None:
    c = describe(1, 41, event("A", amount="9.99", currency="EUR", price_type="sale"), SHOE)
    body = orjson.loads(c.data)
    assert body["kind"] == "price" and body["position"] == "1:41"
    assert body["change"] == {"amount": "9.99", "currency": "EUR", "price_type": "sale"}
    assert body["brand"] == "Acme" and body["category_path"] == ["Shoes", "Running"]
    assert c.categories == {"Shoes", "Shoes/Running"} and c.currency == "EUR"


def test_registrations_and_details_teach_the_product_others_keep_it() -> None:
    registered = event("A", "ProductRegistered", brand="Acme", category_path=["Shoes"])
    assert product_after(None, registered) == Product("Acme", ("Shoes",))
    renamed = event("A", "ProductDetailsUpdated", brand="Bolt")
    assert product_after(Product("Acme", ("Shoes",)), renamed) == Product("Bolt", ("Shoes",))
    assert product_after(None, renamed) is None  # half known: ask the search read model
    assert product_after(SHOE, event("A", "StockAdjusted", delta=1)) == SHOE
    assert product_after(None, event("A")) is None and UNKNOWN.brand == ""


def test_filters_narrow_and_currency_keeps_changes_without_one() -> None:
    stock = describe(0, 1, event("A", "StockAdjusted", delta=1, quantity=2, reason="r"), SHOE)
    usd = change(0, 2, currency="USD")
    flt = ChangeFilter(currency="EUR", category="Shoes")
    assert flt.matches(stock) and not flt.matches(usd) and flt.matches(change(0, 3))
    assert not ChangeFilter(category="Shoes/Trail").matches(stock)
    assert ChangeFilter(kinds=frozenset({"stock"}), brands=frozenset({"Acme"})).matches(stock)
    assert not ChangeFilter(skus=frozenset({"B"})).matches(stock)


@pytest.mark.parametrize(
    ("params", "field", "rule"),
    [
        ({"colour": ["red"]}, "query.colour", "additionalProperties"),
        ({"kind": ["prices"]}, "query.kind", "enum"),
        ({"sku": ["bad sku!"]}, "query.sku", "pattern"),
        ({"currency": ["eur"]}, "query.currency", "pattern"),
        ({"currency": ["EUR", "USD"]}, "query.currency", "maxItems"),
        ({"category": ["a//b"]}, "query.category", "pattern"),
    ],
)
def test_a_bad_filter_names_its_parameter_and_rule(
    params: dict[str, list[str]], field: str, rule: str
) -> None:
    with pytest.raises(FilterError) as raised:
        parse_filter(params)
    assert (raised.value.field, raised.value.rule) == (field, rule)


def test_filters_parse_repeated_and_comma_separated_values() -> None:
    flt = parse_filter({"sku": ["A,B", "C"], "kind": ["price"], "category": ["/Shoes/Running/"]})
    assert flt.skus == {"A", "B", "C"} and flt.kinds == {"price"}
    assert flt.category == "Shoes/Running"


def test_ids_are_positions_after_the_change_and_resume_exactly_after_it() -> None:
    assert render([0, 5, 3]) == "1:4,2:2"
    assert to_positions(parse_token("1:4,2:2")) == {1: 5, 2: 3}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_each_subscriber_gets_its_matching_changes_once_in_order() -> None:
    async def scenario() -> None:
        hub = Hub(partitions=2, capacity=100, max_backlog=100)
        a = hub.join(ChangeFilter(skus=frozenset({"A"})), None)
        every = hub.join(ChangeFilter(), None)
        hub.publish([change(0, 0, "A"), change(1, 0, "B"), change(0, 1, "A")], {})
        assert [r.change.offset for r in a.take(10)] == [0, 1]
        got = every.take(10)
        assert [(r.change.partition, r.change.offset) for r in got] == [(0, 0), (1, 0), (0, 1)]
        assert [every.id_of(r) for r in got] == ["0:0", "0:0,1:0", "0:1,1:0"]
        assert not a.wake.is_set()

    run(scenario())


def test_a_resumed_subscriber_gets_what_it_missed_then_the_live_changes() -> None:
    async def scenario() -> None:
        hub = Hub(partitions=2, capacity=100, max_backlog=100)
        hub.publish([change(0, 0), change(1, 0, "B"), change(0, 1), change(1, 1, "B")], {})
        sub = hub.join(ChangeFilter(), to_positions(parse_token("0:0,1:0")))
        hub.publish([change(0, 2)], {})
        got = sub.take(10)
        assert [(r.change.partition, r.change.offset) for r in got] == [(0, 1), (1, 1), (0, 2)]
        assert [sub.id_of(r) for r in got] == ["0:1,1:0", "0:1,1:1", "0:2,1:1"]

    run(scenario())


def test_a_subscriber_ahead_of_this_process_skips_what_it_was_told_elsewhere() -> None:
    async def scenario() -> None:
        hub = Hub(partitions=2, capacity=100, max_backlog=100)
        hub.publish([change(0, 0)], {})
        sub = hub.join(ChangeFilter(), {0: 1, 1: 2})  # told 1:0 and 1:1 by another process
        hub.publish([change(1, 0, "B"), change(1, 1, "B"), change(1, 2, "B")], {})
        got = sub.take(10)
        assert [(r.change.partition, r.change.offset) for r in got] == [(1, 2)]
        assert sub.id_of(got[0]) == "0:0,1:2"

    run(scenario())


def test_a_position_older_than_the_buffer_is_read_back_first() -> None:
    hub = Hub(partitions=2, capacity=2, max_backlog=100)
    hub.begin_at([10, 0])
    hub.publish([change(0, 10), change(0, 11), change(0, 12)], {1: 4})
    assert hub.start == [11, 0] and hub.head == [13, 4]
    assert hub.behind({0: 5, 1: 4}) == {0: (5, 11)}
    assert hub.behind({0: 11}) == {}


def test_a_slow_subscriber_is_cut_off_and_the_others_go_on() -> None:
    async def scenario() -> None:
        hub = Hub(partitions=1, capacity=100, max_backlog=3)
        slow, fast = hub.join(ChangeFilter(), None), hub.join(ChangeFilter(), None)
        for offset in range(5):
            hub.publish([change(0, offset)], {})
            fast.take(10)
        assert slow.cut and not slow.queue and hub.cut_off == 1
        assert not fast.cut
        hub.leave(slow)
        hub.leave(fast)
        assert hub.subscribers == 0

    run(scenario())


def test_what_a_resumed_subscriber_missed_is_queued_whole_then_the_limit_applies() -> None:
    async def scenario() -> None:
        hub = Hub(partitions=1, capacity=100, max_backlog=3)
        hub.publish([change(0, offset) for offset in range(10)], {})
        sub = hub.join(ChangeFilter(), {0: 0})
        assert len(sub.queue) == 10 and not sub.cut
        assert len(sub.take(100)) == 10
        for offset in range(10, 15):
            hub.publish([change(0, offset)], {})
        assert sub.cut

    run(scenario())


def test_a_subscriber_that_takes_nothing_for_the_stall_time_is_cut_a_burst_is_not() -> None:
    async def scenario() -> None:
        hub = Hub(partitions=1, capacity=1000, max_backlog=1000, stall_s=0.05)
        stuck, busy = hub.join(ChangeFilter(), None), hub.join(ChangeFilter(), None)
        hub.publish([change(0, offset) for offset in range(500)], {})  # one burst
        assert not stuck.cut and not busy.cut
        busy.take(1000)
        await asyncio.sleep(0.1)
        hub.publish([change(0, 500)], {})
        assert stuck.cut and not busy.cut

    run(scenario())


def test_a_stalled_subscriber_is_cut_when_nothing_more_comes_for_it() -> None:
    async def scenario() -> None:
        hub = Hub(partitions=1, capacity=1000, max_backlog=1000, stall_s=0.05)
        stuck = hub.join(ChangeFilter(), None)
        hub.publish([change(0, 0)], {})
        await asyncio.sleep(0.1)
        hub.publish([], {0: 2})  # the tail's idle beat: no change
        assert stuck.cut

    run(scenario())
