"""Event streams with scheduled prices, made by the real decider and the real firing.

:class:`Shop` sends commands through ``streams.catalog.decide`` and lets time
pass through ``streams.catalog.fire``, keeping every accepted event in order,
as the processor publishes them: the read-model tests project exactly what the
write side writes, never hand-made events.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from producers.commands import command
from read_models.projection import PositionedEvent
from schemas import timestamps
from streams.catalog import Accepted, Decision, ProductState, decide, evolve_all, fire

T0 = datetime(2025, 11, 1, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


class Shop:
    """Products, the commands sent to them and the time passing; ``events`` in order."""

    def __init__(self) -> None:
        self.states: dict[str, ProductState] = {}
        self.events: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def state(self, sku: str) -> ProductState:
        return self.states.get(sku, ProductState.empty(sku))

    def send(self, type_: str, sku: str, data: dict[str, Any], at: datetime) -> Decision:
        """Decide a command; its events are kept when it is accepted."""
        message = command(type_, sku, data, command_id=f"cmd-{next(self._ids)}", occurred_at=at)
        state = self.state(sku)
        decision = decide(message, state)
        if isinstance(decision, Accepted):
            self.states[sku] = evolve_all(state, decision.events)
            self.events.extend(decision.events)
        return decision

    def must(self, type_: str, sku: str, data: dict[str, Any], at: datetime) -> None:
        decision = self.send(type_, sku, data, at)
        assert isinstance(decision, Accepted), decision

    def tick(self, now: datetime) -> list[dict[str, Any]]:
        """What every product's due schedules publish at ``now``."""
        fired: list[dict[str, Any]] = []
        for sku in sorted(self.states):
            events = fire(self.states[sku], timestamps.format_utc(now))
            self.states[sku] = evolve_all(self.states[sku], events)
            fired.extend(events)
        self.events.extend(fired)
        return fired

    # --- the commands, briefly ---------------------------------------------------
    def register(self, sku: str, at: datetime = T0) -> None:
        self.must("RegisterProduct", sku, {"name": f"Product {sku}"}, at)

    def price(
        self,
        sku: str,
        amount: str,
        at: datetime,
        currency: str = "EUR",
        price_type: str = "regular",
    ) -> None:
        data = {"amount": amount, "currency": currency, "price_type": price_type}
        self.must("ChangePrice", sku, data, at)

    def sale(
        self,
        sku: str,
        schedule_id: str,
        amount: str,
        starts: datetime,
        ends: datetime,
        at: datetime,
        currency: str = "EUR",
        campaign: str | None = None,
    ) -> Decision:
        data: dict[str, Any] = {
            "schedule_id": schedule_id,
            "currency": currency,
            "amount": amount,
            "price_type": "sale",
            "starts_at": timestamps.format_utc(starts),
            "ends_at": timestamps.format_utc(ends),
        }
        if campaign is not None:
            data["campaign_id"] = campaign
        return self.send("SchedulePriceChange", sku, data, at)

    def regular(
        self,
        sku: str,
        schedule_id: str,
        amount: str,
        starts: datetime,
        at: datetime,
        currency: str = "EUR",
        campaign: str | None = None,
    ) -> Decision:
        data: dict[str, Any] = {
            "schedule_id": schedule_id,
            "currency": currency,
            "amount": amount,
            "starts_at": timestamps.format_utc(starts),
        }
        if campaign is not None:
            data["campaign_id"] = campaign
        return self.send("SchedulePriceChange", sku, data, at)

    def cancel(
        self, sku: str, schedule_id: str, at: datetime, reason: str | None = None
    ) -> Decision:
        data: dict[str, Any] = {"schedule_id": schedule_id}
        if reason is not None:
            data["reason"] = reason
        return self.send("CancelScheduledPriceChange", sku, data, at)

    def discontinue(self, sku: str, at: datetime) -> None:
        self.must("DiscontinueProduct", sku, {}, at)

    def positioned(self, partition: int = 0) -> list[PositionedEvent]:
        return [PositionedEvent(e, partition, offset) for offset, e in enumerate(self.events)]


def black_friday() -> Shop:
    """One product's year of schedules: every kind of event, and each way a schedule ends.

    A sale replaced before it starts; a regular rise planned inside it (only the
    regular price changes, the sale ends with it); a second currency; a sale
    cancelled before it starts (with a note), one cancelled while it runs (the
    regular price comes back), one missed (the processor was down for its whole
    window); a regular price sent while a sale runs; back-to-back sales;
    finally a discontinue that cancels what is still planned.
    """
    shop = Shop()
    sku = "KNIFE-1"
    shop.register(sku, day(0))
    shop.price(sku, "49.90", day(0.1))
    shop.price(sku, "55.00", day(0.1), currency="USD")
    shop.must("AdjustStock", sku, {"delta": 4}, day(0.2))
    assert isinstance(
        shop.sale(sku, "bf", "39.90", day(26), day(30), day(1), campaign="bf-25"), Accepted
    )
    assert isinstance(
        shop.sale(sku, "bf", "37.90", day(26), day(30), day(2), campaign="bf-25"), Accepted
    )
    assert isinstance(shop.regular(sku, "rise", "54.90", day(28), day(2)), Accepted)
    assert isinstance(
        shop.sale(sku, "bf-usd", "45.00", day(26), day(30), day(2), "USD", "bf-25"), Accepted
    )
    shop.tick(day(26) + timedelta(seconds=1))
    shop.tick(day(28) + timedelta(milliseconds=120))  # the rise: regular price only
    shop.tick(day(30))  # both sales end: EUR at the new regular price
    assert isinstance(shop.sale(sku, "xmas", "44.90", day(50), day(57), day(31)), Accepted)
    assert isinstance(shop.cancel(sku, "xmas", day(32), "stock too low"), Accepted)
    assert isinstance(shop.sale(sku, "jan", "50.00", day(62), day(69), day(33)), Accepted)
    shop.tick(day(62))
    shop.price(sku, "56.90", day(63))  # while the sale runs: the regular price only
    assert isinstance(shop.cancel(sku, "jan", day(64)), Accepted)  # back to 56.90 now
    assert isinstance(shop.sale(sku, "feb", "45.00", day(93), day(100), day(65)), Accepted)
    shop.tick(day(120))  # down for the whole window: missed
    assert isinstance(shop.sale(sku, "a", "40.00", day(130), day(140), day(121)), Accepted)
    assert isinstance(shop.sale(sku, "b", "42.00", day(140), day(150), day(121)), Accepted)
    shop.tick(day(130))
    shop.tick(day(140))  # a ends, b starts, one instant
    shop.tick(day(150))
    assert isinstance(shop.sale(sku, "c", "30.00", day(200), day(210), day(151), "USD"), Accepted)
    assert isinstance(shop.regular(sku, "later", "60.00", day(220), day(151)), Accepted)
    shop.discontinue(sku, day(160))
    return shop
