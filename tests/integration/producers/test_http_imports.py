"""`POST /imports` against the running system: `eventcart api commands` as its own
process (a real uvicorn, as `eventcart up` runs it, with the read models' catalog
view it is given there) on this module's topics, index and schema, with the
processor and both projections running.

A Merchant Center feed is uploaded and imported in the background; its report,
its refused rows and the pricing read model are checked; the same file again
sends nothing, a dry run sends nothing; a large upload is streamed to disk, not
held in memory."""

from __future__ import annotations

import contextlib
import subprocess
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import psycopg
import pytest
from pydantic import SecretStr

from producers.client import CommandClient
from schemas.config.settings import Settings
from tests.fixtures.apis import api_process
from tests.fixtures.read_models import pricing_rows, until, wait_for_versions
from tests.fixtures.workers import free_port_block

pytestmark = pytest.mark.services

TOKEN = "test-" + uuid.uuid4().hex
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SKUS = ["HTTP-FEED-1", "HTTP-FEED-2", "HTTP-FEED-3", "HTTP-FEED-4"]
FEED = (
    b"id\ttitle\tdescription\tbrand\tproduct_type\tprice\tquantity\n"
    b"HTTP-FEED-1\tTrail runner\tGrippy trail shoe\tAcme\tShoes > Running > Trail\t129.90 EUR\t14\n"
    b"HTTP-FEED-2\tRoad racer\tLight road shoe\tSwift\tShoes > Running > Road\t149.00 EUR\t3\n"
    b"HTTP-FEED-BAD\tBroken price\tA row to refuse\tAcme\tShoes\tabc\t1\n"
    b"HTTP-FEED-3\tMerino socks\tCushioned heel\tAcme\tApparel > Socks\t14.50 EUR\t120\n"
    b"HTTP-FEED-4\tRain jacket\tTaped seams\tNorth\tApparel > Jackets\t29.99 EUR\t7\n"
)
PRICES = {
    "HTTP-FEED-1": Decimal("129.90"),
    "HTTP-FEED-2": Decimal("149.00"),
    "HTTP-FEED-3": Decimal("14.50"),
    "HTTP-FEED-4": Decimal("29.99"),
}


@pytest.fixture(scope="module")
def api(
    module_settings: Settings, system_client: CommandClient
) -> Iterator[tuple[httpx.Client, subprocess.Popen[bytes]]]:
    """The command API process (its imports in the module's home), once the processor
    and both projections run (``system_client`` had its first answer)."""
    settings = module_settings.model_copy(update={"api_token": SecretStr(TOKEN)})
    port = free_port_block(1)
    with (
        api_process(settings, "commands", port) as process,
        httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=120) as client,
    ):
        yield client, process


@pytest.fixture
def client(api: tuple[httpx.Client, subprocess.Popen[bytes]]) -> httpx.Client:
    return api[0]


def upload(client: httpx.Client, body: Any = FEED, **params: Any) -> dict[str, Any]:
    response = client.post("/imports", content=body, params=params)
    assert response.status_code == 202, response.text
    accepted: dict[str, Any] = response.json()
    return accepted


def finished(client: httpx.Client, accepted: dict[str, Any], timeout_s: float = 180) -> Any:
    """Poll the status until the import ended; its report, having checked it is done."""
    deadline = time.monotonic() + timeout_s
    seen_progress = []
    while True:
        status = client.get(accepted["status_url"])
        assert status.status_code == 200, status.text
        body = status.json()
        seen_progress.append(body["report"]["bytes_read"])
        if body["status"] != "running":
            break
        assert time.monotonic() < deadline, f"still running after {timeout_s} s: {body}"
        time.sleep(0.1)
    assert (body["status"], body["error"]) == ("done", None), body
    assert body["finished_at"] >= body["started_at"]
    assert seen_progress == sorted(seen_progress)  # progress only moves forward
    return body["report"]


def _prices(settings: Settings) -> dict[str, Decimal]:
    rows = pricing_rows(settings, "current_price", SKUS)
    return {r["sku"]: r["regular_amount"] or r["amount"] for r in rows if r["currency"] == "EUR"}


def test_a_feed_uploaded_is_imported_once_and_again_sends_nothing(
    client: httpx.Client, module_settings: Settings
) -> None:
    accepted = upload(client)
    assert accepted["status"] == "running"
    assert accepted["status_url"] == f"/imports/{accepted['import_id']}"
    assert accepted["refused_url"] == f"/imports/{accepted['import_id']}/refused"
    report = finished(client, accepted)
    counts = {
        k: report[k] for k in ("rows", "registered", "price", "stock", "refused", "unchanged")
    }
    assert counts == {
        "rows": 5,
        "registered": 4,
        "price": 4,
        "stock": 4,
        "refused": 1,
        "unchanged": 0,
    }
    assert report["sent"] == report["answered"] == 12
    assert (report["dry_run"], report["file_error"]) == (False, None)
    assert report["bytes_read"] == report["bytes_total"] == len(FEED)
    assert report["position"]  # a read-your-writes token of what was accepted

    refused = client.get(accepted["refused_url"])
    assert refused.status_code == 200
    assert refused.headers["content-type"].startswith("text/csv")
    header, row = refused.text.splitlines()
    assert header == "line,column,field,rule,message"
    line, column, field, rule, message = row.split(",", 4)
    assert (line, column, field, rule) == ("4", "price", "price", "pattern")
    assert "abc" in message

    # the pricing read model shows the products at their prices
    until("the prices in pricing", lambda: _prices(module_settings) == PRICES, 90)
    # register, price, stock: version 3 in both read models, which the next import reads
    wait_for_versions(module_settings, dict.fromkeys(SKUS, 3))

    again = finished(client, upload(client))
    assert (again["unchanged"], again["refused"], again["sent"]) == (4, 1, 0)
    assert again["registered"] == again["price"] == again["stock"] == 0


def test_a_dry_run_counts_and_sends_nothing(
    client: httpx.Client, module_settings: Settings
) -> None:
    feed = FEED.replace(b"HTTP-FEED-", b"HTTP-DRY-")
    report = finished(client, upload(client, feed, dry_run=True))
    counts = {k: report[k] for k in ("registered", "price", "stock", "refused", "sent")}
    assert counts == {"registered": 4, "price": 4, "stock": 4, "refused": 1, "sent": 0}
    assert (report["dry_run"], report["answered"], report["position"]) == (True, 0, "")
    dry = [sku.replace("FEED", "DRY") for sku in SKUS]
    with contextlib.suppress(psycopg.errors.UndefinedTable):
        assert pricing_rows(module_settings, "product", dry) == []


def test_unknown_imports_are_404_and_every_route_needs_the_token(client: httpx.Client) -> None:
    unknown = "import-" + uuid.uuid4().hex
    assert client.get(f"/imports/{unknown}").status_code == 404
    assert client.get(f"/imports/{unknown}/refused").status_code == 404
    assert client.get("/imports/import-..").status_code == 422
    anonymous = {"Authorization": ""}
    assert client.post("/imports", content=FEED, headers=anonymous).status_code == 401
    assert client.get(f"/imports/{unknown}", headers=anonymous).status_code == 401
    wrong = {"Authorization": "Bearer wrong"}
    assert client.get(f"/imports/{unknown}/refused", headers=wrong).status_code == 401


def _peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_a_large_upload_is_streamed_to_disk_not_held_in_memory(
    api: tuple[httpx.Client, subprocess.Popen[bytes]],
) -> None:
    client, process = api
    size = 256 << 20

    def body() -> Iterator[bytes]:  # chunked: no Content-Length, as a pipe sends it
        yield b"id\ttitle\tprice\n"
        block = b"\xff" * (1 << 20)  # not UTF-8: the import stops at once
        for _ in range(size >> 20):
            yield block

    before = _peak_rss_kib(process.pid)
    report = finished(client, upload(client, body(), dry_run=True))
    grown_mib = (_peak_rss_kib(process.pid) - before) / 1024
    assert report["bytes_total"] == size + len(b"id\ttitle\tprice\n")
    assert report["refused"] >= 1
    assert grown_mib < 64, f"the API's peak memory grew by {grown_mib:.0f} MiB for 256 MiB"
