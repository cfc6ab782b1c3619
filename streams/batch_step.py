"""The one step every consumer of the events topic takes with a batch.

The live projections, a rebuild (its build and its switch's catch-up), a
repair from an offset and a dead-letter re-drive all read events and hand
them to a read model's sink; they differ only in where the batch comes from
and which sink takes it. What happens to a batch is written here once:

1. the records that do not decode (or upcast) become dead letters (their
   contract rule);
2. the events go to the sink, and the whole batch is tried again, with
   exponential backoff (up to 15 s apart), for as long as the store is
   unavailable: the partition waits, nothing is skipped (sinks are
   idempotent);
3. the events the store refuses for good become dead letters
   (``store_rejected``);
4. the events the sink reports as a version gap become dead letters
   (``version_gap``); the versions the read model lacks are read back from
   the log and applied with them (``streams.gap_repair``, through the same
   driver as everything else);
5. every dead letter is confirmed by Kafka before the step returns, so the
   caller may commit the batch's offsets.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tenacity import Retrying, retry_if_exception_type, stop_never, wait_exponential

from read_models.projection import ApplyReport, Gap, PositionedEvent, Sink, TransientStoreError
from schemas.config.connections import kafka_config
from schemas.config.settings import Settings
from schemas.topics import Topics
from streams import metrics
from streams.dead_letters import DeadLetterWriter
from streams.event_log import Batch

__all__ = ["BatchStep", "StepReport"]

log = logging.getLogger(__name__)


@dataclass
class StepReport:
    applied: int = 0
    skipped: int = 0
    dead_lettered: int = 0
    gaps: int = 0
    #: (partition, offset, rule, message) of every record dead-lettered
    letters: list[tuple[int, int, str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, other: StepReport) -> None:
        """Count ``other`` in (its letters are not kept: a running total stays small)."""
        self.applied += other.applied
        self.skipped += other.skipped
        self.dead_lettered += other.dead_lettered
        self.gaps += other.gaps
        self.seconds += other.seconds


class BatchStep:
    """Applies batches of events to one read model through ``sink``.

    ``topic`` is the events topic the batches come from (for the dead
    letters' addresses); ``fill_gaps`` puts back what the read model lacks
    below the events that revealed a version gap (``streams.gap_repair``);
    without it, a gap stays in the dead-letter topic and the log.
    """

    def __init__(
        self,
        role: str,
        sink: Sink,
        letters: DeadLetterWriter,
        settings: Settings,
        topic: str,
        *,
        fill_gaps: Callable[[list[Gap]], None] | None = None,
    ) -> None:
        self.role, self.sink, self.letters, self.settings, self.topic = (
            role,
            sink,
            letters,
            settings,
            topic,
        )
        self._fill_gaps = fill_gaps

    @classmethod
    def for_role(
        cls,
        role: str,
        sink: Sink,
        settings: Settings,
        *,
        fill_gaps: Callable[[list[Gap]], None] | None = None,
    ) -> BatchStep:
        """The step of ``role`` (search-projection, pricing-projection): its dead letters go
        to that role's dead-letter topic, whichever path (live, rebuild, repair) takes it."""
        topics = Topics.from_settings(settings)
        letters = DeadLetterWriter(kafka_config(settings), topics.dead_letters(role), role)
        return cls(role, sink, letters, settings, topics.events, fill_gaps=fill_gaps)

    def apply(self, batch: Batch) -> StepReport:
        began = time.perf_counter()
        result = StepReport()
        for bad in batch.undecodable:
            self._letter(result, batch, bad.partition, bad.offset, bad.error.to_dict())
        report = self._retrying(self.sink, batch.events) if batch.events else ApplyReport()
        result.applied, result.skipped = report.applied, report.skipped
        for failed, reason in report.failed:
            error = {"field": "$", "rule": "store_rejected", "message": reason}
            self._letter(result, batch, failed.partition, failed.offset, error)
        for gap in report.gaps:
            error = {"field": "version", "rule": "version_gap", "message": gap.reason}
            self._letter(result, batch, gap.event.partition, gap.event.offset, error)
        if report.gaps:
            result.gaps = len(report.gaps)
            if self._fill_gaps is None:
                log.error(
                    "%s: %d version gap(s) and no way to fill them", self.role, len(report.gaps)
                )
            else:
                self._fill_gaps(report.gaps)
        if result.dead_lettered:
            self.letters.flush()
        result.seconds = time.perf_counter() - began
        return result

    def _letter(
        self,
        result: StepReport,
        batch: Batch,
        partition: int,
        offset: int,
        error: dict[str, str],
    ) -> None:
        key, raw = batch.originals.get((partition, offset), (None, None))
        self.letters.add(
            topic=self.topic, partition=partition, offset=offset, key=key, raw=raw, error=error
        )
        result.dead_lettered += 1
        result.letters.append((partition, offset, error["rule"], error["message"]))

    def _retrying(self, sink: Sink, events: list[PositionedEvent]) -> ApplyReport:
        """Hand the events to the sink, trying again while the store is unavailable."""

        waiting = metrics.STORE_WAITING_SINCE.labels(self.role)
        began = time.time()

        def before_sleep(state: object) -> None:
            metrics.STORE_RETRIES.labels(self.role).inc()
            waiting.set(began)  # `eventcart status` shows how long the batch has waited
            outcome = getattr(state, "outcome", None)
            action = getattr(state, "next_action", None)
            log.warning(
                "%s: store unavailable (%s); retrying the batch in %.1f s",
                self.role,
                outcome.exception() if outcome else "?",
                action.sleep if action else 0,
            )

        try:
            for attempt in Retrying(
                retry=retry_if_exception_type(TransientStoreError),
                wait=wait_exponential(multiplier=0.2, max=15),
                stop=stop_never,
                before_sleep=before_sleep,
                reraise=True,
            ):
                with attempt:
                    return sink.apply(events)
        finally:
            waiting.set(0)
        raise AssertionError("unreachable: the retry loop never gives up")
