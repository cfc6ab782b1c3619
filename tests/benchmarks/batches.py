"""How each role batched during a benchmark round, read from its own /metrics.

Latency under load is a batch's wait plus its own apply time; the roles export
both (``eventcart_batch_size``, ``eventcart_batch_seconds``), so a round's
batches per second, size and apply time are the difference of two scrapes.
"""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from schemas.config.settings import Settings
from streams.metrics import PORT_OFFSETS

__all__ = ["BatchMeter"]

_WANTED = {
    "eventcart_batch_size_count": "batches",
    "eventcart_batch_size_sum": "records",
    "eventcart_batch_seconds_sum": "seconds",
    "eventcart_transactions_total": "transactions",
}


def _scrape(port: int) -> dict[str, float]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
    except OSError:
        return {}
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = _WANTED.get(sample.name)
            if name == "transactions" and sample.labels.get("outcome") != "committed":
                continue
            if name is not None:
                found[name] = found.get(name, 0.0) + sample.value
    return found


class BatchMeter:
    """Batches per role between :meth:`start` and :meth:`report`."""

    def __init__(self, settings: Settings, roles: list[str]) -> None:
        self.ports = {role: settings.metrics_port + PORT_OFFSETS[role] for role in roles}
        self._before: dict[str, dict[str, float]] = {}

    def start(self) -> None:
        self._before = {role: _scrape(port) for role, port in self.ports.items()}

    def report(self, seconds: float) -> list[str]:
        lines = []
        for role, port in self.ports.items():
            after, before = _scrape(port), self._before.get(role, {})
            delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
            batches = delta.get("batches", 0.0) or delta.get("transactions", 0.0)
            if not batches:
                lines.append(f"    {role:<28} no batch seen (metrics on port {port})")
                continue
            records = delta.get("records", 0.0)
            size = f", {records / batches:.0f} records each" if records else ""
            spent = delta.get("seconds", 0.0)
            apply = f", {spent / batches * 1000:.1f} ms each" if spent else ""
            lines.append(f"    {role:<28} {batches / seconds:6.1f} batches/s{size}{apply}")
        return lines
