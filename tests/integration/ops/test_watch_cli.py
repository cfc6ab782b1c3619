"""`eventcart watch` as its own process against the running system: real Kafka,
Elasticsearch and PostgreSQL, the three worker roles and the query API as processes.

Changes sent while it watches come out as JSON lines, in order; the id it prints
when it stops resumes exactly after the last change it printed; a restart of the
query API under it is bridged with nothing missed or repeated; a filter the API
refuses ends it with exit code 2 and the API's reason.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

import orjson
import pytest

from producers import commands as c
from producers.client import CommandClient
from schemas.config.settings import Settings
from tests.fixtures.apis import api_process
from tests.fixtures.load import wait_until
from tests.fixtures.read_models import wait_for_versions
from tests.fixtures.workers import cli, free_port_block, settings_env

RESUME = re.compile(r"resume with --after (\S+)")


@dataclass
class Watching:
    """A running `eventcart watch`: its output lines as they come, and its exit code."""

    proc: subprocess.Popen[str]
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
    readers: list[threading.Thread] = field(default_factory=list)

    def wait_subscribed(self) -> None:
        """Until it is subscribed: what is sent from now on reaches it."""
        wait_until(
            lambda: any("watching" in line for line in self.err) or self.proc.poll() is not None,
            120,
            "watch subscribed",
        )
        assert self.proc.poll() is None, self.err

    def finish(self, timeout_s: float = 120) -> int:
        code = self.proc.wait(timeout=timeout_s)
        for reader in self.readers:
            reader.join(timeout=10)
        return code

    def changes(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.out]

    def resume_id(self) -> str:
        found = RESUME.search(self.err[-1])
        assert found, self.err
        return found.group(1)


def _collect(stream: IO[str], into: list[str]) -> None:
    for line in stream:
        into.append(line.rstrip("\n"))


@contextmanager
def watching(settings: Settings, *args: str) -> Iterator[Watching]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ops.cli", "watch", *args],
        env=settings_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    running = Watching(proc)
    assert proc.stdout is not None and proc.stderr is not None
    for stream, into in ((proc.stdout, running.out), (proc.stderr, running.err)):
        reader = threading.Thread(target=_collect, args=(stream, into), daemon=True)
        reader.start()
        running.readers.append(reader)
    try:
        yield running
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def query_url(module_settings: Settings, system_client: CommandClient) -> Iterator[str]:
    port = free_port_block(1)
    with api_process(module_settings, "queries", port):
        yield f"http://127.0.0.1:{port}"


def register(client: CommandClient, settings: Settings, sku: str) -> None:
    assert client.send(c.register_product(sku, f"watched {sku}", brand="Marlow")).accepted
    wait_for_versions(settings, {sku: 1})


def test_changes_come_out_as_json_lines_in_order(
    module_settings: Settings, system_client: CommandClient, query_url: str
) -> None:
    register(system_client, module_settings, "WA-1")
    args = ("--sku", "WA-1", "--count", "2", "--json", "--url", query_url)
    with watching(module_settings, *args) as watch:
        watch.wait_subscribed()
        assert system_client.send(c.change_price("WA-1", "12.35", "EUR")).accepted
        assert system_client.send(c.adjust_stock("WA-1", 3, reason="restock")).accepted
        assert watch.finish() == 0, watch.err
    price, stock = watch.changes()
    assert (price["sku"], price["kind"], price["type"], price["version"]) == (
        "WA-1",
        "price",
        "PriceChanged",
        2,
    )
    assert price["change"] == {"amount": "12.35", "currency": "EUR", "price_type": "regular"}
    assert price["brand"] == "Marlow"
    assert (stock["kind"], stock["version"]) == ("stock", 3)
    assert stock["change"] == {"delta": 3, "quantity": 3, "reason": "restock"}
    assert RESUME.search(watch.err[-1]), watch.err


def test_after_resumes_right_after_the_last_change_printed(
    module_settings: Settings, system_client: CommandClient, query_url: str
) -> None:
    register(system_client, module_settings, "WA-2")
    with watching(module_settings, "--sku", "WA-2", "--count", "1", "--url", query_url) as first:
        first.wait_subscribed()
        for command in (
            c.change_price("WA-2", "10.00", "EUR"),
            c.adjust_stock("WA-2", 5, reason="restock"),
            c.change_price("WA-2", "8.50", "EUR", price_type="sale"),
        ):
            assert system_client.send(command).accepted
        assert first.finish() == 0, first.err
    assert re.fullmatch(r"\d\d:\d\d:\d\d  WA-2  price      EUR 10(\.0+)? \(regular\)", first.out[0])
    # the rest, read back from where the first one stopped: no gap, no repeat
    done = cli(
        module_settings,
        *("watch", "--sku", "WA-2", "--after", first.resume_id(), "--count", "2", "--json"),
        *("--url", query_url),
        timeout_s=120,
    )
    assert done.returncode == 0, done.stderr
    rest = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert [(m["kind"], m["version"]) for m in rest] == [("stock", 3), ("price", 4)]
    assert rest[1]["change"]["price_type"] == "sale"


def test_a_restart_of_the_api_is_bridged_with_nothing_missed_or_repeated(
    module_settings: Settings, system_client: CommandClient
) -> None:
    register(system_client, module_settings, "WA-3")
    port = free_port_block(1)
    url = f"http://127.0.0.1:{port}"
    args = ("--sku", "WA-3", "--count", "3", "--json", "--url", url)
    with ExitStack() as outer:
        with ExitStack() as first_api:
            first_api.enter_context(api_process(module_settings, "queries", port))
            w = outer.enter_context(watching(module_settings, *args))
            w.wait_subscribed()
            assert system_client.send(c.change_price("WA-3", "1.00", "EUR")).accepted
            wait_until(lambda: len(w.out) == 1, 60, "the first change printed")
        # the API is down: what happens now is read back once it is up again
        assert system_client.send(c.adjust_stock("WA-3", 2, reason="restock")).accepted
        with api_process(module_settings, "queries", port):
            assert system_client.send(c.change_price("WA-3", "2.00", "EUR")).accepted
            assert w.finish() == 0, w.err
    assert [m["version"] for m in w.changes()] == [2, 3, 4]
    assert any("reconnected" in line for line in w.err), w.err


def test_a_refused_filter_exits_2_with_the_apis_reason(
    module_settings: Settings, query_url: str
) -> None:
    done = cli(module_settings, "watch", "--sku", "not a sku", "--url", query_url, timeout_s=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--sku: 'not a sku' is not a SKU" in done.stderr
    done = cli(module_settings, "watch", "--kind", "colour", "--url", query_url, timeout_s=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--kind: kind 'colour' is not one of price, stock" in done.stderr
