"""The projection runner: one Faust agent per read model, around a sink.

It only batches, decodes (with upcasting), hands the batch to the read model's
sink and deals with failure; the projecting itself is the sink's pure code in
``read_models/``. The same sinks run in replays, so live and rebuild share one
code path.

Failures must be handled inside the loop: Faust acks a batch even when the
agent raised (it acks in a ``finally``), so an exception that escaped would
lose the batch at the next commit. So:

* a store that is unavailable (``TransientStoreError``) makes the runner retry
  the whole batch with exponential backoff, for as long as it takes: the
  partition waits and loses nothing (sinks are idempotent);
* an event that cannot be decoded or upcast, or that the store refuses for
  good, goes to the projection's dead-letter topic with the reason, and the rest
  of the batch is applied;
* an event the sink reports as a version gap is dead-lettered with rule
  ``version_gap``, and the versions the read model lacks are read back from the
  log and applied (``streams.gap_repair``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import faust
from tenacity import AsyncRetrying, retry_if_exception_type, stop_never, wait_exponential

from ops.settings import Settings
from ops.topics import Topics
from read_models.projection import ApplyReport, Gap, PositionedEvent, Sink, TransientStoreError
from schemas import codec
from schemas.errors import ContractError
from streams import gap_repair, metrics, sinks
from streams.dead_letters import dead_letter

log = logging.getLogger(__name__)


class Projection:
    """Wires one read model's sink to the product events topic through one Faust app."""

    def __init__(
        self, app: faust.App, settings: Settings, role: str, make_sink: Callable[[], Sink]
    ) -> None:
        self.app = app
        self.settings = settings
        self.role = role
        self.make_sink = make_sink
        self.sink: Sink | None = None
        self.repair_sink: Sink | None = None
        topics = Topics.from_settings(settings)
        raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes}
        self.events = app.topic(topics.events, **raw)
        self.dead_letters = app.topic(topics.dead_letters(role), **raw)
        app.agent(self.events, name=role, concurrency=1)(self.run)

    async def run(self, stream: Any) -> AsyncIterator[None]:
        # (Faust's StreamT stub lacks take_events, which the Stream class has.)
        if self.sink is None:
            self.sink = await self.connect()
        async for batch in stream.take_events(
            self.settings.projection_batch_max, within=self.settings.projection_batch_within_s
        ):
            await self.process(batch)
            yield None

    async def connect(self) -> Sink:
        """Build the sink, waiting (with backoff) for its store to come up."""
        async for attempt in AsyncRetrying(
            wait=wait_exponential(multiplier=0.5, max=15),
            stop=stop_never,
            before_sleep=lambda state: log.warning(
                "%s: cannot reach its store yet (%s); retrying",
                self.role,
                state.outcome.exception() if state.outcome else "?",
            ),
            reraise=True,
        ):
            with attempt:
                return await asyncio.to_thread(self.make_sink)
        raise AssertionError("unreachable: the retry loop never gives up")

    async def process(self, batch: Sequence[Any]) -> None:
        began = time.perf_counter()
        events: list[PositionedEvent] = []
        letters: list[dict[str, Any]] = []
        for ev in batch:
            try:
                event = codec.decode_event(ev.value if ev.value is not None else b"")
            except ContractError as err:
                letters.append(self._letter(ev, err.to_dict()))
                continue
            events.append(PositionedEvent(event, ev.message.partition, ev.message.offset))
        report = await self.apply(events) if events else ApplyReport()
        by_offset = {(ev.message.partition, ev.message.offset): ev for ev in batch}
        for failed, reason in report.failed:
            ev = by_offset[(failed.partition, failed.offset)]
            error = {"field": "$", "rule": "store_rejected", "message": reason}
            letters.append(self._letter(ev, error))
        for gap in report.gaps:
            ev = by_offset[(gap.event.partition, gap.event.offset)]
            error = {"field": "version", "rule": "version_gap", "message": gap.reason}
            letters.append(self._letter(ev, error))
        for letter in letters:
            await self.dead_letters.send(value=codec.encode(letter))
        if report.gaps:
            await self.fill_gaps(report.gaps)
        self.record(batch, report, len(letters), time.perf_counter() - began)

    async def fill_gaps(self, gaps: list[Gap]) -> None:
        """Read what the read model lacks from the log and apply it, then the gap events.

        A gap left after this (the log itself lacks the versions: impossible
        with the fenced processor) stays in the dead-letter topic and the log.
        """
        missing = await asyncio.to_thread(gap_repair.missing_events, self.settings, gaps)
        if self.repair_sink is None:
            self.repair_sink = await asyncio.to_thread(
                sinks.out_of_order_sink, self.role, self.settings
            )
        events = missing + [gap.event for gap in gaps]
        events.sort(key=lambda e: (str(e.event["sku"]), int(e.event["version"])))
        report = await self._retrying(self.repair_sink, events)
        metrics.GAPS.labels(self.role).inc(len(gaps))
        log.warning(
            "%s: %d event(s) revealed a version gap; %d missing event(s) read back from the "
            "log; applied %d, still gapped %d",
            self.role,
            len(gaps),
            len(missing),
            report.applied,
            len(report.gaps),
        )

    def _letter(self, ev: Any, error: dict[str, str]) -> dict[str, Any]:
        message = ev.message
        return dead_letter(
            self.role,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            raw=ev.value,
            error=error,
        )

    async def apply(self, events: list[PositionedEvent]) -> ApplyReport:
        """Hand the batch to the sink, retrying while the store is unavailable."""
        assert self.sink is not None
        return await self._retrying(self.sink, events)

    async def _retrying(self, sink: Sink, events: list[PositionedEvent]) -> ApplyReport:

        def before_sleep(state: Any) -> None:
            metrics.STORE_RETRIES.labels(self.role).inc()
            log.warning(
                "%s: store unavailable (%s); retrying the batch in %.1f s",
                self.role,
                state.outcome.exception() if state.outcome else "?",
                state.next_action.sleep if state.next_action else 0,
            )

        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(TransientStoreError),
            wait=wait_exponential(multiplier=0.2, max=15),
            stop=stop_never,
            before_sleep=before_sleep,
            reraise=True,
        ):
            with attempt:
                return await asyncio.to_thread(sink.apply, events)
        raise AssertionError("unreachable: the retry loop never gives up")

    def record(
        self, batch: Sequence[Any], report: ApplyReport, letters: int, seconds: float
    ) -> None:
        metrics.EVENTS_APPLIED.labels(self.role).inc(report.applied)
        metrics.EVENTS_SKIPPED.labels(self.role).inc(report.skipped)
        metrics.DEAD_LETTERS.labels(self.role).inc(letters)
        metrics.BATCH_SIZE.labels(self.role).observe(len(batch))
        metrics.BATCH_SECONDS.labels(self.role).observe(seconds)
        last: dict[Any, int] = {}
        for ev in batch:
            last[ev.message.tp] = max(last.get(ev.message.tp, -1), ev.message.offset)
        for tp, offset in last.items():
            highwater = self.app.consumer.highwater(tp)
            if highwater is not None:
                metrics.LAG.labels(self.role, str(tp.partition)).set(max(0, highwater - offset - 1))
