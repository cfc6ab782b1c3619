"""The processor stopped across several due instants and started two minutes later."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from producers import commands as c
from producers.client import CommandClient
from schemas.config.settings import Settings
from tests.fixtures.load import wait_until
from tests.fixtures.read_models import pricing_rows
from tests.fixtures.schedule_model import Step
from tests.fixtures.schedules import catalog, events, expected_steps, send_all, wait_for_steps
from tests.fixtures.workers import Worker


def test_outage_across_due_instants_applies_everything_once_in_order(
    module_settings: Settings, make_worker: Callable[[str], Worker]
) -> None:
    """Everything overdue takes effect at once, in the order of its instants; a sale
    whose whole window passed is missed (never shown); the history's valid_from is
    when a change took effect, planned_at when it was planned."""
    settings = module_settings
    processor = make_worker("command-processor")
    make_worker("pricing-projection")
    skus = [f"O-{i:03d}" for i in range(50)]
    with CommandClient(settings) as client:
        catalog(client, skus)
        t0 = datetime.now(UTC)

        def at(seconds: float) -> datetime:
            return t0 + timedelta(seconds=seconds)

        planned = []
        for sku in skus:
            planned += [
                c.schedule_price_change(sku, "early", "90.00", "EUR", at(20), ends_at=at(40)),
                c.schedule_price_change(sku, "rise", "101.00", "EUR", at(30)),
                c.schedule_price_change(sku, "long", "95.00", "EUR", at(50), ends_at=at(900)),
                c.schedule_price_change(sku, "usd", "130.00", "USD", at(60)),
            ]
        assert all(r.accepted for r in send_all(client, planned))
    processor.stop()
    stopped = datetime.now(UTC)
    assert stopped < at(20), "planning took so long that schedules were due"
    while datetime.now(UTC) < stopped + timedelta(minutes=2):
        time.sleep(0.2)
    processor.start()
    restarted = datetime.now(UTC)

    def fires_at(instant: datetime) -> datetime:
        return restarted if stopped <= instant < restarted else instant

    expected = expected_steps(settings, skus, at(60), fires_at)
    assert expected[skus[0]] == [
        Step("PriceChangeScheduleCancelled", "early", "missed", None, None),
        Step("PriceChanged", "rise", "start", Decimal("101.00"), "regular"),
        Step("PriceChanged", "long", "start", Decimal("95.00"), "sale"),
        Step("PriceChanged", "usd", "start", Decimal("130.00"), "regular"),
    ]
    wait_for_steps(settings, expected, timeout_s=120)
    fired = [e for e in events(settings) if str(e["command_id"]).startswith("schedule:")]
    assert len(fired) == 4 * len(skus)
    for event in fired:  # late: it took effect after the restart, and says when it was due
        took_effect = datetime.fromisoformat(event["occurred_at"])
        assert took_effect >= restarted - timedelta(seconds=1), event
        if "planned_at" in event["data"]:
            assert datetime.fromisoformat(event["data"]["planned_at"]) < stopped + timedelta(
                seconds=61
            )

    # The pricing history: valid_from is when customers were charged the price.
    def history_done() -> bool:
        rows = pricing_rows(settings, "price_history", skus)
        return sum(1 for r in rows if r.get("schedule_id")) == 3 * len(skus)

    wait_until(history_done, 120, "the pricing history of the steps")
    for row in pricing_rows(settings, "price_history", skus):
        if row.get("schedule_id"):
            assert row["valid_from"] >= restarted - timedelta(seconds=1), row
            assert row["planned_at"] < row["valid_from"], row
