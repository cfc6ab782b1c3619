"""Filling a version gap of a read model from the log.

A projection never applies an event whose version is not the next one for
its SKU (``read_models.projection``): it dead-letters it with rule
``version_gap`` and asks here for the versions the read model lacks. They are
in the events topic, in the same partition (one SKU, one partition), before
the event that revealed the gap: the partition is read backwards in growing
windows (20,000 records, then four times more each time) until every missing
version is found or the start of the partition is reached. The caller applies
what was found, then the gap events again, through a sink guarded by the
per-SKU version alone (the live checkpoint has already moved past them).

With the fenced processor a gap in the log itself cannot happen; a gap seen
by a projection means records its consumer never delivered, or writes a
store lost. Either way the log has what is missing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from read_models.projection import Gap, PositionedEvent, Sink
from schemas.config.settings import Settings
from streams import event_log, metrics
from streams.batch_step import BatchStep
from streams.driver import drive
from streams.sources import Batches

__all__ = ["filler", "missing_events"]

log = logging.getLogger(__name__)

FIRST_WINDOW = 20_000


def missing_events(settings: Settings, gaps: Sequence[Gap]) -> list[PositionedEvent]:
    """The events the read model lacks below each gap, read from the log, in log order."""
    wanted: dict[int, dict[str, set[int]]] = {}
    before: dict[int, int] = {}
    for gap in gaps:
        event, partition = gap.event.event, gap.event.partition
        versions = wanted.setdefault(partition, {}).setdefault(str(event["sku"]), set())
        versions.update(range(gap.applied + 1, int(event["version"])))
        before[partition] = min(before.get(partition, gap.event.offset), gap.event.offset)
    found: list[PositionedEvent] = []
    for partition, skus in wanted.items():
        skus = {sku: versions for sku, versions in skus.items() if versions}
        end, window = before[partition], FIRST_WINDOW
        while skus and end > 0:
            start = max(0, end - window)
            for batch in event_log.read(settings, {partition: start}, {partition: end}):
                for positioned in batch.events:
                    sku = str(positioned.event["sku"])
                    lacking = skus.get(sku)
                    if lacking is not None and positioned.event["version"] in lacking:
                        found.append(positioned)
                        lacking.discard(positioned.event["version"])
                        if not lacking:
                            del skus[sku]
            end, window = start, window * 4
        if skus:
            log.error(
                "events topic partition %d lacks versions %s: the gap cannot be filled",
                partition,
                {sku: sorted(v)[:5] for sku, v in list(skus.items())[:5]},
            )
    return sorted(found, key=lambda e: (e.partition, e.offset))


def filler(
    settings: Settings, role: str, make_sink: Callable[[], Sink]
) -> Callable[[list[Gap]], None]:
    """What ``role``'s live step calls with the gaps of a batch: the missing versions
    read from the log, then the gap events, applied through the driver by a sink
    that decides by what the store holds (made on first use)."""
    step: BatchStep | None = None

    def fill(gaps: list[Gap]) -> None:
        nonlocal step
        if step is None:
            step = BatchStep.for_role(role, make_sink(), settings)
        missing = missing_events(settings, gaps)
        batch = event_log.Batch()
        for positioned in sorted(
            missing + [gap.event for gap in gaps],
            key=lambda e: (str(e.event["sku"]), int(e.event["version"])),
        ):
            batch.events.append(positioned)
            batch.reached[positioned.partition] = max(
                batch.reached.get(positioned.partition, -1), positioned.offset
            )
        report = drive(Batches([batch]), step)
        metrics.GAPS.labels(role).inc(len(gaps))
        log.warning(
            "%s: %d event(s) revealed a version gap; %d missing event(s) read back from the "
            "log; applied %d, still gapped %d",
            role,
            len(gaps),
            len(missing),
            report.applied,
            report.gaps,
        )

    return fill
