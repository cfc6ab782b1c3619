"""Replaying a range of the topic into the LIVE version of a read model, for repairs.

After a fix (a dead-lettered event whose cause is gone, a store that lost
writes), re-running the events from an offset or an instant puts back what the
live version lacks. It cannot change what is already applied: the per-SKU
version guards skip those events (so a repair is always safe to run); changing
how events are projected is what a full rebuild is for.
"""

from __future__ import annotations

from collections.abc import Callable

from elasticsearch import Elasticsearch

from read_models.pricing.writer import PricingSink
from read_models.projection import Sink
from read_models.search import client as es_client
from read_models.search.writer import SearchSink
from schemas.connections import postgres_conninfo
from schemas.settings import Settings
from streams import event_log
from streams.batch_step import BatchStep, StepReport

REPAIR = "pricing-repair"  # its own checkpoint name: the live checkpoint would skip everything


def repair(
    settings: Settings,
    projection: str,
    start: dict[int, int],
    progress: Callable[[event_log.Batch, int, int], None],
) -> StepReport:
    end = {p: high for p, (_, high) in event_log.end_offsets(settings).items()}
    total = StepReport()
    es: Elasticsearch | None = None
    sink: Sink
    if projection == "search":
        es = es_client.connect(settings, request_timeout=60, max_retries=3)
        sink = SearchSink(es, settings.search_index)
    else:
        sink = PricingSink(postgres_conninfo(settings), settings.pricing_schema, REPAIR)
    step = BatchStep.for_role(f"{projection}-projection", sink, settings)
    try:
        for batch in event_log.read(settings, start, end):
            report = step.apply(batch)
            total.applied += report.applied
            total.skipped += report.skipped
            total.dead_lettered += report.dead_lettered
            progress(batch, total.applied, total.dead_lettered)
    finally:
        if es is not None:
            es.close()
        if isinstance(sink, PricingSink):
            sink.close()
    return total
