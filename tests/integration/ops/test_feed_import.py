"""`eventcart import` against the running system: feeds in each format imported end
to end and compared with a model written out by hand, a second import that sends
nothing, a feed with some rows changed that sends exactly those changes, an import
killed with -9 half-way and run again, and an import racing stock deliveries."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from producers import commands as c
from producers.client import CommandClient
from schemas.config.connections import postgres_conninfo
from schemas.config.settings import Settings
from tests.fixtures.feed_import import import_feed, printed_report
from tests.fixtures.read_models import pricing_rows, search_docs
from tests.fixtures.schedules import events, send_all
from tests.fixtures.workers import cli, settings_env

pytestmark = pytest.mark.services

HEADER_MC = "id\ttitle\tdescription\tbrand\tproduct_type\tprice\tsale_price\tsale_price_effective_date\tquantity\tcolor"


def _window(days: int) -> tuple[datetime, datetime]:
    start = (datetime.now(UTC) + timedelta(days=days)).replace(second=0, microsecond=0)
    return start, start + timedelta(days=3)


def _mc(start: datetime, end: datetime) -> str:
    return f"{start.strftime('%Y-%m-%dT%H:%M%z')}/{end.strftime('%Y-%m-%dT%H:%M%z')}"


def _events_of(settings: Settings, prefix: str) -> list[dict[str, Any]]:
    return [e for e in events(settings) if e["sku"].startswith(prefix)]


def _catalog(settings: Settings, skus: list[str]) -> dict[str, dict[str, Any]]:
    """What both read models show of each SKU, in the model's terms."""
    docs = search_docs(settings, skus)
    prices = {
        (r["sku"], r["currency"]): r["regular_amount"] or r["amount"]
        for r in pricing_rows(settings, "current_price", skus)
    }
    stock = {r["sku"]: r["quantity"] for r in pricing_rows(settings, "stock", skus)}
    sales = Counter(
        r["sku"]
        for r in pricing_rows(settings, "scheduled_price", skus)
        if r["status"] == "planned"
    )
    shown = {}
    for sku, doc in docs.items():
        shown[sku] = {
            "name": doc["name"],
            "description": doc["description"],
            "brand": doc["brand"],
            "category_path": doc["category_path"],
            "attributes": doc["attributes"],
            "stock": doc["stock"],
            "pg_stock": stock.get(sku, 0),
            "eur": str(prices[(sku, "EUR")].normalize()) if (sku, "EUR") in prices else None,
            "planned_sales": sales.get(sku, 0),
        }
    return shown


def _expected(
    name: str,
    *,
    description: str = "",
    brand: str = "",
    category: list[str] | None = None,
    attributes: dict[str, str] | None = None,
    stock: int = 0,
    eur: str | None = None,
    sales: int = 0,
) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "brand": brand,
        "category_path": category or [],
        "attributes": attributes or {},
        "stock": stock,
        "pg_stock": stock,
        "eur": eur,
        "planned_sales": sales,
    }


def test_feeds_in_each_format_give_the_catalog_the_model_says(
    module_settings: Settings, system_client: CommandClient, tmp_path: Path
) -> None:
    settings = module_settings
    start, end = _window(10)
    tsv = tmp_path / "merchant.tsv"
    tsv.write_text(
        HEADER_MC
        + "\n"
        + f'FI-T-0\tTrail 0\tGrippy, "rock plate"\tAcme\tShoes > Trail\t129.90 EUR\t99.90 EUR\t{_mc(start, end)}\t14\tred\n'
        + "FI-T-1\tTrail 1\t\tAcme\tShoes > Trail\t119.00 EUR\t\t\t0\tblue\n"
        + "FI-T-2\tTrail 2\tNo stock column value\t\tShoes\t15 EUR\t\t\t\t\n"
        + "FI-T-3\tBad price\t\t\tShoes\tfree\t\t\t1\t\n",
        encoding="utf-8",
    )
    csv_file = tmp_path / "plain.csv"
    csv_file.write_bytes(
        "\ufeffsku,name,description,category_path,price,currency,stock,tags\r\n".encode()
        + b'FI-C-0,Sock,"Merino, warm\r\nsecond line",Apparel/Socks,14.50,EUR,120,"wool,warm"\r\n'
        + "FI-C-1,Café mug,Ceramic,Home,9.99,EUR,7,\r\n".encode()
    )
    jsonl = tmp_path / "products.jsonl"
    jsonl.write_text(
        json.dumps(
            {
                "sku": "FI-J-0",
                "name": "Cap",
                "brand": "Swift",
                "price": "19.90",
                "currency": "EUR",
                "stock": 30,
            }
        )
        + "\n"
        + '{"sku": "FI-J-1", "name": "Visor", "price": 24.50, "currency": "EUR", "stock": 3, "color": "white"}\n',
        encoding="utf-8",
    )

    code, report, out = import_feed(settings, tsv)
    assert code == 1, out  # one row refused
    assert report == {
        **report,
        "rows": 4,
        "registered": 3,
        "price": 3,
        "stock": 1,
        "sale": 1,
        "refused": 1,
    }
    refused = (tmp_path / "merchant.tsv.refused.csv").read_text(encoding="utf-8").splitlines()
    assert refused[0] == "line,column,field,rule,message"
    assert refused[1].startswith("5,price,price,pattern,"), refused
    code, report, out = import_feed(settings, csv_file)
    assert (code, report["registered"], report["refused"]) == (0, 2, 0), out
    code, report, out = import_feed(settings, jsonl)
    assert (code, report["registered"], report["refused"]) == (0, 2, 0), out
    assert "not imported" not in out  # color is an attribute, not an unknown column

    model = {
        "FI-T-0": _expected(
            "Trail 0",
            description='Grippy, "rock plate"',
            brand="Acme",
            category=["Shoes", "Trail"],
            attributes={"color": "red"},
            stock=14,
            eur="129.9",
            sales=1,
        ),
        "FI-T-1": _expected(
            "Trail 1",
            brand="Acme",
            category=["Shoes", "Trail"],
            attributes={"color": "blue"},
            eur="119",
        ),
        "FI-T-2": _expected(
            "Trail 2", description="No stock column value", category=["Shoes"], eur="15"
        ),
        "FI-C-0": _expected(
            "Sock",
            description="Merino, warm\nsecond line",
            category=["Apparel", "Socks"],
            stock=120,
            eur="14.5",
        ),
        "FI-C-1": _expected(
            "Café mug", description="Ceramic", category=["Home"], stock=7, eur="9.99"
        ),
        "FI-J-0": _expected("Cap", brand="Swift", stock=30, eur="19.9"),
        "FI-J-1": _expected("Visor", attributes={"color": "white"}, stock=3, eur="24.5"),
    }
    shown = _catalog(settings, [*model, "FI-T-3"])
    assert shown == model
    docs = search_docs(settings, ["FI-C-0"])
    assert docs["FI-C-0"]["tags"] == ["wool", "warm"]

    # The same files again: nothing to send, nothing in the log.
    before = len(_events_of(settings, "FI-"))
    for feed in (tsv, csv_file, jsonl):
        _, report, out = import_feed(settings, feed)
        assert report["sent"] == 0, out
        assert report["unchanged"] == report["rows"] - report["refused"], out
    assert len(_events_of(settings, "FI-")) == before


def _bulk_feed(path: Path, skus: list[str], changed: dict[str, str] | None = None) -> None:
    """A plain CSV of products; ``changed`` maps a SKU to the one field its row changes."""
    lines = ["sku,name,category_path,price,currency,stock,sale_price,sale_starts,sale_ends"]
    start, end = _window(20)
    for n, sku in enumerate(skus):
        name, price, stock, sale = f"Product {n}", "10.00", str(n % 50), ("", "", "")
        what = (changed or {}).get(sku)
        if what == "name":
            name += " (new)"
        elif what == "price":
            price = "11.00"
        elif what == "stock":
            stock = str(n % 50 + 1000)
        elif what == "sale":
            sale = ("8.00", start.isoformat(), end.isoformat())
        lines.append(f"{sku},{name},Bulk,{price},EUR,{stock},{','.join(sale)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_a_feed_with_a_tenth_changed_sends_exactly_those_changes(
    module_settings: Settings, system_client: CommandClient, tmp_path: Path
) -> None:
    settings = module_settings
    skus = [f"FI-B-{n:04d}" for n in range(400)]
    feed = tmp_path / "bulk.csv"
    _bulk_feed(feed, skus)
    _, report, out = import_feed(settings, feed)
    assert (report["registered"], report["price"], report["refused"]) == (400, 400, 0), out
    before = {e["event_id"] for e in _events_of(settings, "FI-B-")}

    kinds = ("name", "price", "stock", "sale")
    changed = {sku: kinds[n % 4] for n, sku in enumerate(skus[::10])}  # 40 rows, 10 of each
    _bulk_feed(feed, skus, changed)
    dry = cli(settings, "import", str(feed), "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert printed_report(dry.stdout) == {
        **printed_report(dry.stdout),
        "details": 10,
        "price": 10,
        "stock": 10,
        "sale": 10,
        "unchanged": 360,
        "sent": 0,
    }
    assert len(_events_of(settings, "FI-B-")) == len(before)  # a dry run sends nothing
    _, report, out = import_feed(settings, feed)
    assert report == {
        **report,
        "details": 10,
        "price": 10,
        "stock": 10,
        "sale": 10,
        "unchanged": 360,
        "sent": 40,
        "refused": 0,
    }, out
    new = [e for e in _events_of(settings, "FI-B-") if e["event_id"] not in before]
    assert Counter(e["type"] for e in new) == {
        "ProductDetailsUpdated": 10,
        "PriceChanged": 10,
        "StockAdjusted": 10,
        "PriceChangeScheduled": 10,
    }
    assert {e["sku"] for e in new} == set(changed)


def _pricing_count(settings: Settings, prefix: str) -> int:
    try:
        with psycopg.connect(postgres_conninfo(settings)) as conn:
            query = sql.SQL("SELECT count(*) FROM {}.product WHERE sku LIKE %s").format(
                sql.Identifier(settings.pricing_schema)
            )
            row = conn.execute(query, [prefix + "%"]).fetchone()
    except psycopg.Error:
        return 0
    return int(row[0]) if row else 0


def test_an_import_killed_half_way_and_run_again_applies_nothing_twice(
    module_settings: Settings, system_client: CommandClient, tmp_path: Path
) -> None:
    settings = module_settings
    skus = [f"FI-K-{n:05d}" for n in range(6000)]
    feed = tmp_path / "kill.csv"
    _bulk_feed(feed, skus)
    process = subprocess.Popen(
        [sys.executable, "-m", "ops.cli", "import", str(feed)],
        env=settings_env(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 180
    while _pricing_count(settings, "FI-K-") < 600:
        assert process.poll() is None, "the import ended before it could be killed"
        assert time.monotonic() < deadline, "the import made no progress"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    half = _pricing_count(settings, "FI-K-")
    assert half < len(skus), "killed too late to prove anything"

    _, report, out = import_feed(settings, feed)
    assert report["refused"] == 0, out
    assert report["unchanged"] > 0, out  # what the first run did is not sent again
    logged = _events_of(settings, "FI-K-")
    per_sku = Counter(e["sku"] for e in logged)
    twice = {sku: n for sku, n in per_sku.items() if n != (3 if int(sku[5:]) % 50 else 2)}
    assert not twice, f"events applied twice or missing: {dict(list(twice.items())[:5])}"
    assert set(per_sku) == set(skus)
    for sku, row in _catalog(settings, skus[:50]).items():
        assert row["stock"] == int(sku[5:]) % 50 == row["pg_stock"]


def test_an_import_racing_stock_deliveries_ends_with_count_plus_later_deliveries(
    module_settings: Settings, system_client: CommandClient, tmp_path: Path
) -> None:
    """The rule: stock = the feed's count + every delivery accepted after it was counted."""
    settings = module_settings
    skus = [f"FI-R-{n:03d}" for n in range(300)]
    commands = []
    for sku in skus:
        commands += [c.register_product(sku, f"race {sku}"), c.adjust_stock(sku, 10)]
    assert all(r.accepted for r in send_all(system_client, commands))
    time.sleep(0.01)
    counted_at = datetime.now(UTC)  # the deliveries above are in the count ...
    time.sleep(0.01)
    feed = tmp_path / "race.csv"
    feed.write_text(
        "sku,name,stock\n" + "".join(f"{sku},race {sku},40\n" for sku in skus), encoding="utf-8"
    )

    answers: list[bool] = []

    def deliver() -> None:  # ... these are not: they happen during the import
        for _ in range(3):
            results = send_all(system_client, [c.adjust_stock(sku, 1) for sku in skus])
            answers.extend(r.accepted for r in results)

    racer = threading.Thread(target=deliver)
    racer.start()
    _, report, out = import_feed(settings, feed, "--counted-at", counted_at.isoformat())
    racer.join()
    assert all(answers) and len(answers) == 3 * len(skus)
    assert report["refused"] == 0, out
    deadline = time.monotonic() + 90
    while True:
        shown = _catalog(settings, skus)
        wrong = {
            s: (r["stock"], r["pg_stock"])
            for s, r in shown.items()
            if (r["stock"], r["pg_stock"]) != (43, 43)
        }
        if not wrong and len(shown) == len(skus):
            break
        assert time.monotonic() < deadline, (
            f"stock is not 40 + 3 later deliveries: {dict(list(wrong.items())[:5])}"
        )
        time.sleep(0.5)
