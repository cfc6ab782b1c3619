"""The processor's spans: one per traced command, one per batch that carries any.

A command whose record carries a sampled ``traceparent`` gets a span in its own
trace ("decide <type>", with its SKU, command id, partition, offset and
outcome), lasting from the batch's start to its commit; the records the
command leads to (its events, its result) carry that span's context, so the
projections' writes join the same trace. The batch gets a span of its own (a
batch mixes many traces) with a child for its transaction, linked to the
commands' spans. Nothing here runs unless tracing is on and the batch holds a
traced command.

A scheduled price change fires long after the command that planned it, in a
step of its own. So the schedule remembers the ``traceparent`` of its
command's span (``"trace"`` beside it in the product's state, which the
changelog keeps through restarts), and the firing step gives each event it
fires a span in that trace ("fire schedule start|end"): the planned change,
its start and its end are one trace, and the projections' writes join it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import orjson
from confluent_kafka import Message
from opentelemetry.trace import Span, SpanKind

from schemas import tracing
from streams.catalog import ProductState
from streams.command_batch import Answer, BatchDecision, Record

__all__ = ["BatchSpans", "FiringSpans", "traced_records"]

#: where a schedule keeps the ``traceparent`` of the command that planned it
SCHEDULE_TRACE = "trace"


def traced_records(messages: Sequence[Message]) -> dict[int, bytes]:
    """index -> sampled ``traceparent`` of the records that carry one."""
    if not tracing.enabled():
        return {}
    found = {}
    for index, message in enumerate(messages):
        parent = tracing.record_trace(message.headers())
        if parent is not None:
            found[index] = parent
    return found


def _command_type(record: Record) -> str:
    """The command's type, read again (traced commands only: a few per batch)."""
    try:
        found = orjson.loads(record.value or b"{}").get("type")
    except (orjson.JSONDecodeError, AttributeError):
        return "command"
    return found if isinstance(found, str) else "command"


def _keep_schedule_traces(decision: BatchDecision, answer: Answer, own: bytes) -> None:
    """Store ``own`` with each schedule the command planned, in the state the batch
    writes (a schedule cancelled later in the same batch is not there: nothing kept)."""
    for event_index in answer.events:
        sku, event = decision.events[event_index]
        if event["type"] != "PriceChangeScheduled" or sku not in decision.states:
            continue
        partition, state = decision.states[sku]
        schedule_id = event["data"]["schedule_id"]
        schedule = state.schedules.get(schedule_id)
        if schedule is not None:
            kept = {**schedule, SCHEDULE_TRACE: own.decode()}
            schedules = {**state.schedules, schedule_id: kept}
            decision.states[sku] = (partition, state.replaced(schedules=schedules))


class FiringSpans:
    """Spans of one firing step: one per fired event whose schedule kept a trace."""

    def __init__(
        self, instance: str, states: dict[str, tuple[int, ProductState]], fired: BatchDecision
    ) -> None:
        self.spans: list[Span] = []
        for index, (sku, event) in enumerate(fired.events):
            data = event["data"]
            schedule_id = data.get("schedule_id")
            schedule = states[sku][1].schedules.get(schedule_id) if schedule_id else None
            parent = schedule.get(SCHEDULE_TRACE) if schedule else None
            if not isinstance(parent, str):
                continue
            span = tracing.start_span(
                f"fire schedule {data.get('schedule_step', 'end')}",
                parent=parent.encode(),
                kind=SpanKind.PRODUCER,
                attributes={
                    "eventcart.sku": sku,
                    "eventcart.schedule_id": str(schedule_id),
                    "eventcart.event_type": event["type"],
                    "eventcart.planned_at": str(data.get("planned_at", "")),
                    "eventcart.processor": instance,
                },
            )
            own = tracing.traceparent_of(span)
            if own is not None:
                fired.traces[index] = own
            self.spans.append(span)

    def end(self, error: str | None = None) -> None:
        now = time.time_ns()
        for span in self.spans:
            tracing.end_span(span, error, now)


class BatchSpans:
    """Spans of one batch, started once it is decided, ended after its transaction."""

    def __init__(
        self,
        instance: str,
        traced: dict[int, bytes],
        records: Sequence[Record],
        decision: BatchDecision,
        began_ns: int,
    ) -> None:
        self.commands: list[Span] = []
        carried: list[bytes] = []
        for index, parent in traced.items():
            answer, record = decision.answers[index], records[index]
            result = answer.result or {}
            span = tracing.start_span(
                f"decide {_command_type(record)}",
                parent=parent,
                kind=SpanKind.CONSUMER,
                start_ns=began_ns,
                attributes={
                    "eventcart.sku": answer.sku or "",
                    "eventcart.command_id": answer.command_id or "",
                    "eventcart.outcome": str(result.get("status", "invalid")),
                    "messaging.kafka.partition": record.partition,
                    "messaging.kafka.offset": record.offset,
                },
            )
            own = tracing.traceparent_of(span)
            if own is not None:
                answer.trace = own
                for event_index in answer.events:
                    decision.traces[event_index] = own
                _keep_schedule_traces(decision, answer, own)
                carried.append(own)
            self.commands.append(span)
        self.batch = tracing.start_span(
            "process command batch",
            links=carried,
            start_ns=began_ns,
            attributes={
                "eventcart.processor": instance,
                "eventcart.commands": len(records),
                "eventcart.events": len(decision.events),
            },
        )
        self.transaction = tracing.start_span(
            "kafka transaction", parent=tracing.traceparent_of(self.batch)
        )

    def end(self, error: str | None = None) -> None:
        now = time.time_ns()
        tracing.end_span(self.transaction, error, now)
        tracing.end_span(self.batch, error, now)
        for span in self.commands:
            tracing.end_span(span, error, now)
