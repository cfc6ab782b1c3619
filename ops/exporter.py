"""`eventcart exporter`: what Prometheus needs to know that no worker can say about itself.

A projection that is stopped, crashed or stuck serves no metrics, so its own
gauges cannot raise the alarm that it is falling behind. This process reads
the same things as `eventcart status`, from Kafka alone (committed offsets of
each role's group, ends of the topics, the timestamp of the oldest record not
consumed) and from the imports' status files under the home, on each scrape,
and serves them as Prometheus metrics. One per deployment is enough; it holds
no state and may be restarted at any time (Kafka Connect's and Burrow's lag
exporters play the same part).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ops import status
from producers.http_imports import busy, read_status
from schemas.config.settings import Settings

__all__ = ["SystemCollector", "import_idle_seconds"]

log = logging.getLogger(__name__)


def import_idle_seconds(root: Path, now: float | None = None) -> tuple[int, float]:
    """(imports running, the longest time one of them has made no progress). A running
    import rewrites its ``status.json`` as it reads and sends (at most every 0.5 s);
    one whose file stays unchanged is stuck: its lock is held but nothing moves."""
    now = time.time() if now is None else now
    running, idle = 0, 0.0
    for directory in root.iterdir() if root.is_dir() else ():
        found = read_status(directory) if directory.is_dir() else None
        if found is None or found.status != "running" or not busy(directory):
            continue
        running += 1
        try:
            idle = max(idle, now - (directory / "status.json").stat().st_mtime)
        except FileNotFoundError:
            continue
    return running, idle


class SystemCollector(Collector):
    """Lag (records and seconds), members and dead letters per role; imports.

    Measuring takes a second or more (committed offsets are watched for a moment,
    then the oldest waiting record of each lagging partition is read), longer than
    a scrape may wait at short intervals. So one thread measures back to back and a
    scrape answers at once with the latest measure, at most about that old.
    """

    def __init__(self, settings: Settings, sample_s: float = 1.0) -> None:
        self.settings, self.sample_s = settings, sample_s
        self._lock = threading.Lock()
        self._latest: list[Metric] | None = None
        self._measured = threading.Event()
        threading.Thread(target=self._run, name="exporter-measure", daemon=True).start()

    def collect(self) -> Iterator[Metric]:
        self._measured.wait(timeout=30)
        with self._lock:
            latest = list(self._latest or [])
        yield from latest

    def _run(self) -> None:
        while True:
            try:
                measured = self._measure()
            except Exception:  # never let the measuring thread die: log, try again
                log.exception("exporter: measuring failed")
                time.sleep(1.0)
                continue
            with self._lock:
                self._latest = measured
            self._measured.set()
            time.sleep(0.1)

    def _measure(self) -> list[Metric]:
        up = GaugeMetricFamily(
            "eventcart_exporter_kafka_up", "1 when the last scrape could read Kafka, else 0"
        )
        try:
            roles = status.collect(self.settings, self.sample_s)
        except Exception as exc:  # Kafka away: say so, and still serve the imports
            log.warning("exporter: Kafka not readable: %s", exc)
            up.add_metric([], 0)
            return [up, *self._imports()]
        up.add_metric([], 1)
        lag = GaugeMetricFamily(
            "eventcart_consumer_lag_records",
            "Records a role has not consumed yet, per partition",
            labels=["role", "partition"],
        )
        behind = GaugeMetricFamily(
            "eventcart_consumer_behind_seconds",
            "Lag as time: age of the oldest record a role has not consumed, per partition "
            "(0 when none waits)",
            labels=["role", "partition"],
        )
        committed = GaugeMetricFamily(
            "eventcart_consumer_committed_offset",
            "The role's committed offset per partition (-1: none yet); its rate is progress",
            labels=["role", "partition"],
        )
        members = GaugeMetricFamily(
            "eventcart_consumer_members", "Workers in the role's consumer group", labels=["role"]
        )
        letters = GaugeMetricFamily(
            "eventcart_dead_letters", "Records in the role's dead-letter topic", labels=["role"]
        )
        for role in roles:
            members.add_metric([role.role], role.members)
            letters.add_metric([role.role], role.dead_letters)
            for p in role.partitions:
                labels = [role.role, str(p.partition)]
                lag.add_metric(labels, p.lag)
                behind.add_metric(labels, p.behind_s)
                committed.add_metric(labels, -1 if p.committed is None else p.committed)
        return [up, lag, behind, committed, members, letters, *self._imports()]

    def _imports(self) -> list[Metric]:
        running, idle = import_idle_seconds(self.settings.home / "imports")
        count = GaugeMetricFamily("eventcart_imports_running", "Feed imports running")
        count.add_metric([], running)
        stuck = GaugeMetricFamily(
            "eventcart_import_idle_seconds",
            "The longest a running feed import has gone without progress (0: none running)",
        )
        stuck.add_metric([], idle)
        return [count, stuck]
