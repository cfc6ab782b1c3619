"""A feed with a tenth of its rows changed, until both read models show it, against
sending only those changed commands directly.

Two identical catalogs (A and B) are loaded by importing the same feed. Then A
gets the changed feed through the importer (read every row, look every product
up in the read models, diff, send, wait), and B gets the same changes as
commands built by hand and sent straight to the commands topic (the ceiling: the
least any client could send). Both are timed until both read models show the
last change. Target: the import within 1.2x of the direct send.
Products: EVENTCART_BENCH_PRODUCTS (default 1,000,000; the load alone takes a
while). Run: `pytest -m benchmark -s tests/benchmarks/test_feed_import_e2e.py`.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ops.catalog_view import ReadModelCatalog
from producers import commands as c
from producers.client import CommandClient
from producers.feeds.importer import ImportOptions, ImportReport, run_import
from schemas.config.settings import Settings
from schemas.position_token import format_token
from tests.benchmarks.profiling import py_spy, top_frames
from tests.fixtures.workers import ALL_ROLES, Worker

pytestmark = [pytest.mark.benchmark, pytest.mark.services, pytest.mark.timeout(4 * 3600)]

PRODUCTS = int(os.environ.get("EVENTCART_BENCH_PRODUCTS", "1000000"))
START = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
END = START + timedelta(days=3)
KINDS = ("price", "stock", "name", "sale")


def _change(n: int) -> str | None:
    return KINDS[(n // 10) % 4] if n % 10 == 0 else None


def write_feed(path: Path, prefix: str, changed: bool) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write("sku,name,category_path,price,currency,stock,sale_price,sale_starts,sale_ends\n")
        for n in range(PRODUCTS):
            what = _change(n) if changed else None
            name = f"Product {n}" + (" (new)" if what == "name" else "")
            price = "11.00" if what == "price" else "10.00"
            stock = n % 50 + (1000 if what == "stock" else 0)
            sale = f"8.00,{START.isoformat()},{END.isoformat()}" if what == "sale" else ",,"
            f.write(f"{prefix}{n:07d},{name},Bench > Feeds,{price},EUR,{stock},{sale}\n")


def direct_commands(prefix: str, counted_at: datetime) -> list[dict[str, Any]]:
    """The changed rows' commands, built by hand as a service would send them."""
    out = []
    for n in range(0, PRODUCTS, 10):
        sku, what = f"{prefix}{n:07d}", _change(n)
        if what == "price":
            out.append(c.change_price(sku, "11.00", "EUR"))
        elif what == "stock":
            data = {"quantity": n % 50 + 1000, "counted_at": counted_at.isoformat()}
            out.append(c.command("SetStock", sku, data))
        elif what == "name":
            out.append(c.update_product_details(sku, name=f"Product {n} (new)"))
        else:
            out.append(c.schedule_price_change(sku, "feed-x", "8.00", "EUR", START, ends_at=END))
    return out


def imported(
    settings: Settings, client: CommandClient, feed: Path, counted_at: datetime
) -> ImportReport:
    with ReadModelCatalog(settings) as catalog:
        report = run_import(feed, catalog, client, ImportOptions(counted_at=counted_at))
        assert report.refused == 0, report
        assert not catalog.wait_shown(report.position, 1800)
    return report


def timed(run: Callable[[], object]) -> float:
    began = time.perf_counter()
    run()
    return time.perf_counter() - began


def test_changed_feed_against_direct_commands(
    module_settings: Settings, make_worker: Callable[[str], Worker], tmp_path: Path
) -> None:
    for role in ALL_ROLES:
        make_worker(role)
    settings = module_settings
    counted_at = datetime.now(UTC)
    with CommandClient(settings) as client:
        client.send(c.register_product("PROBE", "probe"), timeout_s=120)
        loads = {}
        for prefix in ("A", "B"):
            feed = tmp_path / f"{prefix}.csv"
            write_feed(feed, prefix, changed=False)
            began = time.perf_counter()
            imported(settings, client, feed, counted_at)
            loads[prefix] = time.perf_counter() - began
        changed = tmp_path / "A-changed.csv"
        write_feed(changed, "A", changed=True)
        report: list[ImportReport] = []
        spy = py_spy(os.getpid(), 600, tmp_path / "import.txt")
        time.sleep(1)  # py-spy attached
        ours = timed(lambda: report.append(imported(settings, client, changed, counted_at)))
        spy.send_signal(signal.SIGINT)  # py-spy writes what it has and ends
        spy.wait(timeout=60)
        commands = direct_commands("B", counted_at)

        def direct() -> None:
            futures = [client.submit(command) for command in commands]
            client.flush()
            positions = [
                (p.partition, p.offset) for f in futures for p in f.result(timeout=600).positions
            ]
            with ReadModelCatalog(settings) as catalog:
                assert not catalog.wait_shown(format_token(positions), 1800)

        ceiling = timed(direct)
    r = report[0]
    print(
        f"\nfeed import, {PRODUCTS:,} rows, a tenth changed ({r.sent:,} commands:"
        f" {r.price:,} price, {r.stock:,} stock, {r.details:,} details, {r.sale:,} sale),"
        " until both read models show it:"
        f"\n  first load of each catalog (import): {loads['A']:.1f} s, {loads['B']:.1f} s"
        f" ({PRODUCTS / loads['A']:,.0f} rows/s)"
        f"\n  import of the changed feed:   {ours:8.1f} s"
        f"\n  the {len(commands):,} commands sent directly: {ceiling:8.1f} s  (ceiling)"
        f"\n  ratio: {ours / ceiling:.2f} (target <= 1.2)"
        "\n  py-spy --gil, the import's process, own time:\n"
        + "\n".join(top_frames((tmp_path / "import.txt").read_text(), 10))
    )
