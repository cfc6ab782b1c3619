"""`eventcart exporter`: lag as time, members, dead letters and stuck imports for Prometheus."""

from __future__ import annotations

import signal
import threading

from prometheus_client import CollectorRegistry, start_http_server
from rich.console import Console

from ops.exporter import SystemCollector
from schemas.config.settings import get_settings

console = Console()


def exporter() -> None:
    """Serve Prometheus metrics that no worker can give about itself, read from Kafka.

    Per role and partition: lag in records and as time (the age of the oldest
    record not consumed), the committed offset, the workers in its group and
    its dead letters; and the feed imports running and how long the slowest
    has made no progress. A projection that is stopped or stuck still shows
    here, growing older: the alert rules of ops/monitoring/alerts.yml read it.
    Served on 127.0.0.1:EVENTCART_EXPORTER_PORT/metrics (9399); `eventcart up`
    starts it.
    """
    settings = get_settings()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SystemCollector(settings))
    start_http_server(settings.exporter_port, addr="127.0.0.1", registry=registry)
    console.print(f"exporter: http://127.0.0.1:{settings.exporter_port}/metrics")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
