"""A schedule fires in the trace of the command that planned it (spans kept in memory).

The processor's span for a traced ``SchedulePriceChange`` is kept with the schedule
in the state the batch writes; the firing step, later, continues that trace for the
event it fires and hands the event a ``traceparent`` in it. No service: the spans
go to OpenTelemetry's in-memory exporter.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from schemas import tracing
from streams.catalog import ProductState
from streams.command_batch import Record, admit_all, decide_batch
from streams.command_traces import SCHEDULE_TRACE, BatchSpans, FiringSpans
from streams.firing import fire_due
from tests.unit.builders import VALID_DATA, make_command

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER = f"00-{TRACE_ID}-00f067aa0ba902b7-01".encode()


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_on", True)
    monkeypatch.setattr(tracing, "_TRACER", provider.get_tracer("test"))
    yield exporter


def _record(offset: int, command: dict[str, object]) -> Record:
    return Record(0, offset, b"P-1", orjson.dumps(command))


def _registered_and_planned() -> list[Record]:
    """P-1 registered, then a regular price of 9 EUR planned for 2025-06-02 (id s1)."""
    plan = {
        "schedule_id": "s1",
        "currency": "EUR",
        "amount": "9",
        "starts_at": "2025-06-02T00:00:00Z",
    }
    return [
        _record(
            0,
            make_command(
                "RegisterProduct", VALID_DATA["RegisterProduct"], sku="P-1", command_id="reg"
            ),
        ),
        _record(1, make_command("SchedulePriceChange", plan, sku="P-1", command_id="plan")),
    ]


def test_a_planned_price_fires_in_the_trace_of_its_command(spans: InMemorySpanExporter) -> None:
    records = _registered_and_planned()
    decision = decide_batch(admit_all(records, 1), {}, {})
    BatchSpans("p0", {1: CALLER}, records, decision, 0).end()
    partition, state = decision.states["P-1"]
    kept = state.schedules["s1"][SCHEDULE_TRACE]
    assert kept.startswith(f"00-{TRACE_ID}-")
    # through the changelog and back, as a restarted processor reads it
    stored = ProductState.from_dict(orjson.loads(orjson.dumps(state.to_dict())))
    assert stored.schedules["s1"][SCHEDULE_TRACE] == kept

    states = {"P-1": (partition, stored)}
    fired = fire_due(states, "2025-06-02T00:00:01Z").batch
    FiringSpans("p0", states, fired).end()
    assert [event["type"] for _, event in fired.events] == ["PriceChanged"]
    assert fired.traces[0].decode().startswith(f"00-{TRACE_ID}-")
    firing = next(s for s in spans.get_finished_spans() if s.name == "fire schedule start")
    decided = next(s for s in spans.get_finished_spans() if s.name == "decide SchedulePriceChange")
    assert firing.parent is not None and firing.parent.span_id == decided.context.span_id
    assert firing.attributes is not None and firing.attributes["eventcart.schedule_id"] == "s1"


def test_an_untraced_schedule_fires_without_a_span(spans: InMemorySpanExporter) -> None:
    records = _registered_and_planned()
    decision = decide_batch(admit_all(records, 1), {}, {})
    states = dict(decision.states)
    assert SCHEDULE_TRACE not in states["P-1"][1].schedules["s1"]
    fired = fire_due(states, "2025-06-02T00:00:01Z").batch
    FiringSpans("p0", states, fired).end()
    assert fired.traces == {} and spans.get_finished_spans() == ()
