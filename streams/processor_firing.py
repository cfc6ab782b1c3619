"""The processor's firing step: publish the scheduled price changes that are due.

Run by the processor between command batches (at least every 100 ms when
idle, see ``CommandProcessor._take``). What is due is found in each owned
partition's local store (an index range scan), decided by the pure
:func:`streams.firing.fire_due` with the processor's clock, and written by the
same transactional :class:`~streams.batch_writer.BatchWriter` as a command
batch: the events, the new states in the changelog and the partitions'
offsets (unchanged, but sent with the group's metadata so that a processor
which lost a partition cannot commit). After the commit the local stores take
the new states, so the next step no longer sees those schedules as due.

A crash before the commit leaves nothing visible, and the same schedules are
due again after the restart (fired then, with that later instant as
``occurred_at``); a crash after it leaves the store behind the changelog,
which the restore reads first. Either way each step takes effect once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from confluent_kafka import TopicPartition

from schemas import timestamps, tracing
from schemas.topics import Topics
from streams import changelog_keys, metrics
from streams.batch_writer import BatchWriter
from streams.catalog import ProductState
from streams.command_traces import FiringSpans
from streams.firing import Firing, fire_due
from streams.owned_partition import OwnedPartition

__all__ = ["DueFiring"]

log = logging.getLogger(__name__)


def _now() -> str:
    return timestamps.format_utc(datetime.now(UTC))


def _seconds_between(earlier: str, later: str) -> float:
    return max(0.0, timestamps.parse(later).timestamp() - timestamps.parse(earlier).timestamp())


class DueFiring:
    """Fires, per call, what is due in the ready partitions (at most ``limit`` products
    per partition, the most overdue first: a backlog drains over a few steps)."""

    def __init__(
        self, topics: Topics, instance: str, limit: int, clock: Callable[[], str] = _now
    ) -> None:
        self.topics, self.instance, self.limit, self.clock = topics, instance, limit, clock
        #: products whose firing failed, not tried again until the processor restarts
        self._broken: set[str] = set()
        self._watched = 0.0  # when the overdue gauge was last set (monotonic)

    def step(self, owned: Mapping[int, OwnedPartition], writer: BatchWriter, consumer: Any) -> int:
        """Fire what is due; the number of events committed. Raises what the writer
        raises (AbortedError, FencedError): the caller handles it as for a batch."""
        now = self.clock()
        self._watch_overdue(owned, now)
        states: dict[str, tuple[int, ProductState]] = {}
        for partition, part in owned.items():
            if not part.restored or part.position is None:
                continue
            keys = part.store.due(now, self.limit)
            if not keys:
                continue
            for key, value in part.store.load(keys).items():
                sku, _ = changelog_keys.parse(key)
                if sku not in self._broken:
                    states[sku] = (partition, ProductState.from_dict(orjson.loads(value)))
        if not states:
            return 0
        firing = fire_due(states, now)
        self._report_failures(firing)
        if not firing.batch.events:
            return 0
        partitions = sorted({p for p, _ in firing.batch.states.values()})
        offsets = [
            TopicPartition(self.topics.commands, p, owned[p].position or 0) for p in partitions
        ]
        spans = FiringSpans(self.instance, states, firing.batch) if tracing.enabled() else None
        try:
            written = writer.write(firing.batch, offsets, consumer.consumer_group_metadata(), {})
        except Exception as exc:
            if spans is not None:
                spans.end(f"not fired: {exc}")
            raise
        if spans is not None:
            spans.end()
        for partition, (changes, checkpoint) in written.items():
            target = owned.get(partition)
            if target is not None:
                target.store.write(changes, checkpoint)
        self._count(firing)
        return len(firing.batch.events)

    def _watch_overdue(self, owned: Mapping[int, OwnedPartition], now: str) -> None:
        """Set how late the most overdue waiting step is: a step that does not fire (a
        broken product, a processor that cannot commit) grows older there, for alerts."""
        if time.monotonic() - self._watched < 1.0:
            return
        self._watched = time.monotonic()
        dues = [
            due
            for part in owned.values()
            if part.restored and (due := part.store.next_due()) is not None
        ]
        late = min(dues) if dues else None
        overdue = 0.0 if late is None or late > now else _seconds_between(late, now)
        metrics.SCHEDULE_OVERDUE.set(overdue)

    def _report_failures(self, firing: Firing) -> None:
        for sku, why in firing.failed.items():
            self._broken.add(sku)
            metrics.SCHEDULE_FAILURES.inc()
            log.error(
                "%s: the schedules of %s cannot be fired (%s); they stay pending until the "
                "processor restarts",
                self.instance,
                sku,
                why,
            )

    @staticmethod
    def _count(firing: Firing) -> None:
        committed = time.time()
        for _, event in firing.batch.events:
            metrics.SCHEDULE_STEPS.labels(event["type"]).inc()
            planned = event["data"].get("planned_at")
            if planned:
                delay = committed - timestamps.parse(planned).timestamp()
                metrics.SCHEDULE_DELAY.observe(max(0.0, delay))
