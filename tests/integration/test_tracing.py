"""One command, one trace: sent over HTTP with a W3C ``traceparent``, it is found in a
real Jaeger (v1.75.0, built from its Go module by the same code as `eventcart stack up
--tracing`) through Jaeger's own query API, with spans from the command API, the
command processor, the search write and the pricing write, each carrying the command's
SKU; and the processor's batch span links to it. A scheduled price change is in the
trace of the command that planned it: the processor's firing, the writes of the event
it fired, and its push to a change-stream subscriber.

Marked long: the first run builds Jaeger (minutes on two cores); `make test-long`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from ops.stack.jaeger import Jaeger
from producers import commands as c
from producers.client import CommandClient
from schemas.config.settings import Settings
from tests.fixtures.apis import api_process
from tests.fixtures.load import wait_until
from tests.fixtures.tracing import jaeger_running, tracing_ports
from tests.fixtures.workers import Worker, free_port_block, module_scope, settings_env

pytestmark = [pytest.mark.long, pytest.mark.timeout(1800)]

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SCHEDULE_TRACE_ID = "5a0c3e8f1b2d4c6e8a0b1c2d3e4f5a6b"
CALLER_SPAN = "00f067aa0ba902b7"


@pytest.fixture(scope="module")
def module_settings(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    ports = tracing_ports()
    yield from module_scope(
        settings,
        tmp_path_factory,
        **ports,
        tracing_endpoint=f"http://127.0.0.1:{ports['jaeger_otlp_port']}",
        tracing_sample_ratio=1.0,
        command_api_port=free_port_block(1),
    )


@pytest.fixture(scope="module")
def jaeger(module_settings: Settings) -> Iterator[Jaeger]:
    with jaeger_running(module_settings) as service:
        yield service


@pytest.fixture(scope="module")
def command_api(module_settings: Settings) -> Iterator[str]:
    log = (module_settings.home / "command-api.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ops.cli", "api", "commands"],
        env=settings_env(module_settings),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{module_settings.command_api_port}"
    wait_until(lambda: _answers(f"{url}/healthz"), 60, "the command API answering")
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


@pytest.fixture(scope="module")
def workers(module_settings: Settings, make_worker: Callable[[str], Worker]) -> None:
    for role in ("command-processor", "search-projection", "pricing-projection"):
        make_worker(role)
    # the processor ready (this process exports nothing: its client is not traced)
    with CommandClient(module_settings.model_copy(update={"tracing_endpoint": ""})) as client:
        client.send(c.register_product("TR-PROBE", "probe"), timeout_s=120)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def trace_of(jaeger: Jaeger, trace_id: str) -> dict[str, Any] | None:
    url = f"http://127.0.0.1:{jaeger.port}/api/traces/{trace_id}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            found = json.loads(response.read())["data"]
    except OSError:
        return None
    return found[0] if found else None


def services_and_operations(trace: dict[str, Any]) -> set[tuple[str, str]]:
    processes = {pid: p["serviceName"] for pid, p in trace["processes"].items()}
    return {(processes[s["processID"]], s["operationName"]) for s in trace["spans"]}


def wait_for_spans(jaeger: Jaeger, trace_id: str, wanted: set[tuple[str, str]]) -> None:
    seen: set[tuple[str, str]] = set()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        found = trace_of(jaeger, trace_id)
        seen = services_and_operations(found) if found else set()
        if wanted <= seen:
            return
        time.sleep(1)
    raise AssertionError(f"missing {sorted(wanted - seen)}; the trace has {sorted(seen)}")


def test_a_command_sent_over_http_is_one_trace_through_every_process(
    module_settings: Settings, workers: None, jaeger: Jaeger, command_api: str
) -> None:
    headers = {
        "Authorization": f"Bearer {module_settings.api_token.get_secret_value()}",
        "traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01",
    }
    body = {"sku": "TR-1", "data": {"name": "Traced", "brand": "Acme"}}
    answer = httpx.post(
        f"{command_api}/commands/register-product?timeout_s=60",
        json=body,
        headers=headers,
        timeout=130,
    )
    assert answer.status_code == 200, answer.text
    price = {"sku": "TR-1", "data": {"amount": "9.99", "currency": "EUR"}}
    httpx.post(
        f"{command_api}/commands/change-price?timeout_s=60", json=price, headers=headers, timeout=70
    )

    wanted = {
        ("eventcart-command-api", "POST /commands/RegisterProduct"),
        ("eventcart-command-api", "send RegisterProduct"),
        ("eventcart-command-processor", "decide RegisterProduct"),
        ("eventcart-search-projection", "search-projection write ProductRegistered"),
        ("eventcart-pricing-projection", "pricing-projection write ProductRegistered"),
    }

    wait_for_spans(jaeger, TRACE_ID, wanted)
    found = trace_of(jaeger, TRACE_ID)
    assert found is not None
    spans = found["spans"]
    assert all(s["traceID"] == TRACE_ID for s in spans)
    tags = {s["operationName"]: {t["key"]: t["value"] for t in s["tags"]} for s in spans}
    assert tags["decide RegisterProduct"]["eventcart.sku"] == "TR-1"
    assert tags["search-projection write ProductRegistered"]["eventcart.sku"] == "TR-1"
    # the caller's span is the API span's parent
    api = next(s for s in spans if s["operationName"] == "POST /commands/RegisterProduct")
    assert any(r["spanID"] == CALLER_SPAN for r in api["references"])
    # the processor's batch span, a trace of its own, links to the command's span
    query = "service=eventcart-command-processor&operation=process%20command%20batch&limit=50"
    url = f"http://127.0.0.1:{jaeger.port}/api/traces?{query}"
    with urllib.request.urlopen(url, timeout=5) as response:
        batches = json.loads(response.read())["data"]
    linked = {
        ref["traceID"]
        for batch in batches
        for span in batch["spans"]
        for ref in span["references"]
        if ref["refType"] == "FOLLOWS_FROM"
    }
    assert TRACE_ID in linked
    print(f"\ntrace {TRACE_ID}: {sorted(services_and_operations(found))}")


def test_a_scheduled_change_its_firing_and_its_push_are_in_the_planning_trace(
    module_settings: Settings, workers: None, jaeger: Jaeger, command_api: str
) -> None:
    headers = {
        "Authorization": f"Bearer {module_settings.api_token.get_secret_value()}",
        "traceparent": f"00-{SCHEDULE_TRACE_ID}-{CALLER_SPAN}-01",
    }
    token = {"Authorization": headers["Authorization"]}
    register = {"sku": "TR-2", "data": {"name": "Planned", "brand": "Acme"}}
    answer = httpx.post(
        f"{command_api}/commands/register-product?timeout_s=60",
        json=register,
        headers=token,
        timeout=70,
    )
    assert answer.status_code == 200, answer.text
    pushed: list[str] = []
    # the query API, its change stream followed for TR-2 while the schedule fires
    query_port = free_port_block(1)
    with api_process(module_settings, "queries", query_port):
        stop = threading.Event()

        def subscribe() -> None:
            url = f"http://127.0.0.1:{query_port}/changes"
            with httpx.stream("GET", url, params={"sku": "TR-2"}, timeout=None) as stream:
                for line in stream.iter_lines():
                    if line.startswith("data:") and '"PriceChanged"' in line:
                        pushed.append(line)
                    if stop.is_set() or pushed:
                        return

        reader = threading.Thread(target=subscribe, daemon=True)
        reader.start()
        starts_at = datetime.now(UTC) + timedelta(seconds=5)
        plan = {
            "sku": "TR-2",
            "data": {
                "schedule_id": "tr-plan-1",
                "amount": "7.50",
                "currency": "EUR",
                "starts_at": starts_at.isoformat().replace("+00:00", "Z"),
            },
        }
        answer = httpx.post(
            f"{command_api}/commands/schedule-price-change?timeout_s=60",
            json=plan,
            headers=headers,
            timeout=70,
        )
        assert answer.status_code == 200, answer.text
        reader.join(timeout=90)
        stop.set()
    assert pushed, "the subscriber was not told of the scheduled price"
    wanted = {
        ("eventcart-command-api", "POST /commands/SchedulePriceChange"),
        ("eventcart-command-processor", "decide SchedulePriceChange"),
        ("eventcart-command-processor", "fire schedule start"),
        ("eventcart-pricing-projection", "pricing-projection write PriceChanged"),
        ("eventcart-search-projection", "search-projection write PriceChanged"),
        ("eventcart-query-api", "push change PriceChanged"),
    }
    wait_for_spans(jaeger, SCHEDULE_TRACE_ID, wanted)
    found = trace_of(jaeger, SCHEDULE_TRACE_ID)
    assert found is not None
    tags = {s["operationName"]: {t["key"]: t["value"] for t in s["tags"]} for s in found["spans"]}
    assert tags["fire schedule start"]["eventcart.schedule_id"] == "tr-plan-1"
    assert tags["push change PriceChanged"]["eventcart.sku"] == "TR-2"
    print(f"\ntrace {SCHEDULE_TRACE_ID}: {sorted(services_and_operations(found))}")
