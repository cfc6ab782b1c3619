"""`eventcart schedule` and `eventcart campaign` against the running system: a campaign
planned in Berlin time, moved (and moved again: nothing changes), another cancelled
half-way through its sale (the regular prices come back at once)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from producers import commands as c
from producers.client import CommandClient
from schemas.config.settings import Settings
from tests.fixtures.read_models import pricing_rows, until
from tests.fixtures.schedules import catalog, events
from tests.fixtures.workers import cli, run_cli

SKUS = [f"CMP-{i:02d}" for i in range(12)]
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(scope="module")
def priced(module_settings: Settings, system_client: CommandClient) -> list[str]:
    catalog(system_client, SKUS)
    return SKUS


def _rows(settings: Settings, campaign: str) -> list[dict[str, object]]:
    rows = pricing_rows(settings, "scheduled_price", SKUS)
    return [r for r in rows if r["campaign_id"] == campaign]


def _berlin(moment: datetime) -> str:
    return moment.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M")


def test_a_campaign_planned_in_berlin_time_is_listed_and_moved(
    module_settings: Settings, priced: list[str]
) -> None:
    settings = module_settings
    start = (datetime.now(UTC) + timedelta(days=2)).replace(second=0, microsecond=0)
    end = start + timedelta(days=3)
    out = run_cli(
        settings,
        "schedule",
        "add",
        *priced,
        "--amount",
        "79.00",
        "--currency",
        "EUR",
        "--from",
        _berlin(start),
        "--until",
        _berlin(end),
        "--tz",
        "Europe/Berlin",
        "--campaign",
        "weekend",
    )
    assert f"{len(priced)} SKUs: {len(priced)} accepted" in out
    until("the campaign in pricing", lambda: len(_rows(settings, "weekend")) == len(priced))
    assert {r["starts_at"] for r in _rows(settings, "weekend")} == {start}
    shown = run_cli(settings, "campaign", "show", "weekend", "--tz", "Europe/Berlin")
    assert f"{len(priced)} schedules over {len(priced)} SKUs" in shown
    assert f"planned {len(priced)}" in shown
    assert "weekend" in run_cli(settings, "campaign", "list")

    later, later_end = start + timedelta(days=7), end + timedelta(days=7)
    move = (
        "campaign",
        "move",
        "weekend",
        "--to",
        _berlin(later),
        "--until",
        _berlin(later_end),
        "--tz",
        "Europe/Berlin",
    )
    assert f"{len(priced)} accepted" in run_cli(settings, *move)
    until(
        "the move in pricing",
        lambda: {r["starts_at"] for r in _rows(settings, "weekend")} == {later},
    )
    versions = {e["sku"]: e["version"] for e in events(settings) if e["sku"] in priced}
    assert f"{len(priced)} accepted" in run_cli(settings, *move)  # again: nothing changes
    time.sleep(1)
    assert {e["sku"]: e["version"] for e in events(settings) if e["sku"] in priced} == versions


def test_a_campaign_cancelled_half_way_ends_its_sales_now(
    module_settings: Settings, priced: list[str]
) -> None:
    settings = module_settings
    start = datetime.now(UTC) + timedelta(seconds=3)
    run_cli(
        settings,
        "schedule",
        "add",
        *priced,
        "--amount",
        "49.00",
        "--currency",
        "EUR",
        "--from",
        start.isoformat(),
        "--until",
        (start + timedelta(hours=1)).isoformat(),
        "--id",
        "flash",
        "--campaign",
        "flash",
    )

    def statuses() -> set[object]:
        return {r["status"] for r in _rows(settings, "flash")}

    until("the flash sale running", lambda: statuses() == {"running"})
    half = priced[: len(priced) // 2]
    run_cli(settings, "schedule", "cancel", *half, "--id", "flash")
    out = run_cli(settings, "campaign", "cancel", "flash", "--reason", "sold out")
    assert f"{len(priced) - len(half)} accepted" in out
    until("the flash sale cancelled", lambda: statuses() == {"cancelled"})
    until(
        "the regular prices back",
        lambda: (
            {
                (r["amount"], r["price_type"])
                for r in pricing_rows(settings, "current_price", priced)
                if r["currency"] == "EUR"
            }
            == {(100, "regular")}
        ),
    )
    done = cli(settings, "campaign", "cancel", "flash")
    assert done.returncode == 0 and "nothing planned or running" in done.stdout


def test_a_time_the_clocks_skip_is_refused_and_nothing_is_sent(
    module_settings: Settings, priced: list[str]
) -> None:
    done = cli(
        module_settings,
        "schedule",
        "add",
        priced[0],
        "--amount",
        "1.00",
        "--from",
        "2027-03-28 02:30",
        "--tz",
        "Europe/Berlin",
    )
    assert done.returncode == 2
    assert "does not exist in Europe/Berlin" in done.stderr
    twice = cli(
        module_settings,
        "schedule",
        "add",
        priced[0],
        "--amount",
        "1.00",
        "--from",
        "2027-10-31 02:30",
        "--tz",
        "Europe/Berlin",
    )
    assert twice.returncode == 2 and "happens twice" in twice.stderr


def test_a_products_schedules_with_their_omnibus_reference(
    module_settings: Settings, system_client: CommandClient
) -> None:
    sku = "CMP-OMNI"
    catalog(system_client, [sku])
    start = datetime.now(UTC) + timedelta(days=40)
    week = datetime.now(UTC) + timedelta(days=30)
    assert system_client.send(
        c.schedule_price_change(sku, "week", "79.00", "EUR", week, ends_at=week + timedelta(days=2))
    ).accepted
    assert system_client.send(
        c.schedule_price_change(
            sku, "xmas", "59.00", "EUR", start, ends_at=start + timedelta(days=2)
        )
    ).accepted
    until(
        "the schedule in pricing",
        lambda: any(
            r["schedule_id"] == "xmas"
            for r in pricing_rows(module_settings, "scheduled_price", [sku])
        ),
    )
    out = run_cli(module_settings, "schedule", "list", sku)
    # the planned week at 79.00 lies in the 30 days before xmas: the prior price
    assert "lowest 30 d 79; a reduction" in out, out
