"""The alert rules in a real Prometheus and Alertmanager (Debian's, started by the same
code as `eventcart stack up --monitoring`): under load, a stopped projection makes
EventcartProjectionBehind fire to Alertmanager, which POSTs it to a webhook; started
again, it resolves. The exporter measures the lag from Kafka, so the alert needs
nothing from the stopped worker.

Prometheus scrapes and evaluates every second here (EVENTCART_MONITORING_INTERVAL_S),
so the alert should fire about the rule's 30 s threshold + its `for: 30s` + two
intervals (a scrape, an evaluation) + Alertmanager's group wait after the stop: the
test prints how long it took (no timing is asserted; the waits are generous bounds).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ops.stack.monitoring import Alertmanager, Prometheus
from producers import commands as c
from producers.client import CommandClient
from schemas.config.settings import Settings
from tests.fixtures.load import wait_until
from tests.fixtures.workers import Worker, free_port_block, module_scope, settings_env

THRESHOLD_S, FOR_S = 30, 30
pytestmark = pytest.mark.timeout(600)


class Webhook:
    """Alertmanager's notifications, as (monotonic time received, alert status, labels)."""

    def __init__(self) -> None:
        self.received: list[tuple[float, str, dict[str, str]]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                for alert in body["alerts"]:
                    hook.received.append((time.monotonic(), alert["status"], alert["labels"]))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def first(self, status: str, alertname: str, role: str, after: float) -> float | None:
        for at, state, labels in self.received:
            if (
                at >= after
                and state == status
                and labels.get("alertname") == alertname
                and labels.get("role") == role
            ):
                return at
        return None


@pytest.fixture(scope="module")
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.server.shutdown()


@pytest.fixture(scope="module")
def module_settings(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory, webhook: Webhook
) -> Iterator[Settings]:
    """Ports of this module alone for the roles' metrics, the exporter, Prometheus and
    Alertmanager, so they never meet the stack's own monitoring."""
    yield from module_scope(
        settings,
        tmp_path_factory,
        exporter_port=free_port_block(1),
        prometheus_port=free_port_block(1),
        alertmanager_port=free_port_block(1),
        monitoring_interval_s=1,
        alert_webhook_url=webhook.url,
    )


@pytest.fixture(scope="module")
def monitoring(module_settings: Settings) -> Iterator[None]:
    services = [Alertmanager(module_settings), Prometheus(module_settings)]
    try:
        for service in services:
            if not service.installed():
                service.install()
            service.start()
        for service in services:
            service.wait()
        yield
    finally:
        for service in services:
            service.stop()


@pytest.fixture(scope="module")
def exporter(module_settings: Settings) -> Iterator[None]:
    log = (module_settings.home / "exporter.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ops.cli", "exporter"],
        env=settings_env(module_settings),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def prometheus_view(settings: Settings) -> dict[str, Any]:
    """What Prometheus has of the lag and the alerts, for a failure's message."""
    found: dict[str, Any] = {}
    for name, query in (
        ("behind", "eventcart_consumer_behind_seconds"),
        ("up", "up"),
        ("alerts", "ALERTS"),
    ):
        url = f"http://127.0.0.1:{settings.prometheus_port}/api/v1/query?query={query}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                result = json.loads(response.read())["data"]["result"]
        except OSError as exc:
            found[name] = str(exc)
            continue
        found[name] = [(r["metric"], r["value"][1]) for r in result]
    return found


def first_true(settings: Settings, query: str, since: float, until: float) -> float | None:
    """Unix time of the first 1 s step in [since, until] at which ``query`` has a value
    in Prometheus (None: never)."""
    params = urllib.parse.urlencode({"query": query, "start": since, "end": until, "step": 1})
    url = f"http://127.0.0.1:{settings.prometheus_port}/api/v1/query_range?{params}"
    with urllib.request.urlopen(url, timeout=5) as response:
        result = json.loads(response.read())["data"]["result"]
    stamps = [float(t) for series in result for t, _ in series["values"]]
    return min(stamps) if stamps else None


def steady_load(client: CommandClient, stop: threading.Event) -> None:
    """About 40 commands/s on 20 products until ``stop``."""
    i = 0
    while not stop.wait(0.25):
        client.send_batch([c.adjust_stock(f"AL-{(i + k) % 20}", 1) for k in range(10)])
        i += 10


@pytest.mark.long  # minutes: `make test-long`
def test_a_stopped_projection_fires_the_lag_alert_and_resolves_when_started(
    module_settings: Settings,
    make_worker: Callable[[str], Worker],
    monitoring: None,
    exporter: None,
    webhook: Webhook,
) -> None:
    make_worker("command-processor")
    search = make_worker("search-projection")
    make_worker("pricing-projection")
    stop = threading.Event()
    with CommandClient(module_settings) as client:
        client.send_batch([c.register_product(f"AL-{i}", "p") for i in range(20)], timeout_s=120)
        load = threading.Thread(target=steady_load, args=(client, stop), daemon=True)
        load.start()
        try:
            time.sleep(5)
            stopped, stopped_at = time.monotonic(), time.time()
            search.stop()
            deadline = time.monotonic() + THRESHOLD_S + FOR_S + 60
            while (
                webhook.first("firing", "EventcartProjectionBehind", "search-projection", stopped)
                is None
            ):
                assert time.monotonic() < deadline, (
                    "EventcartProjectionBehind not fired for the stopped search projection; "
                    f"Prometheus saw: {prometheus_view(module_settings)}"
                )
                time.sleep(1)
            fired = webhook.first(
                "firing", "EventcartProjectionBehind", "search-projection", stopped
            )
            assert fired is not None
            started, started_at = time.monotonic(), time.time()
            make_worker("search-projection")
            wait_until(
                lambda: (
                    webhook.first(
                        "resolved", "EventcartProjectionBehind", "search-projection", started
                    )
                    is not None
                ),
                120,
                "EventcartProjectionBehind resolved once the projection caught up",
            )
            resolved = webhook.first(
                "resolved", "EventcartProjectionBehind", "search-projection", started
            )
            assert resolved is not None
        finally:
            stop.set()
            load.join(timeout=30)
    # In Prometheus' own time: the rule's condition first true, the alert first firing,
    # the condition false again, the alert gone.
    behind = 'max(eventcart_consumer_behind_seconds{role="search-projection"})'
    now = time.time()
    over = first_true(module_settings, f"{behind} > {THRESHOLD_S}", stopped_at, now)
    firing = first_true(
        module_settings,
        'ALERTS{alertname="EventcartProjectionBehind",alertstate="firing"}',
        stopped_at,
        now,
    )
    back = first_true(module_settings, f"{behind} <= {THRESHOLD_S}", started_at, now)
    assert over is not None and firing is not None and back is not None
    interval = module_settings.monitoring_interval_s
    print(
        f"\nlag alert (scrape and evaluation every {interval} s, for: {FOR_S} s): condition "
        f"true {over - stopped_at:.1f} s after the stop; firing in Prometheus {firing - over:.1f} s "
        f"after that (for: + {firing - over - FOR_S:.1f} s); at the webhook "
        f"{fired - stopped:.1f} s after the stop. Started again: condition false after "
        f"{back - started_at:.1f} s, resolved at the webhook {resolved - started:.1f} s after "
        "the start"
    )
