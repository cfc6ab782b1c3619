"""One trace per command, across every process it passes (OpenTelemetry, W3C trace context).

The context travels in a ``traceparent`` header: the HTTP request's (or the
client's own span) into the command's Kafka record, the processor's span for
that command into the records it writes (events, result), and from the event
into each projection's span for its write. So one command is one trace:
the API, the processor's decision, the search write and the pricing write.
What serves many commands at once (a processor batch, a projection batch) is
a span of its own that links to the commands it carries.

Off unless ``EVENTCART_TRACING_ENDPOINT`` names an OTLP/HTTP collector (the
local stack's Jaeger: `eventcart stack up --tracing`): then the SDK is set up
once per process and spans are exported in batches off the hot path. Only a
share of new traces is kept (``EVENTCART_TRACING_SAMPLE_RATIO``); a record
whose context is not sampled costs one flag check and no span anywhere
downstream. Here at the bottom because every layer propagates it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from schemas.config.settings import Settings

__all__ = [
    "HEADER",
    "Headers",
    "context_of",
    "enabled",
    "end_span",
    "flush",
    "link",
    "outgoing",
    "record_trace",
    "server_span",
    "setup",
    "span",
    "start_span",
    "traceparent_of",
]

HEADER = "traceparent"
#: Kafka record headers, as confluent-kafka takes them
Headers = list[tuple[str, str | bytes | None]]
_PROPAGATOR = TraceContextTextMapPropagator()
_TRACER = trace.get_tracer("eventcart")
_on = False
#: Links one batch span keeps (a batch of thousands would make a span too large to
#: export); the commands beyond it still have their own spans in their own traces.
MAX_LINKS = 128


def setup(settings: Settings, service: str) -> bool:
    """Export this process's spans as ``service`` when tracing is configured; True if on."""
    global _on, _TRACER
    if _on or not settings.tracing_endpoint:
        return _on
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    provider = TracerProvider(
        resource=Resource.create({"service.name": service}),
        sampler=ParentBased(TraceIdRatioBased(settings.tracing_sample_ratio)),
    )
    endpoint = settings.tracing_endpoint.rstrip("/") + "/v1/traces"
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    _TRACER = trace.get_tracer("eventcart")
    _on = True
    return True


def enabled() -> bool:
    return _on


def flush(timeout_ms: int = 5000) -> None:
    """Export what is still queued, at a process's shutdown. The SDK flushes at
    interpreter exit by itself, but an API's worker processes (uvicorn's, started by
    multiprocessing) leave through ``os._exit``, which skips that: their last spans
    would be lost."""
    if _on:
        provider = trace.get_tracer_provider()
        force_flush = getattr(provider, "force_flush", None)
        if force_flush is not None:
            force_flush(timeout_ms)


def sampled(traceparent: bytes) -> bool:
    """Whether a ``traceparent`` asks for recording (its flags' last bit), without parsing
    the rest: most records of a sampled-down system are not."""
    return len(traceparent) == 55 and traceparent[-1:] in b"13579bdf"


def record_trace(
    headers: Sequence[tuple[str, bytes | str | None]] | Mapping[str, bytes | str | None] | None,
) -> bytes | None:
    """The sampled ``traceparent`` of a Kafka record's headers, else None."""
    if not headers:
        return None
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in pairs:
        if name == HEADER and isinstance(value, bytes) and sampled(value):
            return value
    return None


def context_of(traceparent: bytes | str) -> Context:
    value = traceparent.decode() if isinstance(traceparent, bytes) else traceparent
    return _PROPAGATOR.extract({HEADER: value})


def link(traceparent: bytes) -> Link:
    return Link(trace.get_current_span(context_of(traceparent)).get_span_context())


def traceparent_of(span_: Span) -> bytes | None:
    """The header that makes what follows a child of ``span_`` (None: not recording)."""
    if not span_.is_recording():
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span_))
    value = carrier.get(HEADER)
    return value.encode() if value else None


def outgoing() -> Headers | None:
    """Headers for a record produced now: the current span's context, if one records."""
    if not _on:
        return None
    current = traceparent_of(trace.get_current_span())
    return [(HEADER, current)] if current else None


@contextmanager
def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: Context | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[Span | None]:
    """A current span while the block runs (None, and nothing done, when tracing is off)."""
    if not _on:
        yield None
        return
    with _TRACER.start_as_current_span(
        name, context=parent, kind=kind, attributes=dict(attributes or {})
    ) as current:
        yield current


@contextmanager
def server_span(
    name: str, headers: Mapping[str, str], attributes: Mapping[str, Any] | None = None
) -> Iterator[Span | None]:
    """The span of one HTTP request, continuing the caller's trace if it sent one."""
    parent = _PROPAGATOR.extract(dict(headers)) if _on else None
    with span(name, kind=SpanKind.SERVER, parent=parent, attributes=attributes) as current:
        yield current


def start_span(
    name: str,
    *,
    parent: bytes | None = None,
    links: Sequence[bytes] = (),
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
    start_ns: int | None = None,
) -> Span:
    """A span not made current (a batch's, a command's inside a batch): end it with
    :func:`end_span`. ``parent``: a ``traceparent`` to continue (None: a new trace)."""
    return _TRACER.start_span(
        name,
        context=context_of(parent) if parent else Context(),
        kind=kind,
        links=[link(tp) for tp in links[:MAX_LINKS]],
        attributes=dict(attributes or {}),
        start_time=start_ns,
    )


def end_span(span_: Span, error: str | None = None, end_ns: int | None = None) -> None:
    if error is not None:
        span_.set_status(Status(StatusCode.ERROR, error))
    span_.end(end_time=end_ns)
