"""Scheduled prices end to end with the real processor and both projections:
a sale seconds ahead starts and ends by itself; a regular price changed while a
sale runs is what it returns to; a sale cancelled while it runs ends now;
discontinuing cancels; every refusal names its reason."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from producers import commands as c
from producers.client import CommandClient
from schemas.config.settings import Settings
from tests.fixtures.read_models import pricing_rows, search_docs, wait_for_versions
from tests.fixtures.schedules import events


@pytest.fixture(scope="module")
def client(module_settings: Settings, system_client: CommandClient) -> Iterator[CommandClient]:
    yield system_client


def _priced(client: CommandClient, sku: str, amount: str = "50.00") -> None:
    assert client.send(c.register_product(sku, f"product {sku}")).accepted
    assert client.send(c.change_price(sku, amount, "EUR")).accepted


def _soon(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def _steps(settings: Settings, sku: str) -> list[tuple[str, str, str]]:
    """(type, schedule step or reason, amount) of what schedules published for ``sku``."""
    return [
        (
            e["type"],
            e["data"].get("schedule_step") or e["data"].get("reason", ""),
            e["data"].get("amount", ""),
        )
        for e in sorted(events(settings), key=lambda e: e["version"])
        if e["sku"] == sku and str(e["command_id"]).startswith("schedule:")
    ]


def _price_everywhere(settings: Settings, sku: str, version: int) -> tuple[str, str, str, str]:
    """(amount, type) of EUR in PostgreSQL and in the search document, once both are
    at ``version``."""
    wait_for_versions(settings, {sku: version})
    (row,) = [r for r in pricing_rows(settings, "current_price", [sku]) if r["currency"] == "EUR"]
    doc = search_docs(settings, [sku])[sku]["prices"]["EUR"]
    return (f"{row['amount']:.2f}", row["price_type"], doc["amount_text"], doc["price_type"])


def _wait_version(client: CommandClient, settings: Settings, sku: str, version: int) -> None:
    deadline = time.monotonic() + 60
    while max((e["version"] for e in events(settings) if e["sku"] == sku), default=0) < version:
        assert time.monotonic() < deadline, f"{sku} never reached version {version}"
        time.sleep(0.2)


def test_a_sale_a_few_seconds_ahead_starts_and_ends_by_itself(
    client: CommandClient, module_settings: Settings
) -> None:
    sku = "SCH-1"
    _priced(client, sku)
    result = client.send(
        c.schedule_price_change(sku, "flash", "39.90", "EUR", _soon(3), ends_at=_soon(7))
    )
    assert result.accepted and result.version == 3
    _wait_version(client, module_settings, sku, 4)
    assert _price_everywhere(module_settings, sku, 4) == ("39.90", "sale", "39.90", "sale")
    _wait_version(client, module_settings, sku, 5)
    assert _price_everywhere(module_settings, sku, 5) == ("50.00", "regular", "50.00", "regular")
    assert _steps(module_settings, sku) == [
        ("PriceChanged", "start", "39.90"),
        ("PriceChanged", "end", "50.00"),
    ]


def test_a_regular_price_changed_during_a_sale_is_what_it_returns_to(
    client: CommandClient, module_settings: Settings
) -> None:
    sku = "SCH-2"
    _priced(client, sku)
    assert client.send(
        c.schedule_price_change(sku, "s", "30.00", "EUR", _soon(2), ends_at=_soon(8))
    ).accepted
    _wait_version(client, module_settings, sku, 4)
    during = client.send(c.change_price(sku, "55.00", "EUR"))
    assert during.accepted and during.version == 5
    assert _price_everywhere(module_settings, sku, 5) == ("30.00", "sale", "30.00", "sale")
    _wait_version(client, module_settings, sku, 6)
    assert _price_everywhere(module_settings, sku, 6) == ("55.00", "regular", "55.00", "regular")


def test_a_sale_cancelled_while_it_runs_ends_now(
    client: CommandClient, module_settings: Settings
) -> None:
    sku = "SCH-3"
    _priced(client, sku)
    assert client.send(
        c.schedule_price_change(sku, "s", "30.00", "EUR", _soon(1), ends_at=_soon(3600))
    ).accepted
    _wait_version(client, module_settings, sku, 4)
    cancelled = client.send(c.cancel_scheduled_price_change(sku, "s", reason="sold out"))
    assert cancelled.accepted and cancelled.version == 6
    assert _price_everywhere(module_settings, sku, 6) == ("50.00", "regular", "50.00", "regular")
    again = client.send(c.cancel_scheduled_price_change(sku, "s"))
    assert (again.accepted, again.reason) == (False, "schedule_not_found")


def test_refusals_name_their_reason_and_change_nothing(
    client: CommandClient, module_settings: Settings
) -> None:
    sku = "SCH-4"
    _priced(client, sku)
    start, end = _soon(3600), _soon(7200)
    assert client.send(
        c.schedule_price_change(sku, "a", "40.00", "EUR", start, ends_at=end)
    ).accepted
    refused = {
        "schedule_overlap": c.schedule_price_change(
            sku, "b", "41.00", "EUR", start + timedelta(minutes=5), ends_at=end
        ),
        "schedule_in_past": c.schedule_price_change(sku, "c", "41.00", "EUR", _soon(-3600)),
        "schedule_window": c.schedule_price_change(sku, "d", "41.00", "EUR", end, ends_at=start),
        "no_regular_price": c.schedule_price_change(sku, "e", "41.00", "USD", start, ends_at=end),
        "schedule_not_found": c.cancel_scheduled_price_change(sku, "zzz"),
        "not_found": c.schedule_price_change("SCH-NOPE", "a", "1.00", "EUR", start),
    }
    for reason, command in refused.items():
        result = client.send(command)
        assert (result.accepted, result.reason) == (False, reason), result
        assert result.message
    assert max(e["version"] for e in events(module_settings) if e["sku"] == sku) == 3
    # discontinuing cancels the pending sale; a discontinued product takes no schedule
    gone = client.send(c.discontinue_product(sku))
    assert gone.accepted and gone.version == 5
    assert [e["type"] for e in events(module_settings) if e["sku"] == sku][-2:] == [
        "PriceChangeScheduleCancelled",
        "ProductDiscontinued",
    ]
    late = client.send(c.schedule_price_change(sku, "z", "1.00", "EUR", start))
    assert (late.accepted, late.reason) == (False, "discontinued")
