"""`eventcart verify`: do the read models hold exactly what the events topic says?

The drift check nothing else gives: every SKU's history is folded with the
same pure projection code the live workers run (``read_models.search.document``,
``read_models.pricing.fold``) and compared with what Elasticsearch and
PostgreSQL hold. Partition by partition (all events of one SKU live in one
partition), so memory holds one partition's products at a time; stores are
read many SKUs per request (``mget``, ``= ANY``), and every SKU they hold is
listed (a point in time, a server-side cursor) to find products the log does
not know.

It reads committed events up to the end the topic had when it started, and
never writes unless asked to repair, so it does not disturb the live
projections. A store that has already applied newer events than that end
(live traffic) is "ahead" and not a drift; one that lags is given a few
seconds to catch up before it counts as "stale".
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from elasticsearch import Elasticsearch

from read_models.pricing import inspect as pricing_inspect
from read_models.pricing.fold import SkuRows, fold_rows
from read_models.pricing.writer import PricingSink
from read_models.projection import PositionedEvent
from read_models.search import client as es_client
from read_models.search import inspect as search_inspect
from read_models.search.document import fold
from read_models.search.writer import SearchSink
from schemas.connections import postgres_conninfo
from schemas.settings import Settings
from streams import event_log

__all__ = ["Drift", "Report", "verify"]

MODELS = ("search", "pricing")
CATCH_UP_S = 10.0


@dataclass(frozen=True)
class Drift:
    model: str  # search | pricing
    sku: str
    kind: str  # missing | stale | different | unknown
    detail: str


@dataclass
class Report:
    models: tuple[str, ...]
    skus: int = 0
    events: int = 0
    ahead: int = 0
    drifts: list[Drift] = field(default_factory=list)
    repaired: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "drifts": [asdict(d) for d in self.drifts]}


Progress = Callable[[int, int], None]  # (partition, events read so far in it)


@dataclass
class _Expected:
    docs: dict[str, dict[str, Any]]
    rows: dict[str, SkuRows]
    events: dict[str, list[PositionedEvent]]


def verify(
    settings: Settings,
    models: Iterable[str] = MODELS,
    *,
    repair: bool = False,
    progress: Progress | None = None,
) -> Report:
    """Compare the chosen read models with the fold of the events topic; repair drifted
    SKUs (through the sinks) and compare them again when ``repair`` is set."""
    chosen = tuple(m for m in MODELS if m in set(models))
    report = Report(chosen)
    began = time.monotonic()
    es = es_client.connect(settings, request_timeout=60)
    dsn = postgres_conninfo(settings)
    with psycopg.connect(dsn, autocommit=True) as conn:
        seen: set[str] = set()
        for partition, (low, high) in sorted(event_log.end_offsets(settings).items()):
            expected = _fold_partition(settings, partition, low, high, progress)
            report.events += sum(len(evs) for evs in expected.events.values())
            seen.update(expected.docs)
            drifts = _compare(settings, es, conn, expected, chosen, report)
            if repair and drifts:
                _repair(settings, es, expected, drifts, report)
                report.drifts += _compare(settings, es, conn, expected, chosen, report, only=drifts)
            else:
                report.drifts += drifts
        report.skus = len(seen)
        report.drifts += _unknown(settings, es, conn, chosen, seen)
    es.close()
    report.seconds = time.monotonic() - began
    return report


def _fold_partition(
    settings: Settings, partition: int, low: int, high: int, progress: Progress | None
) -> _Expected:
    events: dict[str, list[PositionedEvent]] = defaultdict(list)
    read = 0
    for batch in event_log.read(settings, {partition: low}, {partition: high}, batch_size=20_000):
        for positioned in batch.events:
            events[str(positioned.event["sku"])].append(positioned)
        read += len(batch.events) + len(batch.undecodable)
        if progress is not None:
            progress(partition, read)
    docs = {sku: doc for sku, evs in events.items() if (doc := fold(e.event for e in evs))}
    rows = fold_rows([e for evs in events.values() for e in evs])
    return _Expected(docs, rows, dict(events))


def _compare(
    settings: Settings,
    es: Elasticsearch,
    conn: psycopg.Connection[Any],
    expected: _Expected,
    models: tuple[str, ...],
    report: Report,
    only: list[Drift] | None = None,
) -> list[Drift]:
    """The drifts of this partition's SKUs; SKUs whose store lags get a few seconds."""
    skus = sorted({d.sku for d in only} if only is not None else expected.docs)
    drifts, ahead = _compare_skus(settings, es, conn, expected, models, skus)
    if only is None:
        report.ahead += ahead
    deadline = time.monotonic() + CATCH_UP_S
    while (stale := {d.sku for d in drifts if d.kind == "stale"}) and time.monotonic() < deadline:
        time.sleep(1.0)
        again, _ = _compare_skus(settings, es, conn, expected, models, sorted(stale))
        drifts = [d for d in drifts if d.sku not in stale] + again
    return drifts


def _compare_skus(
    settings: Settings,
    es: Elasticsearch,
    conn: psycopg.Connection[Any],
    expected: _Expected,
    models: tuple[str, ...],
    skus: list[str],
) -> tuple[list[Drift], int]:
    drifts: list[Drift] = []
    ahead = 0
    for model in models:
        found, more = _compare_model(settings, es, conn, expected, model, skus)
        drifts += found
        ahead += more
    return drifts, ahead


def _compare_model(
    settings: Settings,
    es: Elasticsearch,
    conn: psycopg.Connection[Any],
    expected: _Expected,
    model: str,
    skus: list[str],
) -> tuple[list[Drift], int]:
    drifts: list[Drift] = []
    ahead = 0
    for start in range(0, len(skus), 5000):
        chunk = skus[start : start + 5000]
        if model == "search":
            stored_docs = search_inspect.documents_of(es, settings.search_index, chunk)
            for sku in chunk:
                want, have = expected.docs[sku], stored_docs.get(sku)
                drift, is_ahead = _judge(
                    model, sku, want["version"], None if have is None else have["version"]
                )
                if drift is None and not is_ahead and have != want:
                    fields = sorted(
                        k for k in set(want) | set(have or {}) if want.get(k) != (have or {}).get(k)
                    )
                    drift = Drift(model, sku, "different", f"fields {', '.join(fields)}")
                drifts += [drift] if drift else []
                ahead += is_ahead
        else:
            stored_rows = pricing_inspect.rows_of(conn, settings.pricing_schema, chunk)
            for sku in chunk:
                want_rows, have_rows = expected.rows.get(sku), stored_rows.get(sku)
                if want_rows is None:
                    continue  # a product with no event pricing keeps (none refused, none applied)
                drift, is_ahead = _judge(
                    model, sku, want_rows.version, None if have_rows is None else have_rows.version
                )
                if drift is None and not is_ahead and have_rows is not None:
                    differences = want_rows.differences(have_rows)
                    if differences:
                        drift = Drift(model, sku, "different", "; ".join(differences))
                drifts += [drift] if drift else []
                ahead += is_ahead
    return drifts, ahead


def _judge(model: str, sku: str, want: int, have: int | None) -> tuple[Drift | None, bool]:
    """missing / stale drifts, or "ahead" (the live projection applied newer events)."""
    if have is None:
        return Drift(model, sku, "missing", f"expected version {want}, the store has none"), False
    if have < want:
        return Drift(model, sku, "stale", f"expected version {want}, the store has {have}"), False
    return None, have > want


def _unknown(
    settings: Settings,
    es: Elasticsearch,
    conn: psycopg.Connection[Any],
    models: tuple[str, ...],
    seen: set[str],
) -> list[Drift]:
    """Products a store holds that no event names (written by something else)."""
    drifts: list[Drift] = []
    if "search" in models:
        for sku in search_inspect.all_skus(es, settings.search_index):
            if sku not in seen:
                drifts.append(Drift("search", sku, "unknown", "no event names this product"))
    if "pricing" in models:
        for sku in pricing_inspect.all_skus(conn, settings.pricing_schema):
            if sku not in seen:
                drifts.append(Drift("pricing", sku, "unknown", "no event names this product"))
    return drifts


def _repair(
    settings: Settings,
    es: Elasticsearch,
    expected: _Expected,
    drifts: list[Drift],
    report: Report,
) -> None:
    """Write the folded state of the drifted SKUs through the read models' sinks."""
    for model in MODELS:
        skus = sorted({d.sku for d in drifts if d.model == model})
        if not skus:
            continue
        if model == "search":
            docs = {sku: expected.docs[sku] for sku in skus}
            written = SearchSink(es, settings.search_index).replace(docs)
        else:
            with PricingSink(postgres_conninfo(settings), settings.pricing_schema) as sink:
                written = len(sink.replace({sku: expected.events[sku] for sku in skus}))
        report.repaired[model] = report.repaired.get(model, 0) + written
