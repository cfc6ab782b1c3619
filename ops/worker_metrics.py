"""What the workers on this host say about their stores, read from their /metrics.

Kafka tells `eventcart status` where each consumer stands and whether it moves;
only the worker knows *why* it does not: its store is refusing or stalling and
the batch in hand is being retried. Each role serves Prometheus metrics on its
own port (``EVENTCART_METRICS_PORT`` + an offset per role); this reads the
retries and how long the current batch has waited. Workers on other hosts are
seen through their own /metrics (scraped by Prometheus), not from here.
"""

from __future__ import annotations

import time
import urllib.request
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from schemas.config.settings import Settings
from streams.metrics import PORT_OFFSETS


@dataclass(frozen=True)
class StoreHealth:
    role: str
    retries: int  # batches retried since the worker started
    waiting_s: float  # how long the batch in hand has waited for its store (0: not)


def store_health(settings: Settings, role: str, timeout_s: float = 1.0) -> StoreHealth | None:
    """The role's store retries on this host, or None when no worker serves metrics."""
    url = f"http://127.0.0.1:{settings.metrics_port + PORT_OFFSETS[role]}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            text = response.read().decode()
    except OSError:
        return None
    retries, since = 0.0, 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("projection") != role:
                continue
            if sample.name == "eventcart_store_retries_total":
                retries = sample.value
            elif sample.name == "eventcart_store_waiting_since_seconds":
                since = sample.value
    return StoreHealth(role, int(retries), max(0.0, time.time() - since) if since else 0.0)
